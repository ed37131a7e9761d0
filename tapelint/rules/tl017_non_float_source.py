from __future__ import annotations

from tapelint.lazy_libcst import cst
from tapelint.rules.base import Finding, Invalid, Rule, Valid

_FAMILY_WORDS = {"int": "an integer", "bool": "a boolean", "string": "a string"}


class NonFloatSource(Rule):
    """
    ## What it does
    Checks for a source or a target of `tape.gradient`/`jacobian`/`batch_jacobian` that is certainly an
    integer or boolean tensor: `tf.constant(3)`, `tf.constant([1, 2])` (integer literals and no float
    `dtype`), `tf.range(10)`, `tf.Variable(0)`, `tf.cast(x, tf.int32)`, `tf.argmax(...)`, a comparison,
    or anything created with `dtype=tf.int32`/`tf.bool`.

    ## Why is this bad?
    Gradients are only defined for floating-point (and complex) tensors. A tape does not watch an integer
    or boolean source (`tape.watch` only logs a warning), and no gradient flows through a cast to an
    integer or through `argmax`, so the gradient is `None`, silently. Writing `3` instead of `3.0` is
    enough to get there.

    ## Example
    ```python
    import tensorflow as tf

    x = tf.constant(3)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    dy_dx = tape.gradient(y, x)  # expect: TL017
    ```

    ## Use instead
    ```python
    import tensorflow as tf

    x = tf.constant(3.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    dy_dx = tape.gradient(y, x)
    ```

    ## References
    - [Gradients of integers and strings are None](https://www.tensorflow.org/guide/autodiff#4_took_gradients_through_an_integer_or_string)
    - [tf.GradientTape.watch](https://www.tensorflow.org/api_docs/python/tf/GradientTape#watch)
    """

    code = "TL017"
    needs_indirect_callers = False  # what its trigger code refers to, and the direct callers of that code
    name = "non-float-source"
    summary = "A gradient source or target is an integer or boolean tensor"
    message = (
        "{role} `{expr}` of `{tape}.{method}` is {family} tensor{origin}: tapes only differentiate "
        "floating-point tensors, so this gradient is always None; {fix}"
    )
    source_fix = (
        "create it with a floating-point dtype (a float literal such as `3.0`, or `dtype=tf.float32`), or "
        "watch and differentiate `tf.cast(..., tf.float32)` instead"
    )
    target_fix = "differentiate the floating-point value before it is cast, rounded or compared"

    valid = (
        Valid(
            """
import tensorflow as tf

x = tf.range(5, dtype=tf.float32)
with tf.GradientTape() as tape:
    tape.watch(x)
    y = tf.reduce_sum(x ** 2)
dy_dx = tape.gradient(y, x)
"""
        ),
        Valid(
            """
import tensorflow as tf

def train_step(model, optimizer, images, labels):
    labels = tf.cast(labels, tf.int32)  # integer labels are data, not sources
    with tf.GradientTape() as tape:
        logits = model(images, training=True)
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
"""
        ),
        Valid(
            """
import tensorflow as tf

x = tf.Variable([1, 2, 3], dtype=tf.float32)
step = tf.Variable(0, trainable=False)
with tf.GradientTape() as g:
    y = tf.reduce_sum(tf.cast(x, tf.float64) ** 2)
grad = g.gradient(y, [x])
step.assign_add(1)
"""
        ),
    )
    invalid = (
        Invalid(
            """
import tensorflow as tf

idx = tf.range(10)
with tf.GradientTape() as tape:
    tape.watch(idx)
    y = tf.reduce_sum(tf.gather(tf.ones([10]), idx))
g = tape.gradient(y, idx)  # expect: TL017
"""
        ),
        Invalid(
            """
import tensorflow as tf

w = tf.Variable(0.5)
def step(x):
    with tf.GradientTape() as tape:
        logits = w * x
        prediction = tf.cast(logits > 0.0, tf.int32)
    return tape.gradient(prediction, w)  # expect: TL017
"""
        ),
        Invalid(
            """
import tensorflow as tf

a = tf.Variable(2)
b = tf.Variable(3.0)
with tf.GradientTape() as tape:
    c = tf.cast(a, tf.float32) * b
da, db = tape.gradient(c, [a, b])  # expect: TL017
"""
        ),
    )

    @classmethod
    def screen(cls, facts):
        return facts.differentiates_on_tape

    def check(self, model):
        dtypes = model.dtypes
        for tape in model.tapes:
            for use in tape.differentiations():
                reported = False
                # Sources first: an integer target computed from an integer source is one bug, not two.
                for role, expr in (("source", use.sources), ("target", use.target)):
                    if role == "target" and reported:
                        break
                    for element in model.elements(expr) or ():
                        family = dtypes.tensor_family(element)
                        if family not in _FAMILY_WORDS:
                            continue
                        reported = True
                        yield Finding(element, self.message.format(
                            role=role, expr=model.code(element), tape=tape.name or "tape", method=use.method,
                            family=_FAMILY_WORDS[family], origin=self._origin(model, element),
                            fix=self.source_fix if role == "source" else self.target_fix,
                        ))

    @staticmethod
    def _origin(model, expr) -> str:
        """`` (`tf.range(10)` at line 3)`` for a name bound once."""
        if isinstance(expr, cst.Name):
            bindings = model.reaching(expr) or []
            if len(bindings) == 1 and bindings[0].value is not None:
                b = bindings[0]
                return f" (`{model.code(b.value)}` at line {model.line_of(b.node)})"
        return ""
