"""A rule written against tapelint's semantic model, exactly as built-in rules are."""

from __future__ import annotations

import libcst as cst

from tapelint.rules.base import Finding, Invalid, Rule, Valid


class GradientResultDiscarded(Rule):
    """
    ## What it does
    Checks for `tape.gradient(...)` (or `jacobian`/`batch_jacobian`) called as a statement of its own,
    its result thrown away.

    ## Why is this bad?
    The backward pass runs for nothing; usually the assignment was forgotten and the code goes on with
    stale gradients from an earlier step. On a non-persistent tape the call also releases the tape, so
    the real `gradient` call that follows raises `RuntimeError`.

    ## Example
    ```python
    import tensorflow as tf

    x = tf.Variable(3.0)
    with tf.GradientTape() as tape:
        y = x * x
    tape.gradient(y, x)  # expect: TPX001
    ```

    ## Use instead
    ```python
    import tensorflow as tf

    x = tf.Variable(3.0)
    with tf.GradientTape() as tape:
        y = x * x
    dy_dx = tape.gradient(y, x)
    ```
    """

    code = "TPX001"
    name = "gradient-result-discarded"
    summary = "The result of tape.gradient is thrown away"
    message = "the result of `{tape}.{method}` is thrown away: the backward pass runs for nothing; assign it"

    valid = (
        Valid(
            """
import tensorflow as tf

x = tf.Variable(1.0)
with tf.GradientTape() as tape:
    y = x ** 2
print(tape.gradient(y, x))
"""
        ),
        Valid(
            """
def not_a_tape(obj, y, x):
    obj.gradient(y, x)  # an unknown object: not a tape
"""
        ),
    )
    invalid = (
        Invalid(
            """
import tensorflow as tf

def train_step(model, optimizer, x, y):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x) - y))
    tape.gradient(loss, model.trainable_variables)  # expect: TPX001
"""
        ),
        Invalid(
            """
from tensorflow import GradientTape

def jac(f, x):
    with GradientTape() as g:
        g.watch(x)
        y = f(x)
    g.jacobian(y, x)  # expect: TPX001
"""
        ),
    )

    def check(self, model):
        for tape in model.tapes:
            for use in tape.differentiations():
                if isinstance(model.parent(use.node), cst.Expr):
                    yield Finding(use.node, self.message.format(tape=tape.name, method=use.method))
