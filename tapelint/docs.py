"""The rule reference, docs/rules.md, generated from the built-in rules as ruff generates its rule pages:

    python -m tapelint.docs > docs/rules.md

One section per rule (the pseudo-rules TL000 and TL999 included), anchored ``<a id="tl001">`` so that
the ``url`` of every finding (:func:`tapelint.diagnostics.rule_url`) lands on it. tests/test_docs.py
checks that the committed file is this module's output.

(Not a ``tapelint docs`` subcommand: ``tapelint PATH`` lints PATH, and a project's ``docs`` directory
is too common a path to take over.)
"""

from __future__ import annotations

import re
import sys

from tapelint.pseudo_rules import PSEUDO_RULES
from tapelint.registry import builtin_rules
from tapelint.rules.base import Rule

REGENERATE = "python -m tapelint.docs > docs/rules.md"

_FIX_NOTES = {
    "safe": "safe (`--fix` applies it)",
    "unsafe": "unsafe (only `--fix --unsafe-fixes` applies it)",
}


def catalog() -> dict[str, type[Rule]]:
    """The built-in rules and pseudo-rules by code; plugins document their own rules."""
    return dict(sorted({**PSEUDO_RULES, **{r.code: r for r in builtin_rules()}}.items()))


def anchor(code: str) -> str:
    return code.lower()  # what diagnostics.DOCS_URL puts after the '#'


def fix_kinds(rule: type[Rule]) -> list[str]:
    """The applicabilities of the fixes the rule offers on its own invalid examples (docs included),
    e.g. ``["safe"]``; empty when it offers none there."""
    from tapelint.linter import lint_source

    return sorted({d.fix.applicability.value for example in rule.all_invalid()
                   for d in lint_source(example.code, "<example>", [rule]) if d.fix is not None})


def _default(rule: type[Rule]) -> str:
    if rule.code in PSEUDO_RULES:
        return "always"
    return "on" if rule.default_enabled else "off"


def _demote_headings(markdown: str) -> str:
    """``## What it does`` becomes ``### What it does`` (outside code blocks): the rule is the ``##``."""
    lines, fenced = [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,5} ", line):
            line = "#" + line
        lines.append(line)
    return "\n".join(lines)


def _section(rule: type[Rule], fixes: list[str]) -> str:
    if rule.code in PSEUDO_RULES:
        enabled = "Always reported: it cannot be selected or ignored."
    elif rule.default_enabled:
        enabled = "Enabled by default."
    else:
        enabled = f"Not enabled by default: turn it on with `--extend-select {rule.code}`."
    fix = ", ".join(_FIX_NOTES[kind] for kind in fixes) if fixes else "none"
    return (f'<a id="{anchor(rule.code)}"></a>\n\n'
            f"## {rule.code}: {rule.name}\n\n"
            f"{rule.summary}.\n\n"
            f"- {enabled}\n"
            f"- Fix: {fix}\n\n"
            f"{_demote_headings(rule.docs())}\n")


def render() -> str:
    """The whole of docs/rules.md."""
    rules = catalog()
    fixes = {code: fix_kinds(rule) for code, rule in rules.items()}
    head = [
        "# Rules",
        "",
        f"<!-- Generated from the rules' docstrings by `{REGENERATE}`; do not edit. -->",
        "",
        "Every rule tapelint ships, as `tapelint rules` lists them and `tapelint rule CODE` shows them. "
        "Each finding's `url` (JSON, SARIF) links to its rule's section here. "
        "Rules from plugins are documented by their packages.",
        "",
        "| Code | Name | Default | Fix | Summary |",
        "| --- | --- | --- | --- | --- |",
    ]
    head += [f"| [{code}](#{anchor(code)}) | {rule.name} | {_default(rule)} | {', '.join(fixes[code]) or '-'} "
             f"| {rule.summary.replace('|', '&#124;')} |" for code, rule in rules.items()]
    return "\n".join(head) + "\n\n" + "\n".join(_section(rule, fixes[code]) for code, rule in rules.items())


def main() -> None:
    sys.stdout.buffer.write(render().encode("utf-8"))  # bytes: the same file on every platform


if __name__ == "__main__":
    main()
