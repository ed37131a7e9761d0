"""The rule catalog: built-in rules (one module each under ``tapelint.rules``) plus plugins."""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from typing import TYPE_CHECKING

from tapelint.entry_points import none_installed
from tapelint.errors import ConfigError
from tapelint.rules.base import Rule

if TYPE_CHECKING:
    import pluggy

RULE_MODULE = re.compile(r"^tl\d{3}_[a-z0-9_]+$")
CODE_PATTERN = re.compile(r"^[A-Z]{1,4}[0-9]{3,4}$")


def builtin_rules() -> list[type[Rule]]:
    import tapelint.rules as pkg

    found = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if not RULE_MODULE.match(info.name):
            continue
        module = importlib.import_module(f"{pkg.__name__}.{info.name}")
        rules = [
            obj
            for obj in vars(module).values()
            if isinstance(obj, type) and issubclass(obj, Rule) and obj is not Rule
            and obj.__module__ == module.__name__
        ]
        if len(rules) != 1:
            raise RuntimeError(f"{module.__name__} must define exactly one rule, found {len(rules)}")
        found.append(rules[0])
    return found


@functools.lru_cache(maxsize=1)
def plugin_manager() -> "pluggy.PluginManager":
    import pluggy  # imported here: a run without plugins asks for none of this

    from tapelint import hookspecs

    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs.TapelintSpec)
    if not none_installed():  # importlib.metadata costs a fifth of a cached run: only where needed
        pm.load_setuptools_entrypoints(hookspecs.PROJECT_NAME)
    return pm


def _plugin_dist_names(pm: "pluggy.PluginManager") -> dict[int, str]:
    names = {}
    for plugin, dist in pm.list_plugin_distinfo():
        names[id(plugin)] = f"{dist.project_name} {dist.version}"
    return names


@functools.lru_cache(maxsize=1)
def all_rules() -> dict[str, type[Rule]]:
    """Every known rule by code. Raises ConfigError when two rules claim one code."""
    catalog: dict[str, type[Rule]] = {}
    for rule in builtin_rules():
        catalog[rule.code] = rule
    pm = plugin_manager()
    dists = _plugin_dist_names(pm)
    for impl in pm.hook.tapelint_rules.get_hookimpls():
        origin = dists.get(id(impl.plugin), impl.plugin_name)
        for rule in impl.function() or ():
            if not (isinstance(rule, type) and issubclass(rule, Rule)):
                raise ConfigError(f"plugin {origin!r} returned {rule!r}, which is not a Rule subclass")
            if not CODE_PATTERN.match(getattr(rule, "code", "")):
                raise ConfigError(f"plugin {origin!r}: rule {rule.__name__} has an invalid code {getattr(rule, 'code', None)!r}")
            if rule.code in catalog:
                other = catalog[rule.code]
                raise ConfigError(
                    f"rule code {rule.code} of plugin {origin!r} ({rule.__name__}) clashes with "
                    f"{other.origin!r} ({other.__name__})"
                )
            rule.origin = origin
            catalog[rule.code] = rule
    return dict(sorted(catalog.items()))


def plugin_output_formats() -> dict[str, object]:
    if none_installed():  # nor the plugin manager
        return {}
    formats: dict[str, object] = {}
    for result in plugin_manager().hook.tapelint_output_formats():
        formats.update(result or {})
    return formats
