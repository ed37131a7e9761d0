from __future__ import annotations

import ast

from tapelint.lazy_libcst import cst
from tapelint.rules.base import Finding, Invalid, Rule, Valid
from tapelint.screen import TENSOR_CALLS
from tapelint.screen_tapes import COMPREHENSIONS, DIFFERENTIATE, before, recorded_path
from tapelint.semantic.values import Kind

# Calls that deliberately cut the gradient, or make a new variable: not a transformation to differentiate.
_NOT_A_TRANSFORM = frozenset({"tensorflow.stop_gradient", "tensorflow.Variable", "tensorflow.shape",
                              "tensorflow.size", "tensorflow.rank", "tensorflow.print"})
_OPERAND_KEYWORDS = frozenset({"x", "t", "a", "input", "tensor"})


class WeightsTransformedOutsideTape(Rule):
    """
    ## What it does
    Checks for a gradient source that is transformed (scaled, masked, pruned, clipped, quantized) before
    a `tf.GradientTape` starts recording, when the transformed value is what the recorded computation
    uses on its way to the target: `w_pruned = w * mask` outside the `with` block, `loss = f(w_pruned)`
    inside it, and `tape.gradient(loss, w)`.

    ## Why is this bad?
    The tape only records what runs inside its `with` block. The transformation ran before, so the tape
    sees `w_pruned` as a constant with no connection to `w`: `tape.gradient(loss, w)` returns `None`,
    `apply_gradients` fails with "No gradients provided for any variable" or skips `w`, and the weights
    never learn.

    When the recorded computation also reads `w` itself, the transformed copy is usually a deliberate
    constant (an anchor `w0 = tf.identity(w)` for a proximal term, a snapshot, a moving average) and
    nothing is reported.

    ## Example
    ```python
    import tensorflow as tf

    w = tf.Variable(tf.random.normal([256, 10]))
    mask = tf.cast(tf.abs(w) > 0.05, tf.float32)

    def train_step(x, y, optimizer):
        w_pruned = w * mask  # expect: TL009
        with tf.GradientTape() as tape:
            logits = tf.matmul(x, w_pruned)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        grad = tape.gradient(loss, w)
        optimizer.apply_gradients([(grad, w)])
    ```

    ## Use instead
    ```python
    import tensorflow as tf

    w = tf.Variable(tf.random.normal([256, 10]))
    mask = tf.cast(tf.abs(w) > 0.05, tf.float32)

    def train_step(x, y, optimizer):
        with tf.GradientTape() as tape:
            w_pruned = w * mask
            logits = tf.matmul(x, w_pruned)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        grad = tape.gradient(loss, w)
        optimizer.apply_gradients([(grad, w)])
    ```

    ## References
    - [Introduction to gradients and automatic differentiation: controlling what the tape watches](https://www.tensorflow.org/guide/autodiff#controlling_what_the_tape_watches)
    - [Magnitude-based weight pruning with Keras](https://www.tensorflow.org/model_optimization/guide/pruning/pruning_with_keras)
    """

    code = "TL009"
    needs_indirect_callers = False  # what its trigger code refers to, and the direct callers of that code
    name = "weights-transformed-outside-tape"
    summary = "A gradient source is transformed before the tape records, and the result feeds the target"
    message = (
        "a gradient source is transformed outside the tape and the result feeds the target: the tape did not "
        "record the transformation, so the gradient is None; compute the transformed value inside the tape"
    )
    detail = (
        "`{name} = {value}` transforms `{source}`, a source of `{tape}.{method}` at line {line}, before tape "
        "`{tape}` starts recording, and `{name}` feeds the target `{target}` inside it: the tape did not "
        "record the transformation and nothing on the way to the target reads `{source}` itself, so "
        "`{tape}.{method}` returns None for `{source}`; move `{name} = ...` into the `with` block"
    )

    valid = (
        Valid(
            """
import tensorflow as tf

w = tf.Variable(tf.random.normal([8, 4]))
mask = tf.ones([8, 4])

def step(x, optimizer):
    with tf.GradientTape() as tape:
        w_masked = w * mask
        loss = tf.reduce_sum(tf.matmul(x, w_masked) ** 2)
    grad = tape.gradient(loss, w)
    optimizer.apply_gradients([(grad, w)])
    w.assign(w * mask)  # re-apply the mask after the update: fine
"""
        ),
        Valid(
            """
import tensorflow as tf

w = tf.Variable(tf.ones([3]))
w_target = tf.identity(w)

def byol_like_step(x, tau=0.99):
    global w_target
    w_target = tau * w_target + (1 - tau) * w  # a deliberate constant (moving average)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum((x * w - tf.stop_gradient(x * w_target)) ** 2)
    return tape.gradient(loss, w)
"""
        ),
        Valid(
            """
import tensorflow as tf

def straight_through(w, x):
    w_bin = tf.sign(w)  # the binarized weights are the source themselves
    with tf.GradientTape() as tape:
        tape.watch(w_bin)
        loss = tf.reduce_sum(tf.matmul(x, w_bin))
    return tape.gradient(loss, w_bin)

def scaled(w, x):
    w_half = w * 0.5
    with tf.GradientTape() as tape:
        tape.watch(w)
        loss = tf.reduce_sum(x * w)
        report = tf.reduce_sum(w_half)  # not on the way to the target
    return tape.gradient(loss, w), report
"""
        ),
        Valid(
            """
import tensorflow as tf

w = tf.Variable(tf.random.normal([10, 1]))

def fedprox_local_step(x, y, optimizer, mu=0.01):
    w_global = tf.identity(w)  # the server's weights: a constant anchor on purpose
    with tf.GradientTape() as tape:
        pred = tf.matmul(x, w)
        loss = tf.reduce_mean((pred - y) ** 2) + mu / 2 * tf.reduce_sum((w - w_global) ** 2)
    grad = tape.gradient(loss, w)
    optimizer.apply_gradients([(grad, w)])
"""
        ),
    )
    invalid = (
        Invalid(
            """
import tensorflow as tf

kernel = tf.Variable(tf.random.normal([3, 3]))
bias = tf.Variable(tf.zeros([3]))
x = tf.random.normal([16, 3])
for step in range(10):
    clipped = tf.clip_by_value(kernel, -0.5, 0.5)  # expect: TL009
    with tf.GradientTape() as tape:
        y = tf.matmul(x, clipped) + bias
        loss = tf.reduce_mean(y ** 2)
    dk, db = tape.gradient(loss, [kernel, bias])
    kernel.assign_sub(0.01 * dk)
    bias.assign_sub(0.01 * db)
"""
        ),
        Invalid(
            """
import tensorflow as tf

class QuantizedDense(tf.Module):
    def __init__(self, n_in, n_out):
        self.w = tf.Variable(tf.random.normal([n_in, n_out]))
        self.scale = 0.1

    def train_step(self, x, y, optimizer):
        w_q = tf.round(self.w / self.scale) * self.scale  # expect: TL009
        with tf.GradientTape() as tape:
            pred = tf.matmul(x, w_q)
            loss = tf.reduce_mean(tf.square(pred - y))
        grads = tape.gradient(loss, [self.w])
        optimizer.apply_gradients(zip(grads, [self.w]))
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
        assigns = [s for s in facts.stores if isinstance(s, ast.Assign)]
        for tape in sites.tapes:
            if not tape.entered or tape.name is None:
                continue
            stores = None
            for use in sites.uses_of(tape, *DIFFERENTIATE):
                # `check`: sources spelled out (`source_items`)...
                if use.target is None or not isinstance(use.sources, (ast.Name, ast.Attribute, ast.List, ast.Tuple)):
                    continue
                # ... a name read on the path from the target through what the tape records
                # (`recorded_dependencies`) ...
                if stores is None:
                    stores = sites.recorded_stores(tape)
                read = {n.id for expr in recorded_path(stores, use.target) for n in ast.walk(expr)
                        if isinstance(n, ast.Name)}
                # ... bound before the block to a transformation (`_transformed_source`) of one of them.
                function = sites.function_of(use.node)
                operands = {_dotted(leaf) for assign in assigns for target in assign.targets
                            if isinstance(target, ast.Name) and target.id in read
                            and _may_transform(sites, tape, function, assign, target)
                            for leaf in _operand_leaves(facts, assign.value)} - {None}
                if operands and operands & _source_keys(assigns, use.sources):
                    return True
        return False

    def check(self, model):
        reported: set[cst.CSTNode] = set()
        for tape in model.tapes:
            if not tape.entered or tape.name is None:
                continue
            for use in tape.differentiations():
                items = model.tapes.source_items(use)
                if not items or use.target is None:
                    continue
                deps = model.tapes.recorded_dependencies(tape, use.target)
                exprs = [use.target] + [b.statement.value if b.kind == "augassign" else (b.value or b.statement.value)
                                        for b in deps]
                sources_and_watched = [i for i in items if isinstance(i, cst.Name)] + \
                    [n for w in tape.uses_of("watch") for n in model.names_in(w.node)]
                # A source the recorded computation also reads directly has a gradient; a transformed copy
                # next to it is usually a deliberate constant (an anchor `w0 = tf.identity(w)`, a snapshot).
                read = [i for i in items if any(model.same_reference(r, i) for e in exprs for r in _reads(model, e))]
                items = [i for i in items if i not in read]
                if not items:
                    continue
                for expr in exprs:
                    for name in model.names_in(expr):
                        for b in model.reaching(name) or ():
                            if b.node in reported or b.kind != "assign" or b.value is None:
                                continue
                            if model.tapes.records(tape, b.node) is not False:
                                continue
                            if not isinstance(model.parent(b.node), cst.AssignTarget):
                                continue  # unpacking
                            if model.function_of(b.node) is not model.function_of(use.node):
                                continue
                            if not any(model.before(b.node, w) for w in tape.withs):
                                continue
                            if any(b in (model.reaching(n) or ()) for n in sources_and_watched):
                                continue  # the transformed value is itself a source, or watched
                            source = self._transformed_source(model, b, items)
                            if source is None:
                                continue
                            reported.add(b.node)
                            yield Finding(b.value, self.detail.format(
                                name=b.name, value=model.code(b.value), source=model.code(source), tape=tape.name,
                                method=use.method, line=model.line_of(use.node), target=model.code(use.target),
                            ))

    @staticmethod
    def _transformed_source(model, binding, items):
        """The source that ``binding``'s value transforms into a plain tensor, if any."""
        value = binding.value
        if any(n.value == binding.name for n in model.names_in(value)):
            return None  # a recurrence (moving average): deliberately outside
        if not model.values.is_tensor_result(value) or model.values.kind(value) is Kind.VARIABLE:
            return None
        for call in [value] + model.tree.descendants(value, cst.Call):
            if isinstance(call, cst.Call) and model.call_name(call) in _NOT_A_TRANSFORM:
                return None
        for leaf in _operands(model, value):
            for item in items:
                if model.same_reference(leaf, item):
                    return item
        return None


def _source_keys(assigns: list[ast.Assign], sources: ast.expr | None) -> set[tuple[str, ...]]:
    """The dotted names (`w`, `self.w`) that the items ``source_items`` gives may be spelled as: the
    sources, or the elements of their list; for a name, also the elements of any list or tuple literal
    in a value assigned to it (`params = [w, b]`, unpacked ones too)."""
    if isinstance(sources, (ast.List, ast.Tuple)):
        if not all(isinstance(e, (ast.Name, ast.Attribute)) for e in sources.elts):
            return set()  # (`source_items` is None)
        items = list(sources.elts)
    elif isinstance(sources, ast.Name):
        items = [sources] + [e for a in assigns if any(isinstance(t, ast.Name) and t.id == sources.id
                                                       for target in a.targets for t in ast.walk(target))
                             for literal in ast.walk(a.value) if isinstance(literal, (ast.List, ast.Tuple))
                             for e in literal.elts]
    elif isinstance(sources, ast.Attribute):
        items = [sources]
    else:
        return set()
    return {key for key in map(_dotted, items) if key is not None}


def _may_transform(sites, tape, function, assign: ast.Assign, target: ast.Name) -> bool:
    """`check` and `_transformed_source` may take ``target = value`` for a transformation: a plain
    target, in the function of the differentiation, before a `with` of the tape and outside what it
    records; a value that is no recurrence (`w = w * mask`) and no attribute (not a tensor result)."""
    if sites.function_of(assign) is not function or sites.records(tape, assign) is not False:
        return False
    if not any(before(target, w) for w in tape.withs) or isinstance(assign.value, ast.Attribute):
        return False
    return target.id not in _loads(assign.value)


def _operand_leaves(facts, expr: ast.expr) -> list[ast.expr]:
    """What ``_operands`` may give, on CPython's tree: through every call that an import can make a
    TensorFlow or `keras.ops` one (a superset of those the model resolves so)."""
    if isinstance(expr, ast.BinOp):
        return _operand_leaves(facts, expr.left) + _operand_leaves(facts, expr.right)
    if isinstance(expr, ast.UnaryOp):
        return _operand_leaves(facts, expr.operand)
    if isinstance(expr, ast.Call) and facts.may_refer_under(expr.func, TENSOR_CALLS):
        args = [a for a in expr.args if not isinstance(a, ast.Starred)]
        args += [k.value for k in expr.keywords if k.arg in _OPERAND_KEYWORDS]
        return [leaf for a in args for leaf in _operand_leaves(facts, a)]
    return [expr]


def _loads(expr: ast.expr) -> set[str]:
    """Names ``expr`` certainly loads itself (``model.names_in``): not in a lambda or comprehension."""
    out: set[str] = set()
    todo = [expr]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):  # (not a walrus's target)
                out.add(node.id)
        elif not isinstance(node, (ast.Lambda, *COMPREHENSIONS)):
            todo.extend(ast.iter_child_nodes(node))
    return out


def _dotted(expr: ast.expr) -> tuple[str, ...] | None:
    """`("self", "w")` for `self.w`; None for what is no name or attribute chain on one (what
    ``model.same_reference`` can never match)."""
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if not isinstance(expr, ast.Name):
        return None
    parts.append(expr.id)
    return tuple(reversed(parts))


def _operands(model, expr):
    """Values that ``expr`` computes on directly: leaves of arithmetic and positional arguments of
    TensorFlow ops, recursively."""
    if isinstance(expr, cst.BinaryOperation):
        return _operands(model, expr.left) + _operands(model, expr.right)
    if isinstance(expr, cst.UnaryOperation):
        return _operands(model, expr.expression)
    if isinstance(expr, cst.Call) and (model.call_name(expr) or "").startswith(("tensorflow.", "keras.ops.")):
        out = []
        for arg in expr.args:
            if not arg.star and (arg.keyword is None or arg.keyword.value in ("x", "t", "a", "input", "tensor")):
                out.extend(_operands(model, arg.value))
        return out
    return [expr]


def _reads(model, expr):
    """Names and attribute chains read in ``expr`` (recorded reads of a source)."""
    out = list(model.names_in(expr))
    out.extend(a for a in model.tree.descendants(expr, cst.Attribute) if isinstance(a.value, cst.Name))
    return out
