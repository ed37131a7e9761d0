"""The rule catalog without importing the rules, for runs that lint nothing.

Importing the rule modules imports libcst (about 0.2 s of CPU, more than a whole cached run may
take). What choosing rules, keying the cache and writing reports need of a rule is a handful of class
attributes, so the catalog's metadata is written to the cache directory the first time the rules are
imported, keyed by the tapelint version, a fingerprint of its source files and the installed plugins'
entry points, and read back by later runs. A :class:`RuleInfo` stands for its rule class: reading
anything else from it (``docs()``, ``valid``...) or calling it imports the real class.

The built-in rules' metadata also ships with the package (``tapelint/rules/_catalog.py``, written by
``python -m tapelint.manifest``), with a digest of the rule modules it was written from: where no
plugin is installed and the rule modules are the ones it describes, a run needs neither the cache nor
an import of the rules to know them (a first run in a fresh clone, ``--no-cache``). Where they differ
(a rule edited in a development install), the rules are imported as before.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

@dataclass(frozen=True, eq=False)
class RuleInfo:
    code: str
    name: str
    summary: str
    message: str
    default_enabled: bool
    origin: str
    triggers: tuple[str, ...]
    requires: tuple[str, ...]
    needs_whole_module: bool
    module: str
    qualname: str

    def load(self) -> Any:
        if self.origin == "tapelint":  # a built-in rule: its own module, not every rule and plugin
            import importlib

            rule = importlib.import_module(self.module)
            for part in self.qualname.split("."):
                rule = getattr(rule, part)
            return rule
        from tapelint import registry

        return registry.all_rules()[self.code]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.load()(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.load(), name)

    def __reduce__(self):  # processes get the real class
        return (_load_code, (self.code,))


def _load_code(code: str) -> Any:
    from tapelint import registry

    return registry.all_rules()[code]


def real(rule: Any) -> Any:
    """The rule class a catalog entry stands for."""
    return rule.load() if isinstance(rule, RuleInfo) else rule


def describe(rule: Any) -> dict[str, Any]:
    return {
        "code": rule.code, "name": rule.name, "summary": getattr(rule, "summary", ""),
        "message": getattr(rule, "message", ""), "default_enabled": bool(rule.default_enabled),
        "origin": getattr(rule, "origin", ""), "triggers": list(rule.triggers),
        "requires": list(getattr(rule, "requires", ())),
        "needs_whole_module": bool(getattr(rule, "needs_whole_module", False)),
        "module": rule.__module__, "qualname": rule.__qualname__,
    }


def _registry_is_real() -> bool:
    """False when something (a test) has replaced ``registry.all_rules``: then its answer is used
    as is and nothing is cached."""
    from tapelint import registry

    wrapped = getattr(registry.all_rules, "__wrapped__", None)
    return hasattr(registry.all_rules, "cache_info") and getattr(wrapped, "__module__", "") == "tapelint.registry"


def signature() -> str:
    """What the catalog depends on: tapelint's version and sources, and the installed plugins (their
    declarations, read off sys.path by :mod:`tapelint.entry_points`; importlib.metadata's entry
    points only where those cannot be listed that way)."""
    from tapelint import __version__
    from tapelint.cache import package_fingerprint
    from tapelint.entry_points import declared

    found = declared()
    plugins: list = list(found or ())
    if found is None:
        import importlib.metadata

        for ep in importlib.metadata.entry_points(group="tapelint"):
            dist = getattr(ep, "dist", None)
            plugins.append((ep.name, ep.value, getattr(dist, "name", ""), getattr(dist, "version", "")))
    payload = json.dumps([__version__, package_fingerprint(), sorted(plugins)], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def catalog(cache_dir: Path | None) -> Mapping[str, Any]:
    """Every rule by code: :class:`RuleInfo` entries, from the package where only the built-in rules
    are installed and its catalog is current, else read from ``cache_dir`` when they are there and
    current; else the real classes (and the metadata is written to ``cache_dir`` for next time)."""
    from tapelint import registry
    from tapelint.entry_points import none_installed

    if not _registry_is_real():
        return registry.all_rules()
    if none_installed():
        builtin = builtin_catalog()
        if builtin is not None:
            return builtin
    if cache_dir is None:
        return registry.all_rules()
    try:
        path = cache_dir / f"rules-{signature()}.json"
    except Exception:  # odd metadata of some installed distribution: do without
        return registry.all_rules()
    try:
        return _entries(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError):
        pass
    rules = registry.all_rules()
    rows = [describe(r) for r in rules.values()]
    if all("<locals>" not in row["qualname"] and row["module"] != "__main__" for row in rows):
        _write(path, json.dumps(rows, indent=1))
    return rules


def _entries(rows: list[dict[str, Any]]) -> dict[str, RuleInfo]:
    return {row["code"]: RuleInfo(**{k: tuple(v) if isinstance(v, list) else v for k, v in row.items()})
            for row in rows}


# -- the built-in rules' metadata, shipped in tapelint/rules/_catalog.py ---------------------------------
_RULES = Path(__file__).resolve().parent / "rules"
_BUILTIN_CATALOG = _RULES / "_catalog.py"


def rules_digest() -> str:
    """A digest of the rule modules (every module of ``tapelint/rules`` but the catalog): the built-in
    rules' metadata is written in them."""
    digest = hashlib.sha256()
    for name in sorted(os.listdir(_RULES)):
        if name.endswith(".py") and name != _BUILTIN_CATALOG.name:
            digest.update(name.encode("utf-8") + b"\0" + (_RULES / name).read_bytes() + b"\0")
    return digest.hexdigest()[:24]


def builtin_catalog() -> dict[str, RuleInfo] | None:
    """The built-in rules as ``tapelint/rules/_catalog.py`` describes them, where it was written from
    the rule modules as they are now; None otherwise."""
    try:
        from tapelint.rules import _catalog

        if _catalog.SOURCES != rules_digest():
            return None
        return _entries([dict(row) for row in _catalog.ROWS])
    except (ImportError, AttributeError, OSError, TypeError, KeyError):
        return None


def builtin_catalog_text() -> str:
    """What ``tapelint/rules/_catalog.py`` holds for the rule modules as they are now."""
    import pprint

    from tapelint import registry

    rows = [describe(rule) for rule in registry.builtin_rules()]
    return (
        '"""The built-in rules\' metadata, so that a run knows them without importing them (see\n'
        "tapelint/manifest.py). Written by `python -m tapelint.manifest`; tests/test_cache.py checks it is\n"
        'current."""\n\n'
        f"SOURCES = {rules_digest()!r}\n\n"
        f"ROWS = {pprint.pformat(rows, width=110, sort_dicts=False)}\n"
    )


def _write(path: Path, text: str) -> None:
    import tempfile

    from tapelint.cache import _prepare, _share

    try:
        _prepare(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
        _share(tmp)
        os.replace(tmp, path)
    except OSError:
        pass


if __name__ == "__main__":
    _BUILTIN_CATALOG.write_bytes(builtin_catalog_text().encode("utf-8"))  # bytes: one file everywhere
