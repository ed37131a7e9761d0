"""The result cache: an unchanged file costs a ``stat``.

One file per settings key under the cache directory (``.tapelint_cache/`` next to the configuration
file, or in the project root, like ruff's ``.ruff_cache``). The key covers everything the findings
depend on besides the file itself: the tapelint version and a fingerprint of its sources, the rules
enabled (with the class that implements each, so a plugin's rule differs from a built-in one), the
per-file ignores, the analysis mode and ``--verbose`` (it changes TL999 messages). An entry maps a
file's absolute path to its modification time, size and content digest, and its diagnostics.

A file whose time and size match is a hit; one whose time changed but whose size and BLAKE2 digest
match is a hit too (a ``git checkout`` touched it), and its entry is refreshed. Writes are atomic (a
temporary file, then ``os.replace``), merged with what another run wrote meanwhile, so concurrent runs
never see a torn file: the last writer wins. An unreadable or corrupt cache file counts as empty.

Nothing here imports libcst: a run where every file hits never loads the parser.
"""

from __future__ import annotations

import functools
import hashlib
import json
import marshal
import os
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping

from tapelint import __version__
from tapelint.diagnostics import Applicability, Diagnostic, Edit, Fix, Location

CACHE_DIR_NAME = ".tapelint_cache"
ENV_CACHE_DIR = "TAPELINT_CACHE_DIR"
_MAGIC = b"TLC1"
_FORMAT = 1
_CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by tapelint.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)


def digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


# -- the key --------------------------------------------------------------------------------------------
# Parts of the package the linter never runs.
_NOT_LINTING = frozenset({"__pycache__", "runtime"})


def package_fingerprint() -> list:
    """Names, sizes and modification times of tapelint's own source files: an edited rule in a
    development install invalidates the cache even though the version stays the same. Taken once per
    process (the code that runs is the code that was loaded)."""
    return list(_fingerprint())


@functools.lru_cache(maxsize=1)
def _fingerprint() -> tuple:
    root = Path(__file__).resolve().parent
    out = []
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in _NOT_LINTING:
                    stack.append(Path(entry.path))
            elif entry.name.endswith(".py") and entry.name != "pytest_plugin.py":
                try:
                    st = entry.stat()
                except OSError:
                    continue
                out.append((os.path.relpath(entry.path, root), st.st_size, st.st_mtime_ns))
    out.sort()
    return tuple(out)


def settings_key(rules_by_code: Mapping[str, Any], enabled: Iterable[str], per_file_ignores: Iterable,
                 *, partial: bool, verbose: bool, extra: Any = None) -> str:
    """The name of the cache file for a run with these settings."""
    described = []
    for code in sorted(enabled):
        rule = rules_by_code[code]
        described.append((code, getattr(rule, "origin", ""), _implementation(rule)))
    ignores = sorted((str(p.pattern.base), list(p.pattern.patterns), sorted(p.codes)) for p in per_file_ignores)
    payload = json.dumps({
        "format": _FORMAT, "python": list(sys.version_info[:2]), "version": __version__, "sources": package_fingerprint(), "rules": described,
        "per_file_ignores": ignores, "partial": partial, "verbose": verbose, "extra": extra,
    }, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def _implementation(rule: Any) -> str:
    module = getattr(rule, "module", None) or getattr(rule, "__module__", "")
    qualname = getattr(rule, "qualname", None) or getattr(rule, "__qualname__", "")
    return f"{module}:{qualname}"


# -- diagnostics <-> plain data ---------------------------------------------------------------------------
def encode(diagnostics: Iterable[Diagnostic]) -> tuple:
    """Diagnostics as tuples of str/int/None (for marshal and for sending between processes); the
    filename is left out (it depends on the current directory) and so is the libcst-level fix."""
    out = []
    for d in diagnostics:
        fix = None
        if d.fix is not None:
            edits = tuple((e.content, e.location.row, e.location.column, e.end_location.row, e.end_location.column)
                          for e in d.fix.edits)
            fix = (d.fix.applicability.value, d.fix.message, edits)
        out.append((d.code, d.name, d.message, d.location.row, d.location.column, d.end_location.row,
                    d.end_location.column, fix, d.url, d.cell, d.noqa_row))
    return tuple(out)


def decode(data: tuple, filename: str) -> list[Diagnostic]:
    out = []
    for code, name, message, row, column, end_row, end_column, fix, url, cell, noqa_row in data:
        if fix is not None:
            applicability, fix_message, edits = fix
            fix = Fix(Applicability(applicability), fix_message,
                      tuple(Edit(c, Location(r, col), Location(er, ec)) for c, r, col, er, ec in edits))
        out.append(Diagnostic(code, name, message, filename, Location(row, column), Location(end_row, end_column),
                              fix=fix, url=url, cell=cell, noqa_row=noqa_row))
    return out


# -- the cache file ---------------------------------------------------------------------------------------
class Cache:
    """The entries of one settings key: ``path -> (mtime_ns, size, digest, encoded diagnostics)``."""

    def __init__(self, directory: Path, key: str) -> None:
        self.directory = directory
        self.path = directory / f"{key}.cache"
        self.entries: dict[str, tuple] = _load(self.path)
        self.updates: dict[str, tuple] = {}

    def get(self, path: str, mtime_ns: int, size: int) -> tuple | None:
        """The encoded diagnostics of an unchanged file, by time and size."""
        entry = self.entries.get(path)
        if entry is not None and entry[0] == mtime_ns and entry[1] == size:
            return entry[3]
        return None

    def get_by_content(self, path: str, size: int, content_digest: bytes) -> tuple | None:
        entry = self.entries.get(path)
        if entry is not None and entry[1] == size and entry[2] == content_digest:
            return entry[3]
        return None

    def put(self, path: str, mtime_ns: int, size: int, content_digest: bytes, encoded: tuple) -> None:
        entry = (mtime_ns, size, content_digest, encoded)
        self.entries[path] = entry
        self.updates[path] = entry

    def save(self) -> None:
        """Write the entries atomically, merged with the file as it is now (another run may have
        written it since this one read it). Failing to write is not an error: the cache is an
        optimisation."""
        if not self.updates:
            return
        try:
            _prepare(self.directory)
            current = _load(self.path)
            current.update(self.updates)
            import tempfile  # only when something is written

            fd, tmp = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.directory)
            try:
                with os.fdopen(fd, "wb") as stream:
                    stream.write(_MAGIC)
                    marshal.dump(current, stream)
                _share(tmp)
                os.replace(tmp, self.path)
            except BaseException:
                with _suppress():
                    os.unlink(tmp)
                raise
        except OSError:
            pass
        self.updates = {}


def _load(path: Path) -> dict[str, tuple]:
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except OSError:
        return {}
    if not data.startswith(_MAGIC):
        return {}
    try:
        entries = marshal.loads(data[len(_MAGIC):])
    except (ValueError, EOFError, TypeError):
        return {}
    if not isinstance(entries, dict):
        return {}
    return {k: v for k, v in entries.items()
            if isinstance(k, str) and isinstance(v, tuple) and len(v) == 4}


def _prepare(directory: Path) -> None:
    """Create the cache directory with a ``.gitignore`` of ``*`` and a ``CACHEDIR.TAG``, as ruff does."""
    if (directory / "CACHEDIR.TAG").is_file():
        return
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in ((".gitignore", "# Automatically created by tapelint.\n*\n"), ("CACHEDIR.TAG", _CACHEDIR_TAG)):
        target = directory / name
        if not target.exists():
            with _suppress():
                import tempfile

                fd, tmp = tempfile.mkstemp(prefix=name + ".", suffix=".tmp", dir=directory)
                with os.fdopen(fd, "w", encoding="utf-8") as stream:
                    stream.write(text)
                _share(tmp)
                os.replace(tmp, target)


def _share(path: str) -> None:
    """The permissions an ordinary file would get (mkstemp makes it private to its owner)."""
    umask = os.umask(0o022)
    os.umask(umask)
    with _suppress():
        os.chmod(path, 0o666 & ~umask)


class _suppress:
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        return exc[0] is not None and issubclass(exc[0], OSError)


def default_directory(project_root: Path) -> Path:
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env).expanduser().absolute()
    return project_root / CACHE_DIR_NAME
