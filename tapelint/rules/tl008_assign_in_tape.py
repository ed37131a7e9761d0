from __future__ import annotations

import ast

from tapelint.lazy_libcst import cst
from tapelint.rules.base import Finding, Invalid, Rule, Valid
from tapelint.screen import call_pattern
from tapelint.screen_tapes import DIFFERENTIATE, before
from tapelint.semantic.values import Kind

_ASSIGN_METHODS = frozenset({"assign", "assign_add", "assign_sub", "scatter_update", "scatter_add",
                             "scatter_sub", "scatter_nd_update", "scatter_nd_add", "scatter_nd_sub"})
_ASSIGN_CALL = call_pattern(*sorted(_ASSIGN_METHODS))


class AssignInTape(Rule):
    """
    ## What it does
    Checks for `v.assign(...)`, `v.assign_add(...)` and `v.assign_sub(...)` (and the `scatter_*` updates)
    that run while a `tf.GradientTape` records, on a variable `v` that is a source of that tape's
    `gradient` call (named directly, or in a list or tuple of sources), when the assigned value is
    computed from a variable, a gradient or a source (`w.assign(w * mask)`, `w.assign_sub(lr * g)`).
    Re-initialising a source with a constant or a random draw is not reported.

    ## Why is this bad?
    Assigning to a variable is not a differentiable operation: the tape records no path from the
    assigned value to the variable. Everything computed before the assignment (a mask, a projection, a
    moving average) is ignored by the gradient, which is taken as if the new value had fallen from the
    sky, and reads of `v` before and after the assignment see different values. The usual intent is
    either a differentiable transformation (compute a tensor `v_new = ...` and use it in the loss) or an
    update that belongs after the gradient step, outside the `with` block.

    ## Example
    ```python
    import tensorflow as tf

    w = tf.Variable(tf.random.normal([784, 10]))
    mask = tf.cast(tf.random.uniform([784, 10]) > 0.5, tf.float32)

    def train_step(x, y, optimizer):
        with tf.GradientTape() as tape:
            w.assign(w * mask)  # expect: TL008
            logits = tf.matmul(x, w)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        grad = tape.gradient(loss, w)
        optimizer.apply_gradients([(grad, w)])
    ```

    ## Use instead
    ```python
    import tensorflow as tf

    w = tf.Variable(tf.random.normal([784, 10]))
    mask = tf.cast(tf.random.uniform([784, 10]) > 0.5, tf.float32)

    def train_step(x, y, optimizer):
        with tf.GradientTape() as tape:
            w_masked = w * mask  # differentiable: the gradient flows through the mask
            logits = tf.matmul(x, w_masked)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        grad = tape.gradient(loss, w)
        optimizer.apply_gradients([(grad, w)])
        w.assign(w * mask)  # keep the pruned weights at zero, after the update
    ```

    ## References
    - [Introduction to gradients and automatic differentiation: getting a gradient of None](https://www.tensorflow.org/guide/autodiff#getting_a_gradient_of_none)
    - [tf.Variable.assign](https://www.tensorflow.org/api_docs/python/tf/Variable#assign)
    """

    code = "TL008"
    needs_indirect_callers = False  # what its trigger code refers to, and the direct callers of that code
    name = "assign-in-tape"
    summary = "A gradient source is assigned to while the tape records"
    message = (
        "a gradient source is assigned to while the tape records: the assignment is not differentiable, so "
        "the gradient ignores how the new value was computed; compute a tensor and use it, or assign after "
        "the gradient step"
    )
    detail = (
        "`{call}` assigns to `{var}` while tape `{tape}` records, and `{var}` is a source of "
        "`{tape}.{method}` at line {line}: an assignment is not differentiable, so the gradient treats the "
        "assigned value as a fresh leaf (the mask, clip or projection that produced it is ignored) and the "
        "optimizer step then moves `{var}` off it; compute a tensor (`{var}_new = ...`) and use it in the "
        "loss, or apply the assignment after the optimizer step, outside the `with` block"
    )

    valid = (
        Valid(
            """
import tensorflow as tf

w = tf.Variable(tf.ones([3]))
step = tf.Variable(0, dtype=tf.int64)
opt = tf.keras.optimizers.Adam(1e-3)

@tf.function
def train_step(x):
    with tf.GradientTape() as tape:
        step.assign_add(1)  # a counter, not a source
        loss = tf.reduce_sum(w * x)
    grad = tape.gradient(loss, w)
    opt.apply_gradients([(grad, w)])
    w.assign(tf.clip_by_value(w, -1.0, 1.0))  # after the update
"""
        ),
        Valid(
            """
import tensorflow as tf

image = tf.Variable(tf.random.uniform([1, 64, 64, 3]))

def deep_dream_step(model, optimizer):
    with tf.GradientTape() as tape:
        activations = model(image)
        loss = tf.reduce_mean(activations)
        with tape.stop_recording():
            image.assign(tf.clip_by_value(image, 0.0, 1.0))
    grad = tape.gradient(loss, image)
    optimizer.apply_gradients([(-grad, image)])
"""
        ),
        Valid(
            """
import tensorflow as tf

class BatchStats(tf.keras.layers.Layer):
    def build(self, shape):
        self.moving_mean = self.add_weight(shape=shape[-1:], trainable=False)

    def call(self, x):
        self.moving_mean.assign(0.9 * self.moving_mean + 0.1 * tf.reduce_mean(x, 0))
        return x - self.moving_mean

def train_step(model, optimizer, x):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model(x) ** 2)
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
"""
        ),
        Valid(
            """
import tensorflow as tf

def pgd_random_start(model, x, y, eps=0.03, steps=10):
    delta = tf.Variable(tf.zeros_like(x))
    for _ in range(steps):
        with tf.GradientTape() as tape:
            delta.assign(tf.random.uniform(tf.shape(x), -eps, eps))  # a fresh random start
            loss = tf.keras.losses.sparse_categorical_crossentropy(y, model(x + delta))
        grad = tape.gradient(loss, delta)
        x = x + eps * tf.sign(grad)
    return x
"""
        ),
    )
    invalid = (
        Invalid(
            """
import tensorflow as tf

w = tf.Variable(0.0)
b = tf.Variable(0.0)
with tf.GradientTape(persistent=True) as tape:
    b.assign_add(0.5 * w)  # expect: TL008
    loss = (w * 2.0 + b - 1.0) ** 2
dw, db = tape.gradient(loss, [w, b])
del tape
"""
        ),
        Invalid(
            """
import tensorflow as tf

class Projected(tf.Module):
    def __init__(self):
        self.w = tf.Variable(tf.ones([4, 4]))

    def step(self, x, lr):
        with tf.GradientTape() as tape:
            self.w.assign(tf.linalg.normalize(self.w, axis=0)[0])  # expect: TL008
            loss = tf.reduce_sum(tf.matmul(x, self.w))
        g = tape.gradient(loss, self.w)
        self.w.assign_sub(lr * g)
"""
        ),
        Invalid(
            """
import tensorflow as tf

w = tf.Variable(tf.random.normal([8, 1]))

def maml_outer_step(x_train, y_train, x_val, y_val, inner_lr=0.01):
    with tf.GradientTape() as outer_tape:
        with tf.GradientTape() as inner_tape:
            inner_loss = tf.reduce_mean((tf.matmul(x_train, w) - y_train) ** 2)
        g = inner_tape.gradient(inner_loss, w)
        w.assign_sub(inner_lr * g)  # expect: TL008
        val_loss = tf.reduce_mean((tf.matmul(x_val, w) - y_val) ** 2)
    return outer_tape.gradient(val_loss, w)
"""
        ),
    )

    @classmethod
    def screen(cls, facts):
        if not facts.differentiates_on_tape or not _ASSIGN_CALL.search(facts.text):
            return False
        sites = facts.tapes
        if sites.uncertain:
            return True
        # `check`: an assignment with an argument to read (`_computed_from_state`) on a name or attribute
        # chain (`same_reference`)...
        calls = [c for c in facts.calls_where(_ASSIGN_CALL) if isinstance(c.func, ast.Attribute)
                 and c.func.attr in _ASSIGN_METHODS and _spelling(c.func.value) is not None
                 and any(isinstance(n, ast.Name) for a in (*c.args, *c.keywords) for n in ast.walk(a))]
        if not calls:
            return False
        items_of: dict[int, set[str]] = {}
        for tape in sites.tapes:
            if tape.name is None:
                continue
            for use in sites.uses_of(tape, *DIFFERENTIATE):
                if id(use) not in items_of:
                    items_of[id(use)] = _source_spellings(facts, use.sources)
                items = items_of[id(use)]
                # ... that the tape records, in the function of a later differentiation of that tape
                # whose spelled-out sources name it
                if items and any(_spelling(c.func.value) in items and sites.records(tape, c) is True
                                 and sites.function_of(c) is use.context.function and not before(use.node, c)
                                 for c in calls):
                    return True
        return False

    def check(self, model):
        reported: set[cst.CSTNode] = set()
        calls = [c for c in model.nodes(cst.Call)
                 if isinstance(c.func, cst.Attribute) and c.func.attr.value in _ASSIGN_METHODS]
        if not calls:
            return
        for tape in model.tapes:
            if not tape.entered or tape.name is None:
                continue
            for use in tape.differentiations():
                items = model.tapes.source_items(use)
                if not items:
                    continue
                for call in calls:
                    if call in reported or model.tapes.records(tape, call) is not True:
                        continue
                    if not model.before(call, use.node) or model.function_of(call) is not model.function_of(use.node):
                        continue
                    var = call.func.value
                    if not any(model.same_reference(var, item) for item in items):
                        continue
                    if not _computed_from_state(model, call, items):
                        continue  # a re-initialisation (`delta.assign(tf.random.uniform(...))`): nothing to differentiate
                    reported.add(call)
                    yield Finding(call, self.detail.format(
                        call=model.code(call), var=model.code(var), tape=tape.name, method=use.method,
                        line=model.line_of(use.node),
                    ))



def _computed_from_state(model, call, items) -> bool:
    """The assigned value is computed from a variable, a gradient, or a source: something whose
    gradient the assignment hides. Constants, random draws and data are not."""
    for arg in call.args:
        for name in model.names_in(arg.value):
            if model.values.kind(name) in (Kind.VARIABLE, Kind.GRADIENT, Kind.VARIABLE_LIST):
                return True
            if any(model.same_reference(name, item) for item in items):
                return True
        for attr in model.tree.descendants(arg.value, cst.Attribute):
            if model.values.is_self_variable(attr) or any(model.same_reference(attr, item) for item in items):
                return True
    return False


def _spelling(expr: ast.expr) -> str | None:
    """`self.w` for the chain `self.w`; None for anything but a name and its attributes."""
    if isinstance(expr, ast.Attribute):
        inner = _spelling(expr.value)
        return None if inner is None else f"{inner}.{expr.attr}"
    return expr.id if isinstance(expr, ast.Name) else None


def _source_spellings(facts, sources: ast.expr | None) -> set[str]:
    """The spellings of every item ``source_items`` can give for ``sources``: the chain itself, the
    chains listed in a list or tuple literal, and, for a name, those listed in any literal some
    assignment of that name (anywhere: scopes are not resolved here) holds."""
    if isinstance(sources, (ast.List, ast.Tuple)):
        return {s for s in map(_spelling, sources.elts) if s is not None}
    spelling = _spelling(sources) if sources is not None else None
    if spelling is None:
        return set()
    out = {spelling}
    if isinstance(sources, ast.Name):
        for _, store in facts.stores_by_name.get(sources.id, ()):
            out.update(s for node in ast.walk(store.value) if isinstance(node, (ast.List, ast.Tuple))
                       for s in map(_spelling, node.elts) if s is not None)
    return out
