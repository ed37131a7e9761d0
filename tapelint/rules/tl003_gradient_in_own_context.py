from __future__ import annotations

import libcst as cst

from tapelint.rules.base import Finding, Invalid, Rule, Valid


class GradientInOwnContext(Rule):
    """
    ## What it does
    Checks for `tape.gradient(...)` (or `jacobian`/`batch_jacobian`) called inside the `with` block of
    that same tape, unless the result is then differentiated again by that tape (a deliberate
    higher-order derivative with a persistent tape).

    ## Why is this bad?
    On a non-persistent tape the call ends the recording: operations after it in the block are not
    recorded, and a later gradient raises `RuntimeError`. On a persistent tape the backward pass itself
    is recorded, which TensorFlow warns "is significantly less efficient" and which holds on to memory for
    nothing. Either way the result rarely is what was meant.

    ## Example
    ```python
    import tensorflow as tf

    def train_step(model, optimizer, x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x) - y))
            grads = tape.gradient(loss, model.trainable_variables)  # expect: TL003
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
    ```

    ## Use instead
    ```python
    import tensorflow as tf

    def train_step(model, optimizer, x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x) - y))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
    ```

    ## References
    - [tf.GradientTape.gradient](https://www.tensorflow.org/api_docs/python/tf/GradientTape#gradient)
    """

    code = "TL003"
    name = "gradient-in-own-context"
    summary = "tape.gradient is called inside the tape's own with block"
    message = (
        "`{tape}.{method}` is called inside `{tape}`'s own `with` block: {consequence}; "
        "dedent the call so it runs after the block"
    )
    _non_persistent = "on a non-persistent tape this stops the recording, so later operations are not recorded"
    _persistent = "on a persistent tape the backward pass itself gets recorded, which is slow and wastes memory"

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
"""
        ),
        Invalid(
            """
import tensorflow as tf

w = tf.Variable(tf.ones([3, 2]))
x = tf.ones([4, 3])
with tf.GradientTape() as g:
    y = x @ w
    j = g.jacobian(y, w)  # expect: TL003
    z = tf.reduce_sum(y)
"""
        ),
    )

    def check(self, model):
        for tape in model.tapes:
            for use in tape.differentiations():
                if model.tapes.records(tape, use.node) is not True:
                    continue
                if self._differentiated_again(model, tape, use):
                    continue
                consequence = self._persistent if tape.persistent else self._non_persistent
                yield Finding(use.node, self.message.format(tape=tape.name, method=use.method, consequence=consequence))

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
