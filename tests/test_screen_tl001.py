"""TL001's screen: a differentiation after its tape's block whose target may be bound outside the block,
computed in the call itself, or reached from a forward pass made before the tape.

The screen follows the bindings that may reach the target (and the tape's name) as the semantic model
does: the last one before it that dominates it, those after that one, and those later in a loop around
it. Near misses are ruled out, and the rule finds nothing in them; the bugs are kept.
"""

from __future__ import annotations

import ast
import textwrap

import pytest

from tapelint import registry
from tapelint.screen import Facts

from screen_checks import MODES, facts_in, whole_file_findings


RULE = registry.all_rules()["TL001"]


def findings(source: str) -> list:
    return whole_file_findings("TL001", source)


NEAR_MISSES = {
    "the loss computed in the block": """
        import tensorflow as tf

        def train_step(model, optimizer, x, y):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(model(x) - y))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
    """,
    "two tapes of one name, each differentiated after its own block": """
        import tensorflow as tf

        def train_step(self, real, noise):
            with tf.GradientTape() as tape:
                d_loss = self.d_loss(self.discriminator(real), self.discriminator(self.generator(noise)))
            grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
            with tf.GradientTape() as tape:
                g_loss = self.g_loss(self.discriminator(self.generator(noise)))
            grads = tape.gradient(g_loss, self.generator.trainable_weights)
    """,
    "a loss set to zero before the block, rebound in it": """
        import tensorflow as tf

        for x in data:
            loss = 0.0
            with tf.GradientTape() as tape:
                for layer in layers:
                    x = layer(x)
                loss = tf.reduce_sum(x)
            grads = tape.gradient(loss, w)
    """,
    "the target rebound after the call": """
        import tensorflow as tf

        def test_jacobian(x):
            with tf.GradientTape() as tape:
                res = tf.sin(x)
            res = tape.jacobian(res, x)
            expected = tf.cos(x)
            return res, expected
    """,
    "the same names computed outside another function's tape": """
        import tensorflow as tf

        loss = tf.reduce_sum(tf.ones([3]))

        def step(w):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(w * w)
            return tape.gradient(loss, w)
    """,
    "the forward pass of an evaluation loop after the training loop": """
        import tensorflow as tf

        for epoch in range(epochs):
            for x, y in train:
                with tf.GradientTape() as tape:
                    y_pred = model(x)
                    loss = mse(y_pred, y)
                grads = tape.gradient(loss, model.variables)
            for x, y in test:
                y_pred = model(x)
                loss = mse(y_pred, y)
    """,
    "a forward pass before the tape, the sources spelled out": """
        import tensorflow as tf

        def step(model, x, y, w):
            predictions = model(x)
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(predictions * w)
            return tape.gradient(loss, [w])
    """,
    "an item of the gradients' target, not an operation the tape could miss": """
        import tensorflow as tf

        def step(x, w):
            with tf.GradientTape() as tape:
                losses = [tf.reduce_sum(w * x), tf.reduce_sum(w)]
            return tape.gradient(losses[0], w), tape.gradient(self.loss, w)
    """,
    "an operation recorded by hand": """
        import tensorflow as tf
        from tensorflow.python.eager import execute

        def transpose(op_name, inputs, attrs, outputs):
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                execute.record_gradient(op_name, inputs, attrs, outputs)
            trainable = tf.identity(outputs)
            return tape.gradient(trainable, inputs)
    """,
    "the target computed in the block of the tape bound last": """
        import tensorflow as tf

        def step(x, w, c):
            with tf.GradientTape() as tape:
                y = tf.reduce_sum(w * x)
            z = tf.square(y)
            with tf.GradientTape() as tape:
                z = tf.reduce_sum(w * w)
            return tape.gradient(z, w)
    """,
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("source", NEAR_MISSES.values(), ids=NEAR_MISSES.keys())
def test_near_misses_are_ruled_out(source, mode):
    source = textwrap.dedent(source)
    assert RULE.screen(facts_in(mode, source)) is False
    assert findings(source) == []


BUGS = {
    "the loss of a GAN's second step computed after its block": """
        import tensorflow as tf

        def train_step(self, real, noise):
            with tf.GradientTape() as tape:
                d_loss = self.d_loss(self.discriminator(real), self.discriminator(self.generator(noise)))
            grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
            with tf.GradientTape() as tape:
                fake = self.discriminator(self.generator(noise))
            g_loss = tf.reduce_mean(fake)
            grads = tape.gradient(g_loss, self.generator.trainable_weights)
    """,
    "a loss from the last pass of the loop": """
        import tensorflow as tf

        w = tf.Variable(1.0)
        for step in range(3):
            if step:
                grads = tape.gradient(loss, w)
            with tf.GradientTape() as tape:
                y = w * 2.0
            loss = tf.reduce_sum(y)
    """,
    "a loss computed in one branch after the block": """
        import tensorflow as tf

        def step(w, x, c):
            with tf.GradientTape() as tape:
                y = w * x
            if c:
                loss = tf.reduce_sum(y)
            else:
                loss = tf.reduce_mean(y)
            return tape.gradient(loss, w)
    """,
    "a walrus after the block": """
        import tensorflow as tf

        def step(w, x):
            with tf.GradientTape() as tape:
                y = w * x
            if (loss := tf.reduce_sum(y)) is not None:
                return tape.gradient(loss, w)
    """,
    "the target computed in the call, through an import of its function": """
        from tensorflow import GradientTape, reduce_sum

        def step(w):
            with GradientTape() as tape:
                y = w * 3.0
            return tape.gradient(reduce_sum(y), w)
    """,
    "a Keras train_step whose forward pass runs before the tape": """
        import tensorflow as tf

        class Model(tf.keras.Model):
            def train_step(self, data):
                x, y = data
                y_pred = self(x, training=True)
                with tf.GradientTape() as tape:
                    loss = tf.reduce_mean(tf.square(y - y_pred))
                grads = tape.gradient(loss, self.trainable_variables)
                self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
    """,
    "a tape entered by name, the loss computed after": """
        import tensorflow as tf

        def step(w, x):
            tape = tf.GradientTape()
            with tape:
                y = w * x
            loss = tf.reduce_sum(y)
            return tape.gradient(loss, w)
    """,
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("source", BUGS.values(), ids=BUGS.keys())
def test_bugs_are_kept(source, mode):
    source = textwrap.dedent(source)
    assert [d.code for d in findings(source)] == ["TL001"]
    assert RULE.screen(facts_in(mode, source)) is True


def test_minimize_with_a_lambda_returning_a_name_is_kept_without_a_tape():
    source = "import tensorflow as tf\nw = tf.Variable(5.0)\nloss = (w - 3.0) ** 2\nopt.minimize(lambda: loss, [w])\n"
    assert [d.code for d in findings(source)] == ["TL001"]
    assert RULE.screen(Facts(source)) and RULE.screen(Facts(source, ast.parse(source)))
