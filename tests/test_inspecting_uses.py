"""Uses of a name that only look at the object (``ValueAnalysis.inspects_only``): its truth, identity,
metadata or length. A tape records none of them, so a `tape.watch` after one is not late (TL005)."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from tapelint import linter, registry
from tapelint.semantic.model import SemanticModel

INSPECTING = {
    "assert x": True,
    "assert x, 'no variables'": True,
    "assert not x": True,
    "if x:\n    pass": True,
    "while not x:\n    break": True,
    "y = 1 if x else 2": True,
    "y = x is None": True,
    "y = None is not x": True,
    "n = len(x)": True,
    "ok = isinstance(x, list)": True,
    "print(x)": True,
    "s = x.shape": True,
    "d = x.dtype": True,
    # reads: an operation a tape can record is made of the value
    "y = x * 2": False,
    "assert tf.reduce_all(x > 0)": False,
    "y = x == 0": False,
    "y = x if flag else 2": False,
    "y = tf.reduce_sum(x)": False,
    "y = x[0]": False,
    "y = x.numpy()": False,
    "y = len(*x)": False,
    "y = x and z": False,
}


@pytest.mark.parametrize("statement", INSPECTING)
def test_a_look_at_an_object_is_told_from_a_read_of_its_value(statement):
    source = "import tensorflow as tf\nx = tf.ones([2])\nz = flag = 1\n" + statement + "\n"
    model = SemanticModel(linter.parse(source, "t.py"))
    loads = [n for n in model.nodes(cst.Name) if n.value == "x" and model.line_of(n) > 3]
    assert len(loads) == 1
    assert model.values.inspects_only(loads[0]) is INSPECTING[statement]


def test_a_late_watch_names_the_first_use_that_reads_the_value():
    source = textwrap.dedent("""\
        import tensorflow as tf

        x = tf.random.normal([8, 2])
        with tf.GradientTape() as tape:
            assert x is not None and len(x) == 8
            y = tf.reduce_sum(x ** 2) / x.shape[0]
            tape.watch(x)
        g = tape.gradient(y, x)
        """)
    found = linter.analyse(source, "t.py", [registry.all_rules()["TL005"]], partial=False)[1]
    assert [(d.code, d.location.row) for d in found] == [("TL005", 8)]
    assert "watched at line 7 only after it is used at line 6" in found[0].message
