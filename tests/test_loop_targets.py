"""What a name of a `for` target takes its values from: one argument of `zip`, or `enumerate`'s
iterable, not the whole iterable (the model's data flow, `SemanticModel.upstream_calls`)."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from tapelint import linter, registry
from tapelint.semantic.model import SemanticModel

FLOWS = {
    # loop, the name looked at -> the calls whose results may flow into it
    "for a, b in zip(f(), g()):": ("b", ["g"]),
    "for a, b in zip(f(), g()):  ": ("a", ["f"]),
    "for i, x in enumerate(f()):": ("i", []),
    "for i, x in enumerate(f()):  ": ("x", ["f"]),
    "for a, b in h(f(), g()):": ("b", ["f", "g", "h"]),  # any other iterable: all of it
    "for a, *b in zip(f(), g()):": ("a", ["f", "g", "zip"]),
    "for i, x in enumerate(f(), start=1):": ("i", ["enumerate", "f"]),
    "for (a, b), c in zip(f(), g()):": ("a", ["f", "g", "zip"]),
}


@pytest.mark.parametrize("loop", FLOWS)
def test_a_loop_target_takes_its_values_from_its_own_part_of_the_iterable(loop):
    name, calls = FLOWS[loop]
    source = f"{loop.strip()}\n    y = {name}\n"
    model = SemanticModel(linter.parse(source, "t.py"))
    value = [n.value for n in model.nodes(cst.Assign)][0]
    found = sorted(model.code(c.func) for c in model.upstream_calls(value))
    assert found == calls


def test_a_loop_over_a_jacobian_zipped_with_settings_does_not_feed_the_settings_a_gradient():
    # PennyLane's shadow tests: `w` comes from the list of wires, not from the Jacobian it is zipped with.
    source = textwrap.dedent("""\
        import tensorflow as tf

        def check(circuit, exact, x, wires):
            with tf.GradientTape() as tape:
                out = tf.stack(circuit(x))
            actual = tape.jacobian(out, x)
            for act, w in zip(tf.unstack(actual), wires):
                exact_circuit = exact(3, w)
                with tf.GradientTape() as tape2:
                    out2 = exact_circuit(x)
                expected = tape2.jacobian(out2, x)
                assert tf.reduce_all(tf.abs(act - expected) < 0.1)
        """)
    assert linter.analyse(source, "t.py", [registry.all_rules()["TL004"]], partial=False)[1] == []
