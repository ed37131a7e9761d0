"""What the tests of the rules' screens share (tests/test_screen_*.py): a screen decides from the whole
syntax tree as from the logical lines around words, and never rules out a file where its rule, run on
the whole file, reports."""

from __future__ import annotations

import ast

from tapelint import linter, registry
from tapelint.screen import Facts

MODES = ["tree", "lines"]


def facts_in(mode: str, source: str) -> Facts:
    """Facts read from the whole syntax tree, or from the logical lines around words (as the linter does)."""
    return Facts(source, ast.parse(source)) if mode == "tree" else Facts(source)


def whole_file_findings(code: str, source: str) -> list:
    """The findings of rule ``code`` in the whole file, no screen asked."""
    return [d for d in linter.analyse(source, "t.py", [registry.all_rules()[code]], partial=False)[1]
            if d.code == code]


def assert_screen_decides(code: str, source: str, expected: bool, modes: tuple[str, ...] = tuple(MODES)) -> None:
    """Rule ``code``'s screen decides ``expected`` in each mode; the rule reports where the screen must
    keep it, and nothing where the screen rules it out."""
    rule = registry.all_rules()[code]
    for mode in modes:
        assert rule.screen(facts_in(mode, source)) is expected, mode
    assert bool(whole_file_findings(code, source)) is expected
