from __future__ import annotations

import ast

from tapelint.lazy_libcst import cst
from tapelint.rules.base import Finding, Invalid, Rule, Valid
from tapelint.screen_tapes import before
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
        if not facts.differentiates_on_tape:
            return False
        sites = facts.tapes
        if sites.uncertain:
            return True
        # `check`: a named tape made by an assignment (one made by a `with` is entered), differentiated,
        # whose name is only ever loaded to call one of its methods (`_only_tape_methods`: `with t:`
        # is such a load, so which tape a `with` enters need not be asked here)
        diffs = sites.differentiations()
        for tape in sites.tapes:
            if tape.name is None or not isinstance(sites.parent(tape.call), ast.Assign):
                continue
            if any(tape in sites.tapes_reaching(use) for use in diffs) and not _handed_on(sites, tape):
                return True
        return False

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


# -- the screen, on CPython's tree ----------------------------------------------------------------------------
def _handed_on(sites, tape) -> bool:
    """Some load of the tape's name that its binding certainly reaches does not call one of its methods
    (entered by `with t:`, passed on, returned, stored): one in the tape's own scope, after its
    assignment, before every other binding of the name there or in the scopes within it."""
    assignment = sites.parent(tape.call)
    scope = tape.function
    nodes = list(ast.walk(scope if scope is not None else sites.tree))
    others = [node for node in nodes if node is not assignment.targets[0] and _binds(node, tape.name)]
    for node in nodes:
        if isinstance(node, ast.Name) and node.id == tape.name and isinstance(node.ctx, ast.Load) \
                and (assignment.end_lineno, assignment.end_col_offset) <= (node.lineno, node.col_offset) \
                and all(before(node, other) for other in others) and sites.scope_of(node) is scope \
                and not _calls_a_method(sites, node):
            return True
    return False


def _binds(node: ast.AST, name: str) -> bool:
    """``node`` binds ``name`` (or declares it `global`/`nonlocal`)."""
    if isinstance(node, ast.Name):
        return node.id == name and not isinstance(node.ctx, ast.Load)
    if isinstance(node, ast.arg):
        return node.arg == name
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.ExceptHandler, ast.MatchAs,
                         ast.MatchStar)):
        return node.name == name
    if isinstance(node, ast.alias):
        return (node.asname or node.name.split(".")[0]) == name
    if isinstance(node, ast.MatchMapping):
        return node.rest == name
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        return name in node.names
    return False


def _calls_a_method(sites, name: ast.Name) -> bool:
    """The load ``name`` calls one of the tape methods: `t.gradient(...)`."""
    attribute = sites.parent(name)
    if not (isinstance(attribute, ast.Attribute) and attribute.attr in USE_METHODS):
        return False
    call = sites.parent(attribute)
    return isinstance(call, ast.Call) and call.func is attribute
