"""TL001 and a target picked, outside the tape, from what the tape recorded: no operation runs there."""

from __future__ import annotations

import textwrap

import pytest

from tapelint import linter, registry

HEADER = """
import tensorflow as tf

def compute_loss(model, x):
    out = model(x)
    loss = tf.reduce_mean(out)
    return loss, tf.reduce_max(out)

def grads(model, x):
    with tf.GradientTape() as tape:
"""
CASES = {
    # the tape's block, then the statement outside it -> reported
    "an item of a tuple a local function returns": ("all_loss = compute_loss(model, x)", "total = all_loss[0]", False),
    "an item of a dict literal": ("parts = {'loss': tf.reduce_mean(model(x))}", "total = parts['loss']", False),
    "an alias": ("loss = tf.reduce_mean(model(x))", "total = loss", False),
    "a slice of a tensor: an op the tape did not record": ("out = model(x)", "total = out[0]", True),
    "an item of what an unknown function returns": ("all_loss = model.losses_of(x)", "total = all_loss[0]", True),
    "arithmetic on what the tape recorded": ("loss = tf.reduce_mean(model(x))", "total = loss * 2.0", True),
    "an item by a computed index": ("all_loss = compute_loss(model, x)", "total = all_loss[len(x) - 1]", True),
}


@pytest.mark.parametrize("case", CASES)
def test_a_target_picked_from_recorded_values_is_no_finding(case):
    inside, outside, reported = CASES[case]
    source = textwrap.dedent(HEADER) + f"        {inside}\n    {outside}\n    return tape.gradient(total, model.trainable_variables)\n"
    found = linter.analyse(source, "t.py", [registry.all_rules()["TL001"]], partial=False)[1]
    assert [d.code for d in found] == (["TL001"] if reported else [])
