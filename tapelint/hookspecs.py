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
        """Return a list of :class:`tapelint.rules.base.Rule` subclasses this plugin provides.

        Each rule has a unique ``code`` (one to four capital letters and three or four digits, such as
        ``TPX001``; a code that another rule, built-in or from another plugin, already has is a
        configuration error), a kebab-case ``name``, a one-line ``summary``, a default ``message``,
        ``triggers`` (words of which one must occur in a file for the rule to run; empty: always),
        ``default_enabled``, its documentation as the class docstring (``## What it does``,
        ``## Why is this bad?``, ``## Example``, ``## Use instead``, optionally ``## Fix safety``) and
        ``valid``/``invalid`` examples. ``check(model)`` receives the file's
        :class:`tapelint.semantic.model.SemanticModel` and yields :class:`tapelint.rules.base.Finding`
        objects, optionally with a :class:`tapelint.rules.base.CstFix` (safe or unsafe).
        ``tapelint.testing.check_rule_examples(rule)`` runs the examples as tests.
        """

    @hookspec
    def tapelint_output_formats(self):
        """Return a dict mapping an output-format name (for ``--output-format``; it may not be a
        built-in one) to a callable ``(diagnostics: list[Diagnostic], stream: TextIO) -> None``.

        Each :class:`tapelint.diagnostics.Diagnostic` has ``code``, ``name``, ``message``, ``filename``
        (as displayed), ``location``/``end_location`` (1-based ``row``, ``column``), ``cell`` (for
        notebooks: the cell, rows then count from its top; None otherwise), ``url`` and ``fix``
        (``applicability``, ``message``, ``edits``) or None."""
