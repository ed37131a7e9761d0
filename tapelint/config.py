"""Configuration: ``[tool.tapelint]`` in ``pyproject.toml`` (or a ``tapelint.toml``), merged with the
command line into the :class:`Settings` of one run.

Rule selection follows ruff: selectors are codes, prefixes (``TL0``) or ``ALL``; within one layer
(the configuration file, then the command line) the more specific selector wins and ``ignore`` wins a
tie; a layer that sets ``select`` starts afresh, ``extend-select`` and ``ignore`` adjust what the layer
before left.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from tapelint.errors import ConfigError, UsageError
from tapelint.pseudo_rules import PSEUDO_RULES
from tapelint.rules.base import Rule

if TYPE_CHECKING:
    import pathspec

# Looked for in this order in each directory, as ruff does with .ruff.toml > ruff.toml > pyproject.toml.
CONFIG_NAMES = (".tapelint.toml", "tapelint.toml", "pyproject.toml")

# ruff's default `exclude`, plus build outputs and tapelint's own cache. Unanchored gitignore-style
# patterns, so each matches a file or directory of that name at any depth. `exclude` replaces this list,
# `extend-exclude` adds to it. Virtual environments with other names are skipped by discovery (they
# contain a pyvenv.cfg) whatever the settings say.
DEFAULT_EXCLUDE = (
    ".bzr", ".direnv", ".eggs", ".git", ".git-rewrite", ".hg", ".ipynb_checkpoints", ".mypy_cache",
    ".nox", ".pants.d", ".pytest_cache", ".pytype", ".ruff_cache", ".svn", ".tapelint_cache", ".tox",
    ".venv", "__pycache__", "__pypackages__", "_build", "buck-out", "build", "dist", "node_modules",
    "site-packages", "venv", "*.egg-info",
)

LIST_KEYS = ("select", "ignore", "extend-select", "exclude", "extend-exclude")
BOOL_KEYS = ("respect-gitignore", "force-exclude")
TABLE_KEYS = ("per-file-ignores",)
KNOWN_KEYS = LIST_KEYS + BOOL_KEYS + TABLE_KEYS


# -- patterns -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PatternSet:
    """Gitignore-style patterns, relative to ``base`` (the directory of the file that wrote them, or
    the current directory for command-line options)."""

    base: Path
    patterns: tuple[str, ...]

    @functools.cached_property
    def spec(self) -> "pathspec.GitIgnoreSpec":
        import pathspec  # only for patterns that are not bare names: the defaults never need it

        return pathspec.GitIgnoreSpec.from_lines(self.patterns)

    def matches(self, path: str | os.PathLike[str], is_dir: bool = False) -> bool:
        if not self.patterns:
            return False
        key = relative_key(path, self.base, is_dir)
        if not key:  # the base itself: no gitignore pattern matches it (nor need pathspec be imported)
            return False
        by_name = self.name_matcher
        if by_name is None:
            return self.spec.match_file(key)
        # A bare name matches the path if it matches one of its directories or the path itself.
        parts = key.rstrip("/").split("/")
        return any(by_name(part, True) for part in parts[:-1]) or by_name(parts[-1], is_dir)

    def matches_entry(self, path: str, name: str, is_dir: bool) -> bool:
        """:meth:`matches` for an entry ``name`` of a directory that does not match (a walk tests
        each directory before entering it): bare names need only look at the entry's own name."""
        by_name = self.name_matcher
        return by_name(name, is_dir) if by_name is not None else self.matches(path, is_dir)

    @functools.cached_property
    def name_matcher(self) -> "Callable[[str, bool], bool] | None":
        """Where every pattern is a bare name (`build`, `*.egg-info`, `dist/`), as the default
        exclusions are: a test of an entry's own name, which is all that matters for an entry met
        in a walk whose directories were tested on the way down. None for any other set (slashes,
        `**`, negations, escapes and character classes keep gitignore's full rules)."""
        if not all(_BARE_NAME.match(p) for p in self.patterns):
            return None
        # `name/` matches directories only; `name` matches files and directories.
        literal = [p for p in self.patterns if "*" not in p and "?" not in p]
        globs = [p for p in self.patterns if "*" in p or "?" in p]
        any_names = {p for p in literal if not p.endswith("/")}
        dir_names = {p[:-1] for p in literal if p.endswith("/")}
        dir_glob = _one_regex(g.rstrip("/") for g in globs)
        file_glob = _one_regex(g for g in globs if not g.endswith("/"))

        def matches_name(name: str, is_dir: bool) -> bool:
            if name in any_names or (is_dir and name in dir_names):
                return True
            glob = dir_glob if is_dir else file_glob
            return glob is not None and glob.match(name) is not None

        return matches_name


def _one_regex(globs: Iterable[str]) -> re.Pattern[str] | None:
    """One regular expression matching a name any of ``globs`` matches (None for no globs)."""
    parts = [f"(?:{fnmatch.translate(g)})" for g in globs]
    return re.compile("|".join(parts)) if parts else None


# A gitignore pattern that matches one path component by its name wherever it is.
_BARE_NAME = re.compile(r"^(?!#)(?!\.+/?$)[A-Za-z0-9._\-*?]+/?$")


def relative_key(path: str | os.PathLike[str], base: str | os.PathLike[str], is_dir: bool) -> str:
    """An absolute, normalised ``path`` as a gitignore matcher wants it: relative to ``base``, with
    forward slashes and a trailing slash for directories (so ``build/`` matches only directories).
    A path outside ``base`` is given whole, without its anchor: unanchored patterns (``*.py``,
    ``gen/``) still match it, anchored ones (``src/gen``) cannot.

    Plain string work: discovery calls this for every entry it walks, and pathlib is slow at it."""
    path, base = os.fspath(path), os.fspath(base)
    if path == base:
        return ""
    prefix = base if base.endswith(os.sep) else base + os.sep
    if path.startswith(prefix):
        rel = path[len(prefix):]
    else:
        rel = os.path.splitdrive(path)[1].lstrip(os.sep)
    if os.sep != "/":
        rel = rel.replace(os.sep, "/")
    return rel + "/" if is_dir else rel


@dataclass(frozen=True)
class PerFileIgnore:
    pattern: PatternSet
    codes: frozenset[str]


# -- rule selection ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RuleSelection:
    """The selectors of one layer. ``select`` None means "not set in this layer"."""

    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()


def selector_codes(selector: str, catalog: Mapping[str, type[Rule]]) -> frozenset[str]:
    if selector == "ALL":
        return frozenset(catalog)
    return frozenset(code for code in catalog if code.startswith(selector))


def _specificity(selector: str) -> int:
    return 0 if selector == "ALL" else len(selector)


def check_selectors(values: Iterable[str], catalog: Mapping[str, type[Rule]], where: str) -> tuple[str, ...]:
    """Normalised selectors; ConfigError naming ``where`` for one that selects nothing."""
    out = []
    for raw in values:
        selector = raw.strip().upper()
        if selector in PSEUDO_RULES:  # reported whatever the selection
            raise ConfigError(
                f"{where}: {selector} is always reported and cannot be selected or ignored "
                "(exclude the file instead)"
            )
        if not selector or not selector_codes(selector, catalog):
            hint = did_you_mean(selector, catalog)
            raise ConfigError(f"{where}: unknown rule code or prefix {raw!r}{hint}")
        out.append(selector)
    return tuple(out)


def resolve_selection(layers: Sequence[RuleSelection], catalog: Mapping[str, type[Rule]]) -> frozenset[str]:
    enabled = {code for code, rule in catalog.items() if rule.default_enabled}
    carried_ignores: tuple[str, ...] = ()
    for layer in layers:
        ignores = layer.ignore + carried_ignores
        carried_ignores = ()
        # Least specific first, so more specific selectors overwrite; at equal specificity the
        # ignore comes last and wins.
        steps = [(_specificity(s), 0, s) for s in (layer.select or ()) + layer.extend_select]
        steps += [(_specificity(s), 1, s) for s in ignores]
        updates: dict[str, bool] = {}
        for _, is_ignore, selector in sorted(steps):
            for code in selector_codes(selector, catalog):
                updates[code] = not is_ignore
        if layer.select is not None:
            enabled = {code for code, on in updates.items() if on}
            # `select = []` with only ignores means "ignore these in whatever comes next" (ruff).
            if not layer.select and not layer.extend_select and layer.ignore:
                carried_ignores = layer.ignore
        else:
            for code, on in updates.items():
                (enabled.add if on else enabled.discard)(code)
    return frozenset(enabled)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or nothing."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# -- configuration files -----------------------------------------------------------------------------
@dataclass(frozen=True)
class FileOptions:
    """What one configuration file says, validated. Unset keys are None."""

    path: Path | None = None
    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] | None = None
    exclude: tuple[str, ...] | None = None
    extend_exclude: tuple[str, ...] | None = None
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] | None = None
    respect_gitignore: bool | None = None
    force_exclude: bool | None = None


def find_config(start: Path) -> Path | None:
    """The nearest configuration file in ``start`` or its ancestors. A pyproject.toml counts only if it
    has a ``[tool.tapelint]`` table, as with ruff."""
    for directory in (start, *start.parents):
        for name in CONFIG_NAMES:
            candidate = directory / name
            if not candidate.is_file():
                continue
            if name != "pyproject.toml" or _has_tool_table(_read_toml(candidate)):
                return candidate
    return None


def _has_tool_table(data: dict[str, Any]) -> bool:
    tool = data.get("tool")
    return isinstance(tool, dict) and "tapelint" in tool


def _read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):  # imported here: a run without a configuration file never needs it
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib

    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{display_path(path)}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{display_path(path)}: cannot read: {exc.strerror or exc}") from None


def load_config(path: Path, catalog: Mapping[str, type[Rule]]) -> FileOptions:
    data = _read_toml(path)
    if path.name == "pyproject.toml":
        if not _has_tool_table(data):
            raise ConfigError(f"{display_path(path)}: no [tool.tapelint] table")
        table, section = data["tool"]["tapelint"], "[tool.tapelint]"
        if not isinstance(table, dict):
            raise ConfigError(f"{display_path(path)}: {section} must be a table")
    else:
        table, section = data, "top level"
    return parse_options(table, path, section, catalog)


def parse_options(table: Mapping[str, Any], path: Path, section: str,
                  catalog: Mapping[str, type[Rule]]) -> FileOptions:
    where = display_path(path)
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in KNOWN_KEYS:
            hint = did_you_mean(key, KNOWN_KEYS)
            raise ConfigError(f"{where}: unknown key {key!r} in {section}{hint}")
        attr = key.replace("-", "_")
        if key in BOOL_KEYS:
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: {key!r} must be true or false, not {_type(value)}")
            values[attr] = value
        elif key in LIST_KEYS:
            items = _string_list(value, f"{where}: {key!r}")
            if key in ("select", "ignore", "extend-select"):
                items = check_selectors(items, catalog, f"{where}: {key!r}")
            values[attr] = tuple(items)
        else:  # per-file-ignores
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: {key!r} must be a table of pattern = [codes], not {_type(value)}")
            entries = []
            for pattern, codes in value.items():
                label = f"{where}: {key!r} entry {pattern!r}"
                entries.append((pattern, check_selectors(_string_list(codes, label), catalog, label)))
            values[attr] = tuple(entries)
    return FileOptions(path=path, **values)


def _string_list(value: Any, label: str) -> list[str]:
    if not isinstance(value, list):
        raise ConfigError(f"{label} must be a list of strings, not {_type(value)}")
    for item in value:
        if not isinstance(item, str):
            raise ConfigError(f"{label} must be a list of strings, not a list holding {_type(item)}")
    return value


def _type(value: Any) -> str:
    return {bool: "a boolean", str: "a string", int: "an integer", float: "a number", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__)


def display_path(path: Path, cwd: Path | None = None) -> str:
    """A path as output shows it: relative to the current directory when under it, else absolute."""
    try:
        return str(path.relative_to(cwd or Path.cwd()))
    except ValueError:
        return str(path)


# -- the effective settings of a run ---------------------------------------------------------------------
@dataclass(frozen=True)
class Overrides:
    """What the command line says; None means "not given"."""

    select: Sequence[str] | None = None
    ignore: Sequence[str] | None = None
    extend_select: Sequence[str] | None = None
    exclude: Sequence[str] | None = None
    extend_exclude: Sequence[str] | None = None
    respect_gitignore: bool | None = None
    force_exclude: bool | None = None


@dataclass
class Settings:
    catalog: Mapping[str, type[Rule]]
    enabled: frozenset[str]
    cwd: Path
    config_path: Path | None = None
    # Applied in order; a path matching any set is excluded.
    exclude: tuple[PatternSet, ...] = ()
    per_file_ignores: tuple[PerFileIgnore, ...] = ()
    respect_gitignore: bool = True
    force_exclude: bool = False
    verbose: bool = False
    _rules_cache: dict[frozenset[str], tuple[type[Rule], ...]] = field(default_factory=dict, repr=False)

    def rules_for(self, path: Path) -> tuple[type[Rule], ...]:
        """The rules to run on ``path``: the selection minus its per-file ignores."""
        ignored = frozenset().union(*(p.codes for p in self.per_file_ignores if p.pattern.matches(path)))
        rules = self._rules_cache.get(ignored)
        if rules is None:
            rules = tuple(self.catalog[c] for c in sorted(self.enabled - ignored))
            self._rules_cache[ignored] = rules
        return rules

    def is_excluded(self, path: str | os.PathLike[str], is_dir: bool) -> bool:
        return any(p.matches(path, is_dir) for p in self.exclude)

    def is_excluded_entry(self, path: str, name: str, is_dir: bool) -> bool:
        """:meth:`is_excluded` for an entry ``name`` of a directory that is not excluded itself
        (a directory walk tests each directory before entering it)."""
        return any(p.matches_entry(path, name, is_dir) for p in self.exclude)


def resolve_settings(
    overrides: Overrides,
    catalog: Mapping[str, type[Rule]],
    *,
    cwd: Path,
    config_file: str | None = None,
    isolated: bool = False,
    verbose: bool = False,
) -> Settings:
    """Find and read the configuration, then apply the command line on top of it."""
    if config_file is not None:
        # Normalised, not resolved: patterns are matched against paths built from cwd the same way.
        path = Path(os.path.normpath(cwd / config_file))
        if not path.is_file():
            raise UsageError(f"--config: no such file: {config_file}")
    else:
        path = None if isolated else find_config(cwd)
    options = load_config(path, catalog) if path is not None else FileOptions()
    root = path.parent if path is not None else cwd

    def cli(values: Sequence[str] | None, option: str) -> tuple[str, ...] | None:
        return None if values is None else check_selectors(_split(values), catalog, option)

    layers = [
        RuleSelection(options.select, options.ignore or (), options.extend_select or ()),
        RuleSelection(cli(overrides.select, "--select"), cli(overrides.ignore, "--ignore") or (),
                      cli(overrides.extend_select, "--extend-select") or ()),
    ]

    exclude: list[PatternSet] = []
    if overrides.exclude is not None:
        exclude.append(PatternSet(cwd, tuple(_split(overrides.exclude))))
    elif options.exclude is not None:
        exclude.append(PatternSet(root, options.exclude))
    else:
        exclude.append(PatternSet(root, DEFAULT_EXCLUDE))
    if options.extend_exclude:
        exclude.append(PatternSet(root, options.extend_exclude))
    if overrides.extend_exclude:
        exclude.append(PatternSet(cwd, tuple(_split(overrides.extend_exclude))))

    per_file = tuple(
        PerFileIgnore(PatternSet(root, (pattern,)), frozenset().union(*(selector_codes(s, catalog) for s in codes)))
        for pattern, codes in options.per_file_ignores or ()
    )

    def pick(cli_value: bool | None, file_value: bool | None, default: bool) -> bool:
        return next(v for v in (cli_value, file_value, default) if v is not None)

    return Settings(
        catalog=catalog,
        enabled=resolve_selection(layers, catalog),
        cwd=cwd,
        config_path=path,
        exclude=tuple(exclude),
        per_file_ignores=per_file,
        respect_gitignore=pick(overrides.respect_gitignore, options.respect_gitignore, True),
        force_exclude=pick(overrides.force_exclude, options.force_exclude, False),
        verbose=verbose,
    )


def _split(values: Iterable[str]) -> list[str]:
    """Command-line list options may repeat and may hold comma-separated items."""
    return [item.strip() for value in values for item in value.split(",") if item.strip()]
