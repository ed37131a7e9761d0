"""The bundled fixtures: every buggy file reports exactly its `# expect:` lines (with all rules on),
and every correct program reports nothing."""

from pathlib import Path

import pytest

from tapelint.linter import lint_file
from tapelint.registry import all_rules
from tapelint.rules.base import expected_findings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
RULES = [r for r in all_rules().values() if r.origin == "tapelint"]
BUGGY = sorted((FIXTURES / "buggy").glob("*.py"))
CORRECT = sorted((FIXTURES / "correct").glob("*.py"))


def _found(path):
    return sorted((d.location.row, d.code) for d in lint_file(path, RULES))


@pytest.mark.parametrize("path", BUGGY, ids=lambda p: p.name)
def test_buggy_fixture_reports_exactly_its_markers(path):
    expected = expected_findings(path.read_text())
    assert expected, f"{path.name} marks no expected finding"
    assert _found(path) == expected


@pytest.mark.parametrize("path", CORRECT, ids=lambda p: p.name)
def test_correct_fixture_is_clean(path):
    assert _found(path) == []


def test_every_rule_has_two_buggy_fixtures():
    codes = {r.code for r in RULES}
    counts = {code: 0 for code in codes}
    for path in BUGGY:
        for code in {c for _, c in expected_findings(path.read_text())}:
            if code in counts:
                counts[code] += 1
    assert {c: n for c, n in counts.items() if n < 2} == {}
