"""The screens of TL006 (leaves-tensorflow) and TL009 (weights-transformed-outside-tape): near misses they
rule out (where the rule finds nothing in the whole file either) and code they must keep (where it does)."""

from __future__ import annotations

import textwrap

import pytest

from screen_checks import assert_screen_decides


HEADER = "import math\nimport numpy as np\nimport tensorflow as tf\n\n"


def assert_screen(code: str, body: str, expected: bool) -> None:
    assert_screen_decides(code, HEADER + textwrap.dedent(body), expected)


TL006_NEAR_MISSES = {
    "a conversion of a value no source reaches (Model Garden's XLNet loop)": """
        def step(model, strategy, tvars, x):
            with tf.GradientTape() as tape:
                loss = model(x)
                scaled = loss * 1.0 / float(strategy.num_replicas_in_sync)
            return tape.gradient(scaled, tvars)
    """,
    "a conversion of literals alone (TensorFlow's recompute_grad)": """
        def step(x, f):
            with tf.GradientTape() as tape:
                tape.watch(x)
                nan = tf.where(x == x, 0.0, float("nan"))
                y = f(x + nan) * np.float32(2.0)
            return tape.gradient(y, x)
    """,
    "converted after the gradient": """
        def step(model, x):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(model(x))
            grads = tape.gradient(loss, model.trainable_variables)
            return float(loss), np.mean(loss.numpy())
    """,
    "in a helper called from the block (not followed)": """
        def penalty(y):
            return np.mean(y.numpy())

        def step(model, x):
            with tf.GradientTape() as tape:
                y = model(x)
                loss = tf.reduce_mean(y) + penalty(y)
            return tape.gradient(loss, model.trainable_variables)
    """,
    "in a lambda in the block": """
        def step(model, x):
            with tf.GradientTape() as tape:
                y = model(x)
                f = lambda t: np.mean(t.numpy())
                loss = tf.reduce_mean(y) + f(y)
            return tape.gradient(loss, model.trainable_variables)
    """,
    "logging in the block, off the path to the target": """
        def step(model, x):
            with tf.GradientTape() as tape:
                y = model(x)
                print(np.mean(y.numpy()))
                stats = float(tf.reduce_sum(y))
                loss = tf.reduce_mean(y)
            return tape.gradient(loss, model.trainable_variables), stats
    """,
    "where the tape stops recording": """
        def step(model, x):
            with tf.GradientTape() as tape:
                y = model(x)
                with tape.stop_recording():
                    m = np.mean(y.numpy())
                loss = tf.reduce_mean(y) * m
            return tape.gradient(loss, model.trainable_variables)
    """,
    "sources the rule cannot follow": """
        def step(model, x):
            with tf.GradientTape() as tape:
                y = model(x)
                loss = tf.reduce_mean(y) - np.mean(y)
            return tape.gradient(loss, collect_variables(model))
    """,
    "a tape never entered": """
        def step(model, x):
            tape = tf.GradientTape()
            loss = np.mean(model(x))
            return tape.gradient(loss, model.trainable_variables)
    """,
}

TL006_KEPT = {
    "a conversion of a source's own list, bound to a name": """
        def step(model, x):
            tvars = [model.w]
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(x) * float(model.w)  # a source, through `tvars`
            return tape.gradient(loss, tvars)
    """,
    "a conversion of a comprehension's variable": """
        def step(ws, x):
            with tf.GradientTape() as tape:
                loss = sum([float(w) * x for w in ws])
            return tape.gradient(loss, ws)
    """,
    "`with t:`, an augmented assignment, a walrus and an import alias": """
        import numpy as onp

        def step(model, x):
            t = tf.GradientTape()
            with t:
                y = model(x)
                loss = tf.reduce_mean(y)
                loss += (m := onp.mean(y))
            return t.gradient(loss, model.trainable_variables)
    """,
    "a function imported from math": """
        from math import exp

        w = tf.Variable(1.0)
        with tf.GradientTape() as tape:
            loss = exp(w * 2.0)
        g = tape.gradient(loss, [w])
    """,
    "keras.ops.convert_to_numpy": """
        import keras

        w = tf.Variable(1.0)
        with tf.GradientTape() as tape:
            z = keras.ops.convert_to_numpy(w * 2.0)
            loss = tf.reduce_sum(z)
        g = tape.gradient(loss, w)
    """,
    "a builtin in a comprehension, arguments by keyword": """
        w = tf.Variable(1.0)
        with tf.GradientTape() as tape:
            zs = [complex(w * k) for k in range(3)]
            loss = tf.add_n(zs)
        g = tape.gradient(target=loss, sources=w)
    """,
}


@pytest.mark.parametrize("body", TL006_NEAR_MISSES.values(), ids=TL006_NEAR_MISSES)
def test_tl006_needs_an_escape_the_tape_records_on_the_path_to_the_target(body):
    assert_screen("TL006", body, False)


@pytest.mark.parametrize("body", TL006_KEPT.values(), ids=TL006_KEPT)
def test_tl006_keeps_escapes_on_the_path_to_the_target(body):
    assert_screen("TL006", body, True)


TL009_NEAR_MISSES = {
    "a recurrence (an update step)": """
        def fit(x, w):
            for _ in range(3):
                w = w * 0.5
                with tf.GradientTape() as tape:
                    tape.watch(w)
                    loss = tf.reduce_sum(x * w)
                dw = tape.gradient(loss, w)
            return dw
    """,
    "transformed in another function than the gradient": """
        w = tf.Variable(tf.ones([3]))
        w_half = w * 0.5

        def step(x):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(x * w_half)
            return tape.gradient(loss, w)
    """,
    "transformed, but not on the path to the target": """
        w = tf.Variable(tf.ones([3]))

        def step(x):
            w_half = w * 0.5
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(x * w)
            return tape.gradient(loss, w), w_half
    """,
    "transformed inside the block": """
        w = tf.Variable(tf.ones([3]))

        def step(x):
            with tf.GradientTape() as tape:
                w_half = w * 0.5
                loss = tf.reduce_sum(x * w_half)
            return tape.gradient(loss, w)
    """,
    "sources not spelled out": """
        def step(model, x):
            scaled = model.trainable_variables[0] * 0.5
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(model(x) * scaled)
            return tape.gradient(loss, model.trainable_variables)
    """,
    "a transformed input, not a source": """
        w = tf.Variable(tf.ones([3]))

        def step(x):
            x2 = tf.square(x)
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(x2 * w)
            return tape.gradient(loss, w)
    """,
    "a copy of an attribute, a function of the file": """
        class M(tf.Module):
            def __init__(self):
                self.w = tf.Variable(tf.ones([3]))

            def step(self, x):
                w = self.w
                w_q = quantize(self.w)
                with tf.GradientTape() as tape:
                    loss = tf.reduce_sum(x * w * w_q)
                return tape.gradient(loss, [self.w])
    """,
}

TL009_KEPT = {
    "sources through a list bound to a name": """
        kernel = tf.Variable(tf.random.normal([3, 3]))
        bias = tf.Variable(tf.zeros([3]))
        params = [kernel, bias]

        def step(x):
            kt = tf.transpose(kernel)
            with tf.GradientTape() as tape:
                y = tf.matmul(x, kt) + bias
                loss = tf.reduce_mean(y ** 2)
            return tape.gradient(loss, params)
    """,
    "keras.ops, `with t:`, sources by keyword": """
        from keras import ops

        def step(w, x):
            w_n = ops.divide(w, ops.norm(w))
            t = tf.GradientTape()
            with t:
                t.watch(w)
                h = x * w_n
                loss = tf.reduce_sum(h)
            return t.gradient(loss, sources=(w,))
    """,
}


@pytest.mark.parametrize("body", TL009_NEAR_MISSES.values(), ids=TL009_NEAR_MISSES)
def test_tl009_needs_a_source_transformed_before_the_block_on_the_path_to_the_target(body):
    assert_screen("TL009", body, False)


@pytest.mark.parametrize("body", TL009_KEPT.values(), ids=TL009_KEPT)
def test_tl009_keeps_sources_transformed_before_the_block(body):
    assert_screen("TL009", body, True)
