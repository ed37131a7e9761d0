"""The screens of TL002 (non-persistent-tape-reused), TL004 (higher-order-wrong-tape) and TL016
(tape-not-entered): near misses they rule out (where the rule finds nothing in the whole file either) and
code they must keep (where it reports)."""

from __future__ import annotations

import textwrap

import pytest

from screen_checks import assert_screen_decides


HEADER = "import tensorflow as tf\n\n"


def assert_screen(code: str, body: str, expected: bool) -> None:
    assert_screen_decides(code, HEADER + textwrap.dedent(body), expected)


TL002_NEAR_MISSES = {
    "a new tape under the same name for each gradient": """
        def gan_step(gen, disc, noise, real):
            with tf.GradientTape() as tape:
                g_loss = -tf.reduce_mean(disc(gen(noise)))
            g_grads = tape.gradient(g_loss, gen.trainable_variables)
            with tf.GradientTape() as tape:
                d_loss = tf.reduce_mean(disc(gen(noise))) - tf.reduce_mean(disc(real))
            d_grads = tape.gradient(d_loss, disc.trainable_variables)
            return g_grads, d_grads
    """,
    "a persistent tape": """
        def jac(f, x):
            with tf.GradientTape(persistent=True) as t:
                t.watch(x)
                y = f(x)
            return t.jacobian(y, x), t.batch_jacobian(y, x)
    """,
    "one call on each branch": """
        def grad(f, x, full):
            with tf.GradientTape() as t:
                t.watch(x)
                y = f(x)
            if full:
                return t.jacobian(y, x)
            return t.gradient(y, x)
    """,
    "a first call in an `except` clause": """
        def grad(f, x, z):
            with tf.GradientTape() as t:
                t.watch(x)
                y = f(x)
            try:
                g = check(y)
            except ValueError:
                g = t.gradient(y, x)
            return g, t.gradient(z, x)
    """,
    "a loop that makes the tape each time": """
        def train(model, opt, dataset):
            for x, y in dataset:
                with tf.GradientTape() as tape:
                    loss = tf.reduce_mean(tf.square(model(x) - y))
                grads = tape.gradient(loss, model.trainable_variables)
                opt.apply_gradients(zip(grads, model.trainable_variables))
    """,
    "a persistent tape of that name in another function": """
        def step(model, x):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(model(x))
            return tape.gradient(loss, model.trainable_variables)

        def both(f, x):
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(x)
                y = f(x)
            return tape.gradient(y, x), tape.jacobian(y, x)
    """,
}

TL002_KEPT = {
    "two calls in a row": """
        def gan_step(gen, disc, noise, real):
            with tf.GradientTape() as tape:
                fake = gen(noise)
                g_loss = -tf.reduce_mean(disc(fake))
                d_loss = tf.reduce_mean(disc(fake)) - tf.reduce_mean(disc(real))
            g_grads = tape.gradient(g_loss, gen.trainable_variables)
            d_grads = tape.gradient(d_loss, disc.trainable_variables)
            return g_grads, d_grads
    """,
    "the second call in a branch after the first": """
        def grad(f, x, extra):
            with tf.GradientTape() as t:
                t.watch(x)
                y = f(x)
            g = t.gradient(y, x)
            if extra:
                g += t.jacobian(y, x)
            return g
    """,
    "the first call in a `try`, the second in its `except` clause": """
        def grad(f, x):
            with tf.GradientTape() as t:
                t.watch(x)
                y = f(x)
            try:
                return t.gradient(y, x)
            except ValueError:
                return t.jacobian(y, x)
    """,
    "a loop that does not make the tape": """
        x = tf.Variable([1.0, 2.0])
        tape = tf.GradientTape()
        with tape:
            y = tf.reduce_sum(x ** 2)
        for i in range(3):
            g = tape.gradient(y, x)
    """,
    "a tape made in one branch and used after": """
        def grad(f, x, flag):
            if flag:
                with tf.GradientTape() as t:
                    t.watch(x)
                    y = f(x)
                a = t.gradient(y, x)
                b = t.gradient(y * 2, x)
                return a, b
    """,
}


@pytest.mark.parametrize("body", TL002_NEAR_MISSES.values(), ids=TL002_NEAR_MISSES.keys())
def test_tl002_rules_out(body):
    assert_screen("TL002", body, False)


@pytest.mark.parametrize("body", TL002_KEPT.values(), ids=TL002_KEPT.keys())
def test_tl002_keeps(body):
    assert_screen("TL002", body, True)


TL004_NEAR_MISSES = {
    "a single gradient": """
        def step(model, x):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(model(x))
            return tape.gradient(loss, model.trainable_variables)
    """,
    "the inner gradient inside the outer tape's block": """
        x = tf.Variable(1.0)
        with tf.GradientTape() as t2:
            with tf.GradientTape() as t1:
                y = x * x * x
            dy_dx = t1.gradient(y, x)
        d2y_dx2 = t2.gradient(dy_dx, x)
    """,
    "a persistent tape differentiating its own gradient inside its block": """
        def laplacian(u_fn, x):
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(x)
                u = u_fn(x)
                u_x = tape.gradient(u, x)
            return tape.gradient(u_x, x)
    """,
    "two tapes whose targets do not depend on each other's gradients": """
        def gan_step(gen, disc, noise, real):
            with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
                fake = gen(noise)
                g_loss = -tf.reduce_mean(disc(fake))
                d_loss = tf.reduce_mean(disc(fake)) - tf.reduce_mean(disc(real))
            g_grads = g_tape.gradient(g_loss, gen.trainable_variables)
            d_grads = d_tape.gradient(d_loss, disc.trainable_variables)
            return g_grads, d_grads
    """,
    "a gradient under the same name in another function": """
        def first(x):
            with tf.GradientTape() as t:
                t.watch(x)
                y = x * x
            dy = t.gradient(y, x)
            return dy

        def second(w, dy):
            with tf.GradientTape() as t1:
                z = w * w
            g = t1.gradient(z, w)
            with tf.GradientTape() as t2:
                loss = w * dy
            return g, t2.gradient(loss, w)
    """,
    "a helper returning a gradient, called inside the tape's block": """
        def penalty(disc, mixed):
            with tf.GradientTape() as gp_tape:
                gp_tape.watch(mixed)
                score = disc(mixed)
            grads = gp_tape.gradient(score, mixed)
            return tf.reduce_mean((tf.norm(grads, axis=-1) - 1.0) ** 2)

        def d_step(disc, real, fake, mixed):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(disc(fake)) - tf.reduce_mean(disc(real)) + penalty(disc, mixed)
            return tape.gradient(loss, disc.trainable_variables)
    """,
}

TL004_KEPT = {
    "the inner gradient after the outer tape's block": """
        x = tf.Variable(1.5)
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                y = x ** 3
        dy_dx = inner.gradient(y, x)
        d2y_dx2 = outer.gradient(dy_dx, x)
    """,
    "a gradient penalty computed before the tape": """
        def d_step(disc, real, fake, mixed):
            with tf.GradientTape() as gp_tape:
                gp_tape.watch(mixed)
                pred = disc(mixed)
            grads = gp_tape.gradient(pred, mixed)
            gp = tf.reduce_mean((tf.norm(grads, axis=1) - 1.0) ** 2)
            with tf.GradientTape() as tape:
                d_loss = tf.reduce_mean(disc(fake)) - tf.reduce_mean(disc(real)) + 10.0 * gp
            return tape.gradient(d_loss, disc.trainable_variables)
    """,
    "a persistent tape differentiating its own gradient after its block": """
        x = tf.Variable(2.0)
        with tf.GradientTape(persistent=True) as tape:
            y = tf.sin(x)
        dy = tape.gradient(y, x)
        d2y = tape.gradient(dy, x)
    """,
    "a method returning a gradient, called before the tape": """
        class Critic(tf.keras.Model):
            def gradient_penalty(self, mixed):
                with tf.GradientTape() as gp_tape:
                    gp_tape.watch(mixed)
                    score = self(mixed)
                return gp_tape.gradient(score, mixed)

            def train_step(self, data):
                real, mixed = data
                gp = tf.reduce_mean(self.gradient_penalty(mixed))
                with tf.GradientTape() as tape:
                    loss = tf.reduce_mean(self(real)) + gp
                grads = tape.gradient(loss, self.trainable_variables)
                return grads
    """,
}


@pytest.mark.parametrize("body", TL004_NEAR_MISSES.values(), ids=TL004_NEAR_MISSES.keys())
def test_tl004_rules_out(body):
    assert_screen("TL004", body, False)


@pytest.mark.parametrize("body", TL004_KEPT.values(), ids=TL004_KEPT.keys())
def test_tl004_keeps(body):
    assert_screen("TL004", body, True)


TL016_NEAR_MISSES = {
    "tapes made by `with`": """
        def step(model, x):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(model(x))
            return tape.gradient(loss, model.trainable_variables)
    """,
    "a tape entered by name": """
        def step(model, x):
            tape = tf.GradientTape()
            with tape:
                loss = tf.reduce_mean(model(x))
            return tape.gradient(loss, model.trainable_variables)
    """,
    "a tape handed to code that may enter it": """
        import contextlib

        def step(model, x):
            tape = tf.GradientTape(persistent=True)
            with contextlib.ExitStack() as stack:
                stack.enter_context(tape)
                loss = tf.reduce_mean(model(x))
            grads = tape.gradient(loss, model.trainable_variables)
            del tape
            return grads
    """,
    "a tape returned to the caller": """
        def grad_and_tape(f, x):
            tape = tf.GradientTape(persistent=True)
            g = tape.gradient(f(x), x)
            return g, tape
    """,
}

TL016_KEPT = {
    "a tape never entered": """
        def train_step(model, optimizer, images, labels):
            tape = tf.GradientTape()
            predictions = model(images, training=True)
            loss = tf.reduce_mean(predictions - labels)
            gradients = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables))
    """,
    "`with t:` on what the name holds after it is rebound": """
        def f(x, other):
            t = tf.GradientTape()
            g = t.gradient(x, x)
            t = other
            with t:
                y = x * x
            return g, y
    """,
    "a tape never entered, then deleted": """
        def jacobian(f, x):
            t = tf.GradientTape(persistent=True)
            t.watch(x)
            y = f(x)
            j = t.jacobian(y, x)
            del t
            return j
    """,
}


@pytest.mark.parametrize("body", TL016_NEAR_MISSES.values(), ids=TL016_NEAR_MISSES.keys())
def test_tl016_rules_out(body):
    assert_screen("TL016", body, False)


@pytest.mark.parametrize("body", TL016_KEPT.values(), ids=TL016_KEPT.keys())
def test_tl016_keeps(body):
    assert_screen("TL016", body, True)
