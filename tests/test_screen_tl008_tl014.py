"""The screens of TL008 (assign-in-tape) and TL014 (grads-vars-mismatch), on CPython's tree.

TL008 needs an assignment (`v.assign(...)`...) in the body of a tape's `with`, in the function of a
later differentiation of that tape whose spelled-out sources name `v`. TL014 needs an optimizer step
whose gradients may come from a tape's differentiation, paired with variables spelled otherwise than
its sources, or spelled alike but with a name that may be bound otherwise at the two places. Near
misses (ruled out, and the rule finds nothing in the whole file either), then code each screen must
keep (and its rule reports).
"""

from __future__ import annotations

import textwrap

import pytest

from screen_checks import MODES, assert_screen_decides


def _check(code: str, mode: str, source: str, expected: bool) -> None:
    assert_screen_decides(code, textwrap.dedent(source), expected, (mode,))


TL008_NEAR_MISSES = {
    "an assignment in a stop_recording hole of its tape (DeepDream's clipping)": """
        import tensorflow as tf

        def step(img, model):
            img = tf.Variable(img)
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(model(img))
                with tape.stop_recording():
                    img.assign(tf.clip_by_value(img, -1.0, 1.0))
            return tape.gradient(loss, img)
        """,
    "a counter assigned in the block is no source": """
        import tensorflow as tf

        w = tf.Variable(tf.ones([3]))
        step = tf.Variable(0)

        def train_step(x, opt):
            with tf.GradientTape() as tape:
                step.assign_add(1)
                loss = tf.reduce_sum(w * x)
            grad = tape.gradient(loss, w)
            opt.apply_gradients([(grad, w)])
            w.assign(tf.clip_by_value(w, -1.0, 1.0))
        """,
    "a source assigned a constant": """
        import tensorflow as tf

        w = tf.Variable(1.0)

        def step(x):
            with tf.GradientTape() as tape:
                w.assign(0.0)
                loss = w * x
            return tape.gradient(loss, w)
        """,
    "assigned in a local function the block calls": """
        import tensorflow as tf

        w = tf.Variable(1.0)

        def step(x):
            with tf.GradientTape() as tape:
                def project():
                    w.assign(w / tf.norm(w))
                project()
                loss = w * x
            return tape.gradient(loss, w)
        """,
    "assigned after the gradient call": """
        import tensorflow as tf

        w = tf.Variable(1.0)

        def step(x):
            with tf.GradientTape(persistent=True) as tape:
                loss = w * x
                g = tape.gradient(loss, w)
                w.assign(w - 0.1 * g)
            return g
        """,
    "sources not spelled out": """
        import tensorflow as tf

        def step(model, x):
            with tf.GradientTape() as tape:
                model.w.assign(model.w * 0.5)
                loss = model(x)
            return tape.gradient(loss, model.trainable_variables)
        """,
    "a moving average updated in a layer's call": """
        import tensorflow as tf

        class BatchStats(tf.keras.layers.Layer):
            def call(self, x):
                self.mean.assign(0.9 * self.mean + 0.1 * tf.reduce_mean(x, 0))
                return x - self.mean

        def train_step(model, optimizer, x):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(model(x) ** 2)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
        """,
}

TL008_KEPT = {
    "a source listed in a list a name holds": """
        import tensorflow as tf

        w = tf.Variable(1.0)
        b = tf.Variable(1.0)
        params = [w, b]

        def step(x):
            with tf.GradientTape() as tape:
                b.assign(b * 0.5)
                loss = w * x + b
            return tape.gradient(loss, params)
        """,
    "a tape entered by name, sources in a tuple, arguments by keyword": """
        import tensorflow as tf

        w = tf.Variable(1.0)
        b = tf.Variable(1.0)

        def step(x):
            t = tf.GradientTape()
            with t:
                w.assign(value=w + b)
                loss = w * x + b
            return t.gradient(target=loss, sources=(w, b))
        """,
    "a persistent tape differentiated in its own block": """
        import tensorflow as tf

        class Model(tf.Module):
            def __init__(self):
                self.w = tf.Variable(1.0)

            def step(self, x):
                with tf.GradientTape(persistent=True) as tape:
                    self.w.assign_sub(0.1 * self.w)
                    loss = self.w * x
                    return tape.jacobian(loss, [self.w])
        """,
    # `stop_recording` of the outer tape: the inner one, of the same name, records the assignment
    "a hole of another tape of that name": """
        import tensorflow as tf

        w = tf.Variable(1.0)
        with tf.GradientTape() as tape:
            with tape.stop_recording():
                with tf.GradientTape() as tape:
                    w.assign(w * 2)
                    loss = w * 3
                g = tape.gradient(loss, w)
        """,
    # the closure's `with tape:` enters the tape its function makes after defining it
    "a tape entered in a closure before it is made": """
        import tensorflow as tf

        w = tf.Variable(1.0)

        def train(x):
            def step():
                with tape:
                    w.assign(w * 2)
                    loss = w * x
                return tape.gradient(loss, w)
            tape = tf.GradientTape()
            return step()
        """,
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("source", TL008_NEAR_MISSES.values(), ids=TL008_NEAR_MISSES)
def test_tl008_screen_rules_out_assignments_the_rule_cannot_report(source, mode):
    _check("TL008", mode, source, False)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("source", TL008_KEPT.values(), ids=TL008_KEPT)
def test_tl008_screen_keeps_an_assigned_source(source, mode):
    _check("TL008", mode, source, True)


TL014_NEAR_MISSES = {
    "the usual training step": """
        import tensorflow as tf

        model = tf.keras.Sequential([tf.keras.layers.Dense(1)])
        optimizer = tf.keras.optimizers.Adam()
        model = tf.keras.Sequential([tf.keras.layers.Dense(2)])  # the module rebinds it: one scope sees both

        @tf.function
        def train_step(x, y):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean((model(x) - y) ** 2)
            gradients = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        """,
    "a GAN's two steps, one name for both gradients": """
        import tensorflow as tf

        class GAN(tf.keras.Model):
            def train_step(self, x):
                with tf.GradientTape() as tape:
                    d_loss = self.d_loss(x)
                grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
                self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
                with tf.GradientTape() as tape:
                    g_loss = self.g_loss(x)
                grads = tape.gradient(g_loss, self.generator.trainable_weights)
                self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        """,
    "the same names in two functions": """
        import tensorflow as tf

        def critic_step(critic, opt, x):
            with tf.GradientTape() as tape:
                loss = critic(x)
            grads = tape.gradient(loss, critic.trainable_variables)
            opt.apply_gradients(zip(grads, critic.trainable_variables))

        def actor_step(actor, opt, x):
            with tf.GradientTape() as tape:
                loss = actor(x)
            grads = tape.gradient(loss, actor.trainable_variables)
            opt.apply_gradients(zip(grads, actor.trainable_variables))
        """,
    "variables gathered in branches, not rebound between": """
        import tensorflow as tf

        def step(backbone, head, predictor, opt, x):
            tvars = backbone.trainable_variables
            tvars = tvars + head.trainable_variables
            if predictor is not None:
                tvars = tvars + predictor.trainable_variables
            with tf.GradientTape() as tape:
                loss = head(backbone(x))
            gradients = tape.gradient(loss, tvars)
            grads_and_vars = [(g, v) for g, v in zip(gradients, tvars) if g is not None]
            opt.apply_gradients(grads_and_vars)
        """,
    "a list and a tuple of the same variable": """
        import tensorflow as tf

        matte = tf.Variable(tf.zeros([8, 8]))
        optimizer = tf.keras.optimizers.Adam()
        for _ in range(10):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(matte ** 2)
            gradient = tape.gradient(loss, [matte])
            optimizer.apply_gradients(zip(gradient, (matte,)))
        """,
    "a hand-written optimizer's own apply_gradients": """
        import tensorflow as tf

        class SGD(tf.Module):
            def __init__(self, variables):
                self.variables = variables

            def apply_gradients(self, grads):
                for g, v in zip(grads, self.variables):
                    v.assign_sub(0.01 * g)

        def train_step(model, optimizer, x):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(model(x) ** 2)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(grads)
        """,
}

TL014_KEPT = {
    "a GAN's second step pairs with the first model": """
        import tensorflow as tf

        class GAN(tf.keras.Model):
            def train_step(self, x):
                with tf.GradientTape() as tape:
                    d_loss = self.d_loss(x)
                grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
                self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
                with tf.GradientTape() as tape:
                    g_loss = self.g_loss(x)
                grads = tape.gradient(g_loss, self.generator.trainable_weights)
                self.g_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
        """,
    "spelled alike, a variable rebound between": """
        import tensorflow as tf

        w = tf.Variable(1.0)
        b = tf.Variable(2.0)
        opt = tf.keras.optimizers.SGD()
        with tf.GradientTape() as tape:
            loss = w * b
        grads = tape.gradient(loss, [w, b])
        w = tf.Variable(3.0)
        opt.apply_gradients(zip(grads, [w, b]))
        """,
    "spelled alike, a variable rebound in a branch around the gradient call": """
        import tensorflow as tf

        opt = tf.keras.optimizers.SGD()

        def step(c):
            w = tf.Variable(1.0)
            if c:
                w = tf.Variable(2.0)
                with tf.GradientTape() as tape:
                    loss = w * 2
                grads = tape.gradient(loss, [w])
            opt.apply_gradients(zip(grads, [w]))
        """,
    "spelled alike, the variables in a comprehension rebound later in the loop": """
        import tensorflow as tf

        opt = tf.keras.optimizers.SGD()

        def step(n):
            w = tf.Variable(1.0)
            for _ in range(n):
                with tf.GradientTape() as tape:
                    loss = w * 2
                grads = tape.gradient(loss, [w])
                opt.apply_gradients([(g, v) for g, v in zip(grads, [w])])
                w = tf.Variable(2.0)
        """,
    "gradients clipped, then paired through a name": """
        import tensorflow as tf

        def step(generator, discriminator, opt, x):
            with tf.GradientTape() as tape:
                loss = generator(x)
            params = generator.trainable_variables
            grads = tape.gradient(loss, params)
            grads, _ = tf.clip_by_global_norm(grads, 1.0)
            pairs = zip(grads, discriminator.trainable_variables)
            opt.apply_gradients(pairs)
        """,
    "Keras 3's apply": """
        import tensorflow as tf

        def step(generator, discriminator, opt, x):
            with tf.GradientTape() as tape:
                loss = generator(x)
            grads = tape.gradient(loss, generator.trainable_variables)
            opt.apply(grads, discriminator.trainable_variables)
        """,
    "the pairs reversed in a comprehension": """
        import tensorflow as tf

        def step(model, opt, x):
            with tf.GradientTape() as tape:
                loss = model(x)
            grads = tape.gradient(loss, model.trainable_variables)
            opt.apply_gradients([(v, g) for g, v in zip(grads, model.trainable_variables)])
        """,
    "the gradients alone, to a library optimizer beside a hand-written one": """
        import tensorflow as tf

        class SGD(tf.Module):
            def apply_gradients(self, grads):
                pass

        def train_step(model, x):
            opt = tf.keras.optimizers.SGD(0.1)
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(model(x) ** 2)
            grads = list(tape.gradient(loss, model.trainable_variables))
            opt.apply_gradients(grads)
        """,
    "gradients taken at module level, applied in a function": """
        import tensorflow as tf

        w = tf.Variable(1.0)
        v = tf.Variable(1.0)
        opt = tf.keras.optimizers.SGD()
        with tf.GradientTape() as tape:
            loss = w * 2.0
        grads = tape.gradient(loss, [w])

        def apply():
            opt.apply_gradients(zip(grads, [w]))

        w = v
        """,
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("source", TL014_NEAR_MISSES.values(), ids=TL014_NEAR_MISSES)
def test_tl014_screen_rules_out_steps_paired_with_their_sources(source, mode):
    _check("TL014", mode, source, False)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("source", TL014_KEPT.values(), ids=TL014_KEPT)
def test_tl014_screen_keeps_steps_that_may_pair_other_variables(source, mode):
    _check("TL014", mode, source, True)
