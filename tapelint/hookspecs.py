"""pluggy hook specifications for third-party rule packs.

A plugin is a module (or object) exposed under the ``tapelint`` entry-point group::

    [project.entry-points.tapelint]
    my_rules = "my_package.tapelint_plugin"

and implements some of these hooks with ``@tapelint.hookimpl``. Rules are :class:`tapelint.rules.base.Rule`
subclasses: they query the same semantic model as built-in rules, and their ``valid``/``invalid``
examples run through the same machinery (``tapelint.testing``).
"""

from __future__ import annotations

import pluggy

PROJECT_NAME = "tapelint"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class TapelintSpec:
    @hookspec
    def tapelint_rules(self):
        """Return a list of Rule subclasses this plugin provides."""

    @hookspec
    def tapelint_output_formats(self):
        """Return a dict mapping an output-format name to a callable
        ``(diagnostics: list[Diagnostic], stream: TextIO) -> None``."""
