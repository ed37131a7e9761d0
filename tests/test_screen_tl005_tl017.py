"""The screens of TL005 (unwatched-source) and TL017 (non-float-source): near misses they rule out (where
the rule finds nothing in the whole file either) and code they must keep (where it does)."""

from __future__ import annotations

import textwrap

import pytest

from tapelint.rules import tl017_non_float_source as tl017
from tapelint.semantic import dtypes
from tapelint.semantic import names as N

from screen_checks import assert_screen_decides


HEADER = "import numpy as np\nimport tensorflow as tf\n\n"


def assert_screen(code: str, body: str, expected: bool) -> None:
    assert_screen_decides(code, HEADER + textwrap.dedent(body), expected)


TL005_NEAR_MISSES = {
    "the training step's variables": """
        def train_step(model, optimizer, x, y):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(model(x) - y))
            tvars = model.trainable_variables
            grads = tape.gradient(loss, tvars)
            optimizer.apply_gradients(zip(grads, tvars))
    """,
    "a tensor watched first": """
        x = tf.constant(3.0)
        with tf.GradientTape() as g:
            g.watch(x)
            y = x * x
        dy_dx = g.gradient(y, x)
    """,
    "tutorial cells rebinding the names": """
        x = tf.ones((2, 2))
        with tf.GradientTape() as t:
            t.watch(x)
            y = tf.reduce_sum(x)
        dy_dx = t.gradient(y, x)
        del t

        x = tf.constant(3.0)
        with tf.GradientTape(persistent=True) as t:
            t.watch(x)
            y = x * x
            z = y * y
        dz_dx = t.gradient(z, x)
        dy_dx = t.gradient(y, x)
        del t
    """,
    "watched after looking at it, differentiated in a closure": """
        def actor_step(network, loss_fn, batch):
            variables = network.trainable_variables
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                assert variables, "nothing to train"
                tape.watch(variables)
                loss = loss_fn(network(batch))
            def step():
                return tape.gradient(loss, variables)
            return step()
    """,
    "watched after the argument it is made from is read": """
        def check_gradient(labels, logits):
            with tf.GradientTape() as tape:
                logits = tf.constant(logits)
                tape.watch(logits)
                loss = tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits)
            return tape.gradient(loss, [logits])[0]
    """,
    "a watch the rule cannot tell from any source": """
        def step(model, batch):
            scale = tf.Variable(2.0, trainable=False)
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(model.trainable_variables)
                loss = scale * model(batch)
            return tape.gradient(loss, [scale])
    """,
    "a watched list of attributes": """
        class Agent:
            def __init__(self):
                self.log_alpha = tf.Variable(0.0)

            def alpha_step(self, loss_fn):
                alpha_variables = [self.log_alpha]
                with tf.GradientTape(watch_accessed_variables=False) as tape:
                    tape.watch(alpha_variables)
                    loss = loss_fn(self.log_alpha)
                return tape.gradient(loss, alpha_variables)
    """,
    "a NumPy array of the same name in another function": """
        def numpy_reference():
            x = np.linspace(-1.0, 1.0, 5)
            return np.tanh(x)

        def tf_gradient():
            x = tf.Variable(np.linspace(-1.0, 1.0, 5))
            with tf.GradientTape() as tape:
                y = tf.reduce_sum(tf.tanh(x))
            return tape.gradient(y, x)
    """,
    "a NumPy array in a branch that returns before": """
        import jax.numpy as jnp

        def gradients(backend):
            if backend == "tensorflow":
                x = tf.Variable([0.0, 2.0])
                with tf.GradientTape() as tape:
                    y = tf.reduce_sum(x * x)
                return tape.gradient(y, [x])
            x = jnp.array([0.0, 2.0])
            return x
    """,
    "a tape's name that another function binds to something else": """
        def first(w):
            x = tf.constant(1.0)
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = w * x
            return tape.gradient(y, [w, x])

        def second(x, make_tape):
            with make_tape() as tape:
                y = x * x
            return tape.gradient(y, x)
    """,
    "two tapes of one name in turn, each watching its own": """
        def step(critic, actor, loss_fn):
            critic_vars = critic.trainable_variables
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(critic_vars)
                critic_loss = loss_fn(critic)
            critic_grads = tape.gradient(critic_loss, critic_vars)
            actor_vars = actor.trainable_variables
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(actor_vars)
                actor_loss = loss_fn(actor)
            actor_grads = tape.gradient(actor_loss, actor_vars)
            return critic_grads, actor_grads
    """,
}

TL005_KEPT = {
    "a constant bound by a walrus in the block (expressions are read for bindings then)": """
        def f():
            with tf.GradientTape() as tape:
                y = (x := tf.constant(3.0)) * 2.0
            return tape.gradient(y, x)
    """,
    "watched after it is used": """
        x = tf.constant(3.0)
        with tf.GradientTape() as g:
            y = x * x
            g.watch(x)
        dy_dx = g.gradient(y, x)
    """,
    "watched late in the second of two cells": """
        x = tf.constant(3.0)
        with tf.GradientTape() as t:
            t.watch(x)
            y = x * x
        dy_dx = t.gradient(y, x)

        x = tf.constant(4.0)
        with tf.GradientTape() as t:
            y = x * x
            t.watch(x)
        dy_dx = t.gradient(y, x)
    """,
    "rebound between the watch and the gradient": """
        x = tf.constant(3.0)
        with tf.GradientTape() as g:
            g.watch(x)
            y = x * x
        x = tf.constant(4.0)
        dy_dx = g.gradient(y, x)
    """,
    "watched by another tape": """
        x = tf.constant(3.0)
        with tf.GradientTape() as g:
            y = x * x
        with tf.GradientTape() as g2:
            g2.watch(x)
            z = x * x
        dy_dx = g.gradient(y, x)
    """,
    "an alias used before the watch": """
        x = tf.random.normal([3])
        with tf.GradientTape() as tape:
            z = x
            y = tf.reduce_sum(z ** 2)
            tape.watch(x)
        g = tape.gradient(y, x)
    """,
    "a NumPy array of the module, read in a function": """
        x = np.linspace(-1.0, 1.0, 5)

        def grad():
            with tf.GradientTape() as tape:
                y = tf.reduce_sum(tf.tanh(x))
            return tape.gradient(y, x)
    """,
    "a class body's name, which its methods do not see": """
        x = np.linspace(-1.0, 1.0, 5)

        class Probe:
            x = tf.Variable(1.0)

            def grad(self):
                with tf.GradientTape() as tape:
                    y = tf.reduce_sum(tf.tanh(x))
                return tape.gradient(y, x)
    """,
    "a comprehension's target, which is its own": """
        x = np.ones(3)
        squares = [x * x for x in range(3)]
        with tf.GradientTape() as tape:
            y = tf.reduce_sum(tf.tanh(x))
        g = tape.gradient(y, x)
    """,
    "bound last in a `try` block": """
        x = tf.Variable(1.0)
        try:
            x = np.ones(3)
        except ValueError:
            pass
        with tf.GradientTape() as t:
            y = tf.reduce_sum(x)
        g = t.gradient(y, x)
    """,
    "watched in a comprehension, which every binding of the tape's name reaches": """
        x = tf.constant(3.0)
        t = None
        with tf.GradientTape() as t:
            [t.watch(v.w) for v in [x]]
            y = x * x
        g = t.gradient(y, x)
    """,
    "the tape deleted in a branch only": """
        x = tf.constant(3.0)
        with tf.GradientTape() as t:
            y = x * x
        if y is None:
            del t
        g = t.gradient(y, x)
    """,
    "an argument that every call passes a new tensor, through a name": """
        @tf.function
        def grad_of_square(x):
            with tf.GradientTape() as tape:
                y = x * x
            return tape.gradient(y, x)

        start = tf.constant(3.0)
        print(grad_of_square(start))
    """,
}


@pytest.mark.parametrize("body", TL005_NEAR_MISSES.values(), ids=TL005_NEAR_MISSES)
def test_tl005_rules_out_sources_that_are_variables_or_watched_in_time(body):
    assert_screen("TL005", body, False)


@pytest.mark.parametrize("body", TL005_KEPT.values(), ids=TL005_KEPT)
def test_tl005_keeps_sources_that_may_be_unwatched(body):
    assert_screen("TL005", body, True)


TL017_NEAR_MISSES = {
    "the training step, with integer labels": """
        def train_step(model, optimizer, images, labels):
            labels = tf.cast(labels, tf.int32)
            with tf.GradientTape() as tape:
                logits = model(images, training=True)
                loss = tf.reduce_mean((tf.cast(labels, tf.float32) - logits) ** 2) / 2
                above = logits > 0
            grads = tape.gradient(loss, model.trainable_variables)
            return grads, above
    """,
    "floating-point tensors": """
        x = tf.constant([1.0, 2.0])
        w = tf.Variable(tf.ones([2]))
        steps = tf.range(3.0)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(w * x ** 2) + tf.reduce_sum(steps)
        dx, dw = tape.gradient(y, [x, w])
    """,
    "an integer tensor cast before it is differentiated": """
        def grad():
            x = tf.constant([1, 2, 3])
            x = tf.cast(x, tf.float32)
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = tf.reduce_sum(x * x)
            return tape.gradient(y, x)

        def count():
            x = tf.constant([1, 2, 3])
            return tf.reduce_sum(x)
    """,
    "a comparison of what a model computes": """
        def step(model, x):
            with tf.GradientTape() as tape:
                out = model(x)
                loss = tf.reduce_mean(out)
            mask = out > 0.5
            return tape.gradient(loss, model.trainable_variables), mask
    """,
    "a range of an argument": """
        def f(k):
            idx = tf.range(k)
            with tf.GradientTape() as tape:
                tape.watch(idx)
                y = tf.reduce_sum(tf.gather(tf.ones([10]), idx))
            return tape.gradient(y, idx)
    """,
}

TL017_KEPT = {
    "a constant of a Python int": """
        n = 3
        x = tf.constant(n + 1)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = x * x
        g = tape.gradient(y, x)
    """,
    "an integer dtype named by a string": """
        x = tf.constant([1.0, 2.0], dtype="int32")
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = x * x
        g = tape.gradient(y, [x])
    """,
    "an integer variable through an alias": """
        counter = tf.Variable(0)
        step = counter
        with tf.GradientTape() as tape:
            y = tf.cast(step, tf.float32) * 2.0
        g = tape.gradient(y, step)
    """,
    "a comparison as the target": """
        x = tf.constant(1.0)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = x * x
        g = tape.gradient(y > 0, x)
    """,
    "a stack of integer tensors": """
        a = tf.constant(1)
        b = tf.stack([a, a])
        with tf.GradientTape() as tape:
            tape.watch(b)
            y = tf.reduce_sum(b)
        g = tape.gradient(y, b)
    """,
    "one-hot with integer values": """
        labels = tf.one_hot([0, 1], 2, on_value=1, off_value=0)
        with tf.GradientTape() as tape:
            tape.watch(labels)
            y = tf.reduce_sum(labels)
        g = tape.gradient(y, labels)
    """,
}


@pytest.mark.parametrize("body", TL017_NEAR_MISSES.values(), ids=TL017_NEAR_MISSES)
def test_tl017_rules_out_floating_point_sources_and_targets(body):
    assert_screen("TL017", body, False)


@pytest.mark.parametrize("body", TL017_KEPT.values(), ids=TL017_KEPT)
def test_tl017_keeps_integer_boolean_and_string_tensors(body):
    assert_screen("TL017", body, True)


def test_tl017_screen_knows_every_call_and_dtype_of_the_dtype_analysis():
    # The screen holds its own copy of what tapelint/semantic/dtypes.py knows (which imports libcst).
    kept = {q for qualified, _, _ in tl017._SAME_AS_ARGUMENTS for q in qualified}
    assert {q for q, (_, default) in dtypes._DTYPE_ARG.items() if default is None} | \
        dtypes._SAME_AS_FIRST | dtypes._SAME_AS_ELEMENTS | {N.VARIABLE, "tensorflow.compat.v1.Variable",
                                                             "tensorflow.range", "tensorflow.fill",
                                                             "tensorflow.one_hot"} <= kept
    assert dtypes._INTEGER_RESULT | dtypes._BOOL_RESULT | \
        {q for q, (_, default) in dtypes._DTYPE_ARG.items() if default not in (None, "float")} <= \
        tl017._NON_FLOAT_RESULTS
    assert {n for n, family in dtypes._DTYPE_NAMES.items() if family != "float" and family != "complex"} | \
        {q.split(".")[-1] for q, family in dtypes._PY_TYPES.items() if family in ("int", "bool")} <= \
        tl017._NON_FLOAT_DTYPES
