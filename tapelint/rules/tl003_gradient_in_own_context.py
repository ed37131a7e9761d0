from __future__ import annotations

from tapelint.diagnostics import Applicability
from tapelint.lazy_libcst import cst
from tapelint.rules.base import CstFix, Finding, Invalid, Replacement, Rule, Valid
from tapelint.rules.fix_helpers import block_of, block_statement, bound_names, ends_flow, loaded_names, siblings_after


class GradientInOwnContext(Rule):
    """
    ## What it does
    Checks for `tape.gradient(...)` (or `jacobian`/`batch_jacobian`) called inside the `with` block of
    that same persistent tape, unless the result is then differentiated again by that tape (a
    deliberate higher-order derivative), or another tape records the call and differentiates later (a
    gradient penalty computed while the outer tape records, as StyleGAN's and WGAN-GP's discriminator
    steps do when one `with` statement opens both tapes).

    A non-persistent tape is not reported: there the call stops the tape's recording and computes the
    gradient, and since such a tape gives one gradient only, nothing it would record after the call
    could be used. TensorFlow's tutorials and keras.io's examples write the call at the end of the
    block so. Calling it again, in a loop or later, is what fails: TL002 reports that.

    ## Why is this bad?
    On a persistent tape the backward pass itself is recorded, and the tape keeps every intermediate
    of it: TensorFlow logs that this "is significantly less efficient" (more CPU time and memory), and
    that it is only useful to trace the gradient for a higher-order derivative, which the block never
    takes.

    ## Example
    ```python
    import tensorflow as tf

    def train_step(model, optimizer, x, y):
        with tf.GradientTape(persistent=True) as tape:
            loss = tf.reduce_mean(tf.square(model(x) - y))
            grads = tape.gradient(loss, model.trainable_variables)  # expect: TL003
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
    ```

    ## Use instead
    ```python
    import tensorflow as tf

    def train_step(model, optimizer, x, y):
        with tf.GradientTape(persistent=True) as tape:
            loss = tf.reduce_mean(tf.square(model(x) - y))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
    ```

    ## Fix safety
    The fix moves the statement holding the call to right after the `with` block, when it sits directly
    in the block and nothing after it in the block uses what it computes or changes what it reads. It is
    unsafe: what the tape records changes (that is the point), and so does the order of the statements
    that followed the call. Review it, then apply it with `--fix --unsafe-fixes`.

    ## References
    - [tf.GradientTape.gradient](https://www.tensorflow.org/api_docs/python/tf/GradientTape#gradient)
    """

    code = "TL003"
    needs_indirect_callers = False  # what its trigger code refers to, and the direct callers of that code
    name = "gradient-in-own-context"
    summary = "tape.gradient is called inside the persistent tape's own with block"
    message = (
        "`{tape}.{method}` is called inside the `with` block of `{tape}`, a persistent tape: the backward "
        "pass itself gets recorded, which is slow and holds memory for nothing; dedent the call so it "
        "runs after the block"
    )

    valid = (
        Valid(
            """
import tensorflow as tf

x = tf.constant(3.0)
with tf.GradientTape(persistent=True) as t:
    t.watch(x)
    y = x * x
    dy_dx = t.gradient(y, x)  # differentiated again by t below: a deliberate second order
d2y_dx2 = t.gradient(dy_dx, x)
del t
"""
        ),
        Valid(
            """
import tensorflow as tf

x = tf.Variable(1.0)
with tf.GradientTape() as outer:
    with tf.GradientTape() as inner:
        y = x ** 3
    dy = inner.gradient(y, x)  # inside the OUTER tape: recorded for the second order
d2y = outer.gradient(dy, x)
"""
        ),
        Valid(
            """
import tensorflow as tf

x = tf.Variable(1.0)
with tf.GradientTape() as tape:
    y = x * 2.0
    with tape.stop_recording():
        g = None
g = tape.gradient(y, x)
"""
        ),
        Valid(
            """
import tensorflow as tf

def discriminator_step(discriminator, optimizer, real, fake):
    eps = tf.random.uniform([real.shape[0], 1, 1, 1])
    with tf.GradientTape() as gp_tape, tf.GradientTape() as total_tape:
        mixed = eps * real + (1 - eps) * fake
        gp_tape.watch(mixed)
        gp_loss = tf.reduce_sum(discriminator(mixed))
        grads = gp_tape.gradient(gp_loss, [mixed])  # recorded by total_tape: the penalty is trained
        penalty = tf.reduce_mean((tf.norm(grads[0], axis=[1, 2]) - 1.0) ** 2)
        d_loss = tf.reduce_mean(discriminator(fake)) - tf.reduce_mean(discriminator(real)) + 10.0 * penalty
    d_grads = total_tape.gradient(d_loss, discriminator.trainable_weights)
    optimizer.apply_gradients(zip(d_grads, discriminator.trainable_weights))
"""
        ),
        Valid(
            """
import tensorflow as tf

def train_step(model, optimizer, loss_fn, x, y):
    with tf.GradientTape() as tape:  # non-persistent: the call ends its recording, harmlessly
        loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss

def jacobian_inside(f, x, persistent):
    with tf.GradientTape(persistent=persistent) as tape:  # not known to be persistent
        tape.watch(x)
        y = f(x)
        return tape.jacobian(y, x)
"""
        ),
    )
    invalid = (
        Invalid(
            """
import tensorflow as tf

class Model(tf.keras.Model):
    def train_step(self, data):
        x, y = data
        with tf.GradientTape(persistent=True) as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
            grads = tape.gradient(loss, self.trainable_variables)  # expect: TL003
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return {"loss": loss}
""",
            fixed="""
import tensorflow as tf

class Model(tf.keras.Model):
    def train_step(self, data):
        x, y = data
        with tf.GradientTape(persistent=True) as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        grads = tape.gradient(loss, self.trainable_variables)  # expect: TL003
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return {"loss": loss}
""",
            unsafe=True,
        ),
        Invalid(
            """
import tensorflow as tf

w = tf.Variable(tf.ones([3, 2]))
x = tf.ones([4, 3])
with tf.GradientTape(persistent=True) as g:
    y = x @ w
    j = g.jacobian(y, w)  # expect: TL003
    z = tf.reduce_sum(y)
""",
            fixed="""
import tensorflow as tf

w = tf.Variable(tf.ones([3, 2]))
x = tf.ones([4, 3])
with tf.GradientTape(persistent=True) as g:
    y = x @ w
    z = tf.reduce_sum(y)
j = g.jacobian(y, w)  # expect: TL003
""",
            unsafe=True,
        ),
        Invalid(
            """
import tensorflow as tf

def step(model, optimizer, x, y):
    with tf.GradientTape(persistent=True) as tape:
        loss = tf.reduce_mean(tf.square(model(x) - y))
        grads = tape.gradient(loss, model.trainable_variables)  # expect: TL003
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
""",
            fixed=None,  # the statement after the call uses `grads`: moving the call alone would break it
        ),
    )

    @classmethod
    def screen(cls, facts):
        # `check`: a differentiation of a persistent tape that the tape records (the call in its own block).
        if not facts.differentiates_on_tape:
            return False
        sites = facts.tapes
        if sites.uncertain:
            return True
        return any(tape.persistent is True and sites.records(tape, use.node) is True
                   for use in sites.differentiations() for tape in sites.tapes_of(use))

    def check(self, model):
        for tape in model.tapes:
            if tape.persistent is not True:
                continue  # (see the docs: the call ends a non-persistent tape's recording, harmlessly)
            for use in tape.differentiations():
                if model.tapes.records(tape, use.node) is not True:
                    continue
                if self._differentiated_again(model, tape, use) or self._recorded_for_another(model, tape, use):
                    continue
                yield Finding(use.node, self.message.format(tape=tape.name, method=use.method),
                              self._fix(model, tape, use))

    @staticmethod
    def _fix(model, tape, use) -> CstFix | None:
        """Move the statement holding the call out of the `with` block, to right after it."""
        statement = block_statement(model, use.node)
        block = block_of(model, statement) if statement is not None else None
        with_ = model.parent(block) if isinstance(block, cst.IndentedBlock) else None
        if with_ not in tape.withs or not isinstance(statement, cst.SimpleStatementLine) or ends_flow(statement):
            return None
        if len(block.body) < 2:
            return None  # the block would be empty
        bound, read = bound_names(model, statement), loaded_names(statement)
        for later in siblings_after(model, statement):
            if loaded_names(later) & bound or bound_names(model, later) & read:
                return None  # something after it in the block depends on it, or changes its inputs
        rest = [s for s in block.body if s is not statement]
        new_with = with_.with_changes(body=block.with_changes(body=rest))
        return CstFix(f"Move the `{use.method}` call after the `with` block",
                      (Replacement(with_, cst.FlattenSentinel([new_with, statement])),), Applicability.UNSAFE)

    @staticmethod
    def _recorded_for_another(model, tape, use) -> bool:
        """Another tape records the call and differentiates later: a gradient penalty or a second order
        (`with tf.GradientTape() as gp_tape, tf.GradientTape() as tape:` with `gp_tape.gradient` in the
        block). The call must stay where that tape records it; moving it after the block would cut the
        penalty out of the other tape's gradient."""
        for other in model.tapes:
            if other is tape or model.tapes.records(other, use.node) is not True:
                continue
            if any(model.before(use.node, later.node) for later in other.differentiations()):
                return True
        return False

    @staticmethod
    def _differentiated_again(model, tape, use) -> bool:
        """The call's result (through names) is the target of a later differentiation by the same tape."""
        statement = model.statement_of(use.node)
        if not isinstance(statement, cst.Assign):
            return False
        bound = {
            n for t in statement.targets for n in model.tree.descendants(t.target, cst.Name)
        }
        for later in tape.differentiations():
            if later is use or not model.before(use.node, later.node) or later.target is None:
                continue
            for name in model.names_in(later.target):
                if any(b.node in bound for b in model.reaching(name) or ()):
                    return True
        return False
