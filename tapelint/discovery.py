"""Which files a run lints: the paths named on the command line, walked, minus exclusions.

Exclusions, as ruff applies them:
- the ``exclude``/``extend-exclude`` patterns (gitignore syntax) and ``.gitignore`` files (nested ones
  too, ``.git/info/exclude``, and those above the walked directory up to the repository root) prune the
  walk; directories holding a ``pyvenv.cfg`` (virtual environments of any name) are never entered;
- a file or directory named on the command line is linted even when excluded (a directory so named is
  walked without the exclude patterns), unless ``force-exclude`` is set: then the exclude patterns
  apply to it too, which is what pre-commit needs, since it passes file names.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from tapelint.config import Settings, relative_key
from tapelint.errors import UsageError

if TYPE_CHECKING:  # imported where an ignore file is read: runs on named files never need it
    import pathspec

# The suffixes a directory walk picks up: Python files and Jupyter notebooks (tapelint/notebook.py);
# files named explicitly are linted whatever their suffix (pre-commit passes extensionless scripts).
SOURCE_SUFFIXES = frozenset({".py", ".ipynb"})


@dataclass(frozen=True)
class _IgnoreFile:
    base: str
    spec: pathspec.GitIgnoreSpec


def discover(
    paths: Sequence[str],
    settings: Settings,
    *,
    warn: Callable[[str], None] | None = None,
) -> list[Path]:
    """Absolute paths of the files to lint, sorted and without duplicates. A named path that does
    not exist is a UsageError (nothing is linted), so a typo cannot pass as a clean run."""
    warn = warn or print_warning
    roots = []
    for raw in paths:
        # Absolute but not resolved: a symlinked checkout keeps the paths the user sees.
        path = os.path.normpath(os.path.join(settings.cwd, raw))
        if not os.path.exists(path):
            raise UsageError(f"{raw}: no such file or directory")
        roots.append(path)

    found: set[str] = set()
    for root in roots:
        is_dir = os.path.isdir(root)
        excluded = settings.is_excluded(root, is_dir)
        if excluded and settings.force_exclude:
            continue
        if is_dir:
            _walk(root, settings, found, use_exclude=not excluded, warn=warn)
        else:
            found.add(root)
    return [Path(p) for p in sorted(found)]


def _walk(root: str, settings: Settings, found: set[str], *, use_exclude: bool,
          warn: Callable[[str], None]) -> None:
    # Strings, not Paths, on this path: it runs for every entry of the tree.
    levels: tuple[_IgnoreFile, ...] = ()
    if settings.respect_gitignore:
        levels = _ancestor_ignores(Path(root))
        # A directory named on the command line is walked even if ignored; its ancestors' ignore
        # files would otherwise match everything under it.
        if _gitignored(root, levels, True):
            levels = ()
    stack: list[tuple[str, tuple[_IgnoreFile, ...]]] = [(root, levels)]
    while stack:
        directory, levels = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = list(it)  # order does not matter: discover() sorts the result
        except OSError as exc:
            warn(f"cannot read directory {directory}: {exc.strerror or exc}")
            continue
        if settings.respect_gitignore and any(e.name == ".gitignore" for e in entries):
            own = _load_ignore_file(os.path.join(directory, ".gitignore"), directory)
            if own is not None:
                levels = levels + (own,)
        subdirs = []
        for entry in entries:
            path = entry.path
            # Symlinked directories are not followed (cycles); symlinked files are linted.
            is_dir = entry.is_dir(follow_symlinks=False)
            if not is_dir and not (os.path.splitext(entry.name)[1] in SOURCE_SUFFIXES and entry.is_file()):
                continue
            if use_exclude and settings.is_excluded_entry(path, entry.name, is_dir):
                continue
            if levels and _gitignored(path, levels, is_dir):
                continue
            if is_dir:
                if not os.path.exists(os.path.join(path, "pyvenv.cfg")):
                    subdirs.append((path, levels))
            else:
                found.add(path)
        stack.extend(reversed(subdirs))


def _gitignored(path: str, levels: Sequence[_IgnoreFile], is_dir: bool) -> bool:
    """Git's precedence: the deepest ignore file with a matching pattern decides, and within a file
    the last matching pattern (``!pattern`` re-includes)."""
    for level in reversed(levels):
        key = relative_key(path, level.base, is_dir)
        if not key:
            continue
        for pattern in reversed(level.spec.patterns):
            if pattern.include is not None and pattern.match_file(key):
                return pattern.include
    return False


def _ancestor_ignores(root: Path) -> tuple[_IgnoreFile, ...]:
    """Ignore files above ``root`` that apply to it: from the repository root (the nearest ancestor
    holding ``.git``) down to root's parent. Outside a repository, none."""
    chain = []
    for directory in (root, *root.parents):
        chain.append(directory)
        if (directory / ".git").exists():
            break
    else:
        return ()
    repo = chain[-1]
    levels = []
    info_exclude = _load_ignore_file(repo / ".git" / "info" / "exclude", repo)
    if info_exclude is not None:
        levels.append(info_exclude)
    # root's own .gitignore is loaded by the walk.
    for directory in reversed(chain[1:]):
        level = _load_ignore_file(directory / ".gitignore", directory)
        if level is not None:
            levels.append(level)
    return tuple(levels)


def _load_ignore_file(path: str | os.PathLike[str], base: str | os.PathLike[str]) -> _IgnoreFile | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:  # absent or unreadable: git ignores it too
        return None
    import pathspec

    spec = pathspec.GitIgnoreSpec.from_lines(text.splitlines())
    return _IgnoreFile(os.fspath(base), spec) if spec.patterns else None


def print_warning(message: str) -> None:
    print(f"tapelint: warning: {message}", file=sys.stderr)
