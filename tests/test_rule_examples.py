"""Every rule's own valid/invalid examples (and the examples in its docs) run as tests."""

import re

import pytest

from tapelint.registry import builtin_rules
from tapelint.testing import check_example, example_params

RULES = builtin_rules()
CASES = [pytest.param(rule, example, id=case_id) for rule in RULES for case_id, example in example_params(rule)]


@pytest.mark.parametrize(("rule", "example"), CASES)
def test_example(rule, example):
    check_example(rule, example)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_rule_has_docs_and_examples(rule):
    docs = rule.docs()
    for section in ("## What it does", "## Why is this bad?", "## Example", "## Use instead"):
        assert section in docs, f"{rule.code} docs lack {section!r}"
    example, use_instead = rule.doc_examples()
    assert example and use_instead, f"{rule.code} docs need python code under Example and Use instead"
    assert len(rule.valid) >= 2 and len(rule.invalid) >= 2, f"{rule.code} needs at least 2 valid and 2 invalid examples"
    assert re.fullmatch(r"[a-z]+(-[a-z0-9]+)+", rule.name), rule.name
    assert rule.summary and "\n" not in rule.summary
    assert rule.message


def test_codes_are_unique_and_sequential():
    codes = [r.code for r in RULES]
    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(r"TL0[0-9]{2}", c) for c in codes)
