"""TL010 and a constant stored where the weight could have been: an overwrite only if a creation may run first."""

from __future__ import annotations

import textwrap

import pytest

from tapelint import linter, registry

HEADER = "import tensorflow as tf\n\nclass L(tf.keras.layers.Layer):\n"
CASES = {
    "the other branch of an if": ("""
    def build(self, shape):
        if self.trainable:
            self.beta = self.add_weight(shape=(1,))
        else:
            self.beta = tf.cast(1.0, self.dtype)
""", False),
    "an elif before the creation": ("""
    def build(self, shape):
        if self.kind == "fixed":
            self.scale = tf.constant(1.0)
        elif self.kind == "learned":
            self.scale = self.add_weight(shape=[1])
""", False),
    "a placeholder the creation replaces": ("""
    def build(self, shape):
        self.w = tf.zeros([1])
        self.w = self.add_weight(shape=[1])
""", False),
    "after the creation, in the same branch": ("""
    def build(self, shape):
        if self.trainable:
            self.beta = self.add_weight(shape=(1,))
            self.beta = self.beta * 2.0  # expect: TL010
""", True),
    "before the creation, in a loop around both": ("""
    def build(self, shape):
        for _ in range(2):
            self.w = tf.zeros([1])  # expect: TL010
            self.w = self.add_weight(shape=[1])
""", True),
    "in another method than the creation": ("""
    def build(self, shape):
        if self.trainable:
            self.beta = self.add_weight(shape=(1,))

    def call(self, x):
        self.beta = tf.cast(1.0, self.dtype)  # expect: TL010
        return x * self.beta
""", True),
}


@pytest.mark.parametrize("case", CASES)
def test_a_constant_stored_instead_of_a_weight_is_no_overwrite(case):
    body, reported = CASES[case]
    source = HEADER + "\n".join("    " + line if line else line for line in textwrap.dedent(body).strip("\n").splitlines()) + "\n"
    rows = [i for i, line in enumerate(source.splitlines(), 1) if line.endswith("# expect: TL010")]
    assert bool(rows) is reported
    found = linter.analyse(source, "t.py", [registry.all_rules()["TL010"]], partial=False)[1]
    assert [(d.code, d.location.row) for d in found] == [("TL010", row) for row in rows]
