"""Run a rule's own examples, for built-in rules and plugins alike.

``check_rule_examples(RuleClass)`` lints every ``valid`` example (expects nothing from the rule) and every
``invalid`` one (expects exactly the ``# expect:`` markers), including the code blocks of the docs.
A plugin's test suite can call it directly or use :func:`example_params` with pytest.
"""

from __future__ import annotations

from typing import Iterator

from tapelint.linter import lint_source
from tapelint.rules.base import Invalid, Rule, Valid, expected_findings


def findings_of(rule: type[Rule], code: str) -> list[tuple[int, str]]:
    diags = lint_source(code, "<example>", [rule])
    return sorted((d.location.row, d.code) for d in diags)


def example_params(rule: type[Rule]) -> Iterator[tuple[str, Valid | Invalid]]:
    for i, example in enumerate(rule.all_valid()):
        yield f"{rule.code}-valid-{i}", example
    for i, example in enumerate(rule.all_invalid()):
        yield f"{rule.code}-invalid-{i}", example


def check_example(rule: type[Rule], example: Valid | Invalid) -> None:
    got = findings_of(rule, example.code)
    if isinstance(example, Valid):
        assert got == [], f"{rule.code} fired on a valid example: {got}\n{example.code}"
        return
    expected = [(row, code) for row, code in expected_findings(example.code) if code == rule.code]
    assert expected, f"invalid example of {rule.code} marks no '# expect: {rule.code}' line:\n{example.code}"
    assert got == expected, f"{rule.code}: expected {expected}, got {got}\n{example.code}"
    from tapelint.fixer import fix_source

    outcome = fix_source(example.code, "<example>", [rule], unsafe=example.unsafe)
    assert outcome.errors == [], outcome.errors
    if example.fixed is None:  # the rule offers no fix here (of the safety the example asks for)
        if example.from_docs:
            return
        assert outcome.source == example.code, f"{rule.code} offered a fix where none is expected:\n{outcome.source}"
    else:
        assert outcome.source == example.fixed, f"{rule.code} fix gave:\n{outcome.source}"
        again = fix_source(outcome.source, "<example>", [rule], unsafe=example.unsafe)
        assert again.source == outcome.source, f"{rule.code}: a second --fix changed the code again"


def check_rule_examples(rule: type[Rule]) -> None:
    for _, example in example_params(rule):
        check_example(rule, example)
