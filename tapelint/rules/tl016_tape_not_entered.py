from __future__ import annotations

from tapelint.lazy_libcst import cst
from tapelint.rules.base import Finding, Invalid, Rule, Valid
from tapelint.semantic.tapes import USE_METHODS


class TapeNotEntered(Rule):
    """
    ## What it does
    Checks for a `tf.GradientTape` that is created with `tape = tf.GradientTape()` and asked for a
    `gradient`/`jacobian`/`batch_jacobian`, but is never entered with a `with` statement.

    ## Why is this bad?
    Creating a tape does not start recording: only `with tape:` (its `__enter__`) does. A tape that was
    never entered has recorded nothing, and its `gradient` call raises `RuntimeError` with a misleading
    message about non-persistent tapes ("A non-persistent GradientTape can only be used to compute one
    set of gradients (or jacobians)"), even on the very first call; its `watch` raises `AttributeError`.

    ## Example
    ```python
    import tensorflow as tf

    w = tf.Variable(2.0)
    tape = tf.GradientTape()
    loss = (w - 5.0) ** 2
    grad = tape.gradient(loss, w)  # expect: TL016
    ```

    ## Use instead
    ```python
    import tensorflow as tf

    w = tf.Variable(2.0)
    with tf.GradientTape() as tape:
        loss = (w - 5.0) ** 2
    grad = tape.gradient(loss, w)
    ```

    ## References
    - [tf.GradientTape](https://www.tensorflow.org/api_docs/python/tf/GradientTape)
    - [Introduction to gradients and automatic differentiation](https://www.tensorflow.org/guide/autodiff)
    """

    code = "TL016"
    needs_indirect_callers = False  # what its trigger code refers to, and the direct callers of that code
    name = "tape-not-entered"
    summary = "A GradientTape computes gradients but was never entered with `with`"
    message = (
        "tape `{tape}` (created at line {line}) is never entered with `with {tape}:`, so it records nothing "
        "and {failure} at run time; run the forward pass inside `with tf.GradientTape() as {tape}:`"
    )
    gradient_failure = "`{tape}.{method}` raises RuntimeError"
    watch_failure = "`{tape}.watch` (line {watch_line}) raises AttributeError"

    valid = (
        Valid(
            """
import tensorflow as tf

def train_step(model, optimizer, x, y):
    tape = tf.GradientTape()
    with tape:
        loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
"""
        ),
        Valid(
            """
import contextlib
import tensorflow as tf

x = tf.Variable(3.0)
tape = tf.GradientTape()
with contextlib.ExitStack() as stack:
    stack.enter_context(tape)  # entered through another context manager
    y = x * x
dy_dx = tape.gradient(y, x)
"""
        ),
        Valid(
            """
import tensorflow as tf

def make_tape():
    return tf.GradientTape(persistent=True)

def forward(tape, model, x):
    tape.__enter__()
    y = model(x)
    tape.__exit__(None, None, None)
    return y

x = tf.Variable([1.0, 2.0])
t = tf.GradientTape()
y = forward(t, lambda v: v * v, x)  # the tape is handed to code that enters it
g = t.gradient(y, x)
"""
        ),
    )
    invalid = (
        Invalid(
            """
import tensorflow as tf

@tf.function
def train_step(model, optimizer, images, labels):
    tape = tf.GradientTape()
    predictions = model(images, training=True)
    loss = tf.keras.losses.sparse_categorical_crossentropy(labels, predictions)
    gradients = tape.gradient(loss, model.trainable_variables)  # expect: TL016
    optimizer.apply_gradients(zip(gradients, model.trainable_variables))
"""
        ),
        Invalid(
            """
from tensorflow import GradientTape

def jacobian(f, x):
    t = GradientTape(persistent=True)
    t.watch(x)
    y = f(x)
    j = t.jacobian(y, x)  # expect: TL016
    del t
    return j
"""
        ),
    )

    @classmethod
    def screen(cls, facts):
        return facts.differentiates_on_tape

    def check(self, model):
        for tape in model.tapes:
            if tape.entered or tape.binding is None:
                continue
            diffs = tape.differentiations()
            if not diffs or not self._only_tape_methods(model, tape):
                continue
            first = diffs[0]
            watches = [w for w in tape.uses_of("watch") if model.before(w.node, first.node)]
            if watches:
                failure = self.watch_failure.format(tape=tape.name, watch_line=model.line_of(watches[0].node))
            else:
                failure = self.gradient_failure.format(tape=tape.name, method=first.method)
            yield Finding(first.node, self.message.format(
                tape=tape.name, line=model.line_of(tape.create), failure=failure))

    @staticmethod
    def _only_tape_methods(model, tape) -> bool:
        """Every load of the tape's name calls one of its known methods (or is `del`eted): it is never
        handed to other code, returned, stored, or entered by hand with `__enter__`."""
        for name in model.loads_of(tape.binding):
            parent = model.parent(name)
            if isinstance(parent, cst.Del):
                continue
            if not (isinstance(parent, cst.Attribute) and parent.value is name and parent.attr.value in USE_METHODS):
                return False
            if not isinstance(model.parent(parent), cst.Call):
                return False
        return True
