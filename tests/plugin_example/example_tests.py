"""The plugin's own test suite: its rule's examples, run by tapelint's machinery (as tapelint runs
its built-in rules' examples). Run it with `python -m pytest tests/plugin_example/example_tests.py`
once the plugin is installed."""

import pytest

from tapelint.registry import all_rules
from tapelint.testing import check_example, check_rule_examples, example_params

from tapelint_example_plugin.rules import GradientResultDiscarded


@pytest.mark.parametrize(("case_id", "example"), list(example_params(GradientResultDiscarded)))
def test_example(case_id, example):
    check_example(GradientResultDiscarded, example)


def test_all_examples_at_once():
    check_rule_examples(GradientResultDiscarded)


def test_registered_through_the_entry_point():
    rule = all_rules()["TPX001"]
    assert rule is GradientResultDiscarded
    assert rule.origin == "tapelint-example-plugin 0.1.0"
