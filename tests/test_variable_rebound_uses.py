"""TL007 reports `w = w - ...` where the name is then still used as the variable; `w -= ...` wherever."""

from __future__ import annotations

import textwrap

import pytest

from tapelint import linter, registry

TRAINED = """
import tensorflow as tf

matte = tf.Variable(tf.random.uniform([1, 8, 8, 1]))
optimizer = tf.optimizers.Adam(1.0)

@tf.function
def optimize():
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(matte - 0.5))
    gradient = tape.gradient(loss, [matte])
    optimizer.apply_gradients(zip(gradient, (matte,)))

for _ in range(10):
    optimize()
matte = tf.clip_by_value(matte, 0.0, 1.0)
"""

CASES = {
    "a result clipped after training, never trained again": (TRAINED + "print(matte)\n", False),
    "the training step called again after the clip": (TRAINED.replace("0.0, 1.0)\n", "0.0, 1.0)  # expect: TL007\n") + "optimize()\n", True),
    "a step defined before the loop that rebinds": ("""
import tensorflow as tf

w = tf.Variable(1.0)

def step():
    with tf.GradientTape() as tape:
        y = w * w
    return tape.gradient(y, w)

for _ in range(3):
    g = step()
    w = w - 0.1 * g  # expect: TL007
""", True),
    "handed to an optimizer step afterwards": ("""
import tensorflow as tf

def fit(g, opt):
    w = tf.Variable(1.0)
    w = w * 0.5  # expect: TL007
    opt.apply_gradients(zip([g], [w]))
""", True),
    "updated in place afterwards": ("""
import tensorflow as tf

def reset():
    w = tf.Variable(1.0)
    w = w * 0.5  # expect: TL007
    w.assign(1.0)
""", True),
    "only read as a value afterwards": ("""
import tensorflow as tf

def scaled(y):
    scale = tf.Variable(1.0)
    scale = scale * tf.math.reduce_std(y)
    return y / scale
""", False),
    "a sum started from a variable, differentiated as the target": ("""
import tensorflow as tf

def step(model, optimizer, loss_fn, batches):
    with tf.GradientTape() as tape:
        accum_loss = tf.Variable(0.0)
        for x, y in batches:
            accum_loss = accum_loss + loss_fn(y, model(x))
    grads = tape.gradient(accum_loss, model.trainable_weights)
    optimizer.apply_gradients(zip(grads, model.trainable_weights))
""", False),
    "an in-place operator, used or not": ("""
import tensorflow as tf

def decay():
    w = tf.Variable(1.0)
    w -= 0.1  # expect: TL007
""", True),
    "a global rebound in a function, trained in another": ("""
import tensorflow as tf

w = tf.Variable(1.0)

def shrink():
    global w
    w = w * 0.9  # expect: TL007

def grad():
    with tf.GradientTape() as tape:
        y = w * 2.0
    return tape.gradient(y, w)
""", True),
    "a global rebound in a function, never trained": ("""
import tensorflow as tf

w = tf.Variable(1.0)

def shrink():
    global w
    w = w * 0.9

def show():
    print(w)
""", False),
}


@pytest.mark.parametrize("case", CASES)
def test_a_rebinding_is_reported_where_the_name_is_then_used_as_the_variable(case):
    source, reported = CASES[case]
    source = textwrap.dedent(source)
    rows = [i for i, line in enumerate(source.splitlines(), 1) if line.endswith("# expect: TL007")]
    assert bool(rows) is reported
    found = linter.analyse(source, "t.py", [registry.all_rules()["TL007"]], partial=False)[1]
    assert [(d.code, d.location.row) for d in found] == [("TL007", row) for row in rows]
