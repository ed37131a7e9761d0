from __future__ import annotations

import ast

from tapelint.lazy_libcst import cst
from tapelint.rules.base import Finding, Invalid, Rule, Valid
from tapelint.screen import GRADIENT_TAPE_NAMES, call_pattern
from tapelint.screen_tapes import argument

_STEPS = frozenset({"apply_gradients", "apply", "minimize"})
_STEP_CALL = call_pattern(*sorted(_STEPS))


def _may_enter_tape(facts, expr: ast.expr) -> bool:
    if isinstance(expr, ast.Name):
        return True
    return isinstance(expr, ast.Call) and facts.may_call(expr, {"GradientTape"}, GRADIENT_TAPE_NAMES)


class OptimizerStepInTape(Rule):
    """
    ## What it does
    Checks for an optimizer step (`optimizer.apply_gradients(...)`, Keras 3's `optimizer.apply(...)`)
    inside the `with` block of the very persistent tape whose gradients it applies, and for
    `optimizer.minimize(loss, var_list, tape=tape)` inside the block of the tape it is given.

    A step inside the block of *another* tape (the generator's step while the discriminator's tape
    records, an inner update in meta-learning) is not reported, nor one inside the block of the
    non-persistent tape it applies the gradients of: its `tape.gradient` call already stopped that
    tape's recording, so the step is not recorded, as keras.io's examples write it.

    ## Why is this bad?
    A persistent tape records the backward pass and the optimizer's updates too, which TensorFlow warns
    is significantly slower and which holds on to memory for nothing. `minimize` with the tape inside its
    own block raises `ValueError: Tape is still recording` with the optimizers of TensorFlow before 2.11,
    and with later ones stops or extends the recording behind the block's back. The step belongs after
    the `with` block.

    ## Example
    ```python
    import tensorflow as tf

    def train_step(model, optimizer, x, y):
        with tf.GradientTape(persistent=True) as tape:
            loss = tf.reduce_mean(tf.keras.losses.mse(y, model(x, training=True)))
            grads = tape.gradient(loss, model.trainable_variables)  # expect: TL003
            optimizer.apply_gradients(zip(grads, model.trainable_variables))  # expect: TL018
        return loss
    ```

    ## Use instead
    ```python
    import tensorflow as tf

    def train_step(model, optimizer, x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.keras.losses.mse(y, model(x, training=True)))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss
    ```

    ## References
    - [tf.GradientTape](https://www.tensorflow.org/api_docs/python/tf/GradientTape)
    - [Writing a training loop from scratch](https://keras.io/guides/writing_a_custom_training_loop_in_tensorflow/)
    """

    code = "TL018"
    needs_indirect_callers = False  # what its trigger code refers to, and the direct callers of that code
    name = "optimizer-step-in-tape"
    summary = "The optimizer step runs inside the with block of the tape whose gradients it applies"
    message = (
        "`{step}` runs inside the `with` block of `{tape}`, the tape whose gradients it applies: "
        "{consequence}; dedent the gradient call and the optimizer step so they run after the block"
    )
    _persistent = (
        "the persistent tape records the backward pass and the optimizer's updates too, which is slow "
        "and holds memory for nothing"
    )
    _minimize = (
        "`minimize` computes the gradients with `{tape}` inside its own block: TF 2.x optimizers before "
        "2.11 re-enter the tape and raise `ValueError: Tape is still recording`, later ones stop its "
        "recording, so the rest of the block is silently not recorded"
    )
    _minimize_persistent = (
        "`minimize` computes the gradients with `{tape}` inside its own block: TF 2.x optimizers before "
        "2.11 re-enter the tape and raise `ValueError: Tape is still recording`, later ones record the "
        "backward pass and the updates on the persistent tape, which is slow and holds memory for nothing"
    )
    triggers = ("apply_gradients", "minimize", ".apply(")
    requires = ("GradientTape",)  # a step is reported only inside a tape's recording

    valid = (
        Valid(
            """
import tensorflow as tf

generator = tf.keras.Sequential([tf.keras.layers.Dense(8)])
discriminator = tf.keras.Sequential([tf.keras.layers.Dense(1)])
g_opt, d_opt = tf.keras.optimizers.Adam(1e-4), tf.keras.optimizers.Adam(1e-4)

def train_step(noise, real):
    with tf.GradientTape() as disc_tape:
        with tf.GradientTape() as gen_tape:
            fake = generator(noise, training=True)
            g_loss = -tf.reduce_mean(discriminator(fake, training=True))
        g_grads = gen_tape.gradient(g_loss, generator.trainable_variables)
        g_opt.apply_gradients(zip(g_grads, generator.trainable_variables))  # another tape records
        d_loss = tf.reduce_mean(discriminator(fake)) - tf.reduce_mean(discriminator(real))
    d_grads = disc_tape.gradient(d_loss, discriminator.trainable_variables)
    d_opt.apply_gradients(zip(d_grads, discriminator.trainable_variables))
"""
        ),
        Valid(
            """
import tensorflow as tf

class Model(tf.keras.Model):
    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            loss = self.compute_loss(y=y, y_pred=self(x, training=True))
        grads = tape.gradient(loss, self.trainable_variables)
        grads, _ = tf.clip_by_global_norm(grads, 1.0)
        self.optimizer.apply(grads, self.trainable_variables)
        return {"loss": loss}
"""
        ),
        Valid(
            """
import tensorflow as tf

w = tf.Variable(1.0)
opt = tf.keras.optimizers.SGD(0.1)
for _ in range(10):
    tape = tf.GradientTape()
    with tape:
        loss = (w - 3.0) ** 2
    opt.minimize(loss, [w], tape=tape)
    with tf.GradientTape() as outer:
        opt.minimize(lambda: (w - 3.0) ** 2, [w])  # minimize makes its own tape

grads = None
for x in tf.data.Dataset.range(5):
    with tf.GradientTape() as tape:
        if grads is not None:  # delayed update with the previous tape's gradients
            opt.apply_gradients(zip(grads, [w]))
        loss = (w * tf.cast(x, tf.float32) - 1.0) ** 2
    grads = tape.gradient(loss, [w])
"""
        ),
        Valid(
            """
import tensorflow as tf

def train_step(model, optimizer, huber, states, returns):
    with tf.GradientTape() as tape:  # non-persistent: its gradient call ended the recording
        values = model(states)
        loss = huber(values, returns)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
"""
        ),
    )
    invalid = (
        Invalid(
            """
import tensorflow as tf

w = tf.Variable(tf.zeros([4, 1]))
opt = tf.keras.optimizers.SGD(0.01)
x, y = tf.random.normal([16, 4]), tf.random.normal([16, 1])
with tf.GradientTape() as tape:
    loss = tf.reduce_mean((x @ w - y) ** 2)
    opt.minimize(loss, [w], tape=tape)  # expect: TL018
"""
        ),
        Invalid(
            """
import tensorflow as tf

class Trainer(tf.keras.Model):
    def train_step(self, data):
        x, y = data
        with tf.GradientTape(persistent=True) as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
            gradients = tape.gradient(loss, self.trainable_variables)  # expect: TL003
            grads_and_vars = zip(gradients, self.trainable_variables)
            self.optimizer.apply_gradients(grads_and_vars)  # expect: TL018
            self.compiled_metrics.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}
"""
        ),
    )

    @classmethod
    def screen(cls, facts):
        # A step called in the body of a `with` that can enter a tape: `with tf.GradientTape() ...:` or
        # `with t:` (the semantic model's only two ways to a tape's `with`).
        if not facts.makes_tape:
            return False
        # Read from logical lines: the `with` statements around each step's name (a superset of those
        # whose body calls a step), where the lines can be read so.
        around = facts.withs_around(_STEPS)
        if around is not None:
            if not any(_may_enter_tape(facts, item.context_expr) for node in around for item in node.items):
                return False
        # Then on the whole tree: a step that a tape records, the tape persistent unless the step is a
        # `minimize` given that tape (`check`: the tape of the gradients a step applies records it).
        sites = facts.tapes
        if sites.uncertain:
            return True
        for call in facts.calls_where(_STEP_CALL, _STEPS):
            func = call.func
            if not (isinstance(func, ast.Attribute) and func.attr in _STEPS):
                continue
            if func.attr == "minimize":
                tape = argument(call, 2, "tape")
                if isinstance(tape, ast.Name) and any(t.name == tape.id and sites.records(t, call) is True
                                                      for t in sites.tapes):
                    return True
            elif any(t.persistent is True and sites.records(t, call) is True for t in sites.tapes):
                return True
        return False

    def check(self, model):
        for call in model.nodes(cst.Call):
            method = model.method_call(call)
            if method is None or method[1] not in _STEPS:
                continue
            if method[1] == "minimize":
                tape = model.tapes.tape_of(model.argument(call, 2, "tape"))
                if tape is not None and model.tapes.records(tape, call) is True:
                    consequence = self._minimize_persistent if tape.persistent else self._minimize
                    yield Finding(call, self.message.format(step=model.code(call.func), tape=tape.name,
                                                            consequence=consequence.format(tape=tape.name)))
                continue
            grads = model.argument(call, 0, "grads_and_vars" if method[1] == "apply_gradients" else "grads")
            for use in self._gradient_uses(model, grads, set()):
                # (a non-persistent tape's gradient call stopped its recording: the step is not recorded)
                if use.tape.persistent is True and self._same_recording(model, use, call):
                    yield Finding(call, self.message.format(step=model.code(call.func), tape=use.tape.name,
                                                            consequence=self._persistent))
                    break

    @staticmethod
    def _same_recording(model, use, call) -> bool:
        """The step and the gradient call it applies (before it) sit in one `with` block of the tape, and
        the tape records there: not a gradient kept from the previous iteration of a loop."""
        if model.tapes.records(use.tape, call) is not True or not model.before(use.node, call):
            return False
        return any(model.contains(w.body, call) and model.contains(w.body, use.node) for w in use.tape.withs)

    @staticmethod
    def _gradient_uses(model, expr, seen: set) -> list:
        """The tape differentiations whose results flow into ``expr`` (through names, zip, lists)."""
        if expr is None or expr in seen or len(seen) > 32:
            return []
        seen.add(expr)
        origins = model.tapes.gradient_origins(expr)
        if origins:
            return origins
        out = []
        for name in model.names_in(expr) if not isinstance(expr, cst.Name) else [expr]:
            origins = model.tapes.gradient_origins(name)
            if origins:
                out.extend(u for u in origins if u not in out)
                continue
            for b in model.reaching(name) or ():
                if b.kind in ("assign", "annassign", "walrus") and b.value is not None:
                    out.extend(u for u in OptimizerStepInTape._gradient_uses(model, b.value, seen) if u not in out)
        return out
