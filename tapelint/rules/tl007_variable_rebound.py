from __future__ import annotations

import ast
import functools

from tapelint.diagnostics import Applicability
from tapelint.lazy_libcst import cst
from tapelint.rules.base import CstFix, Finding, Invalid, Replacement, Rule, Valid
from tapelint.screen import TARGET_TAIL, TENSOR_CALLS, VARIABLE_TRIGGERS
from tapelint.screen_tapes import argument
from tapelint.semantic.tapes import DIFFERENTIATE
from tapelint.semantic import names as N
from tapelint.semantic.values import Kind


@functools.cache
def _in_place() -> dict[type, str]:  # (built on first use: tapelint/lazy_libcst.py)
    return {cst.SubtractAssign: "assign_sub", cst.AddAssign: "assign_add"}


@functools.cache
def _binary() -> dict[type, str]:
    return {cst.Subtract: "assign_sub", cst.Add: "assign_add"}


@functools.cache
def _aug_to_binary() -> dict[type, str]:
    return {
        cst.SubtractAssign: "-", cst.AddAssign: "+", cst.MultiplyAssign: "*", cst.DivideAssign: "/",
        cst.PowerAssign: "**", cst.MatrixMultiplyAssign: "@", cst.FloorDivideAssign: "//", cst.ModuloAssign: "%",
    }


class VariableRebound(Rule):
    """
    ## What it does
    Checks for a name bound to a new `tf.Variable` (or a `self.w` attribute holding one) that is rebound
    to the result of arithmetic or a TensorFlow op on it, as in a hand-written update step:
    `w = w - lr * g`, `w -= lr * g`, `w = tf.clip_by_value(w, -1.0, 1.0)`. A local alias of a variable
    held elsewhere (`lr = self.lr; lr = lr * decay`) is not reported: rebinding it loses nothing. Neither is a conversion (`w = tf.convert_to_tensor(w)`,
    `tf.identity`, `tf.cast`, `tf.reshape`...): it asks for a tensor on purpose, often after filling a
    variable used as scratch space, and no in-place update could replace it. A name is reported where it
    is then still used as the variable: differentiated against (`tape.gradient(loss, w)`, in the next
    step of a loop), updated with `assign`, or handed to an optimizer step; a rebinding after which the
    name only serves as a value (a trained result clipped for display, a sum started from
    `tf.Variable(0.0)`) is left alone. `w -= ...` and `self.w = self.w - ...` are reported wherever
    they are.

    ## Why is this bad?
    `w - lr * g` is a new, plain tensor. After the assignment the name no longer refers to the variable:
    the next `tf.GradientTape` does not watch it (tapes watch variables automatically, not tensors), so
    `tape.gradient(loss, w)` returns `None` from the second step on, and the original variable, the one
    an optimizer or a checkpoint holds, is never updated. On a `tf.Variable`, `w -= lr * g` raises
    `RuntimeError: variable -= value with tf.Variables is not supported` in TensorFlow 2.

    ## Example
    ```python
    import tensorflow as tf

    w = tf.Variable(tf.random.normal([3, 1]))
    learning_rate = 0.1
    for x, y in dataset:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((tf.matmul(x, w) - y) ** 2)
        grad = tape.gradient(loss, w)
        w = w - learning_rate * grad  # expect: TL007
    ```

    ## Use instead
    ```python
    import tensorflow as tf

    w = tf.Variable(tf.random.normal([3, 1]))
    learning_rate = 0.1
    for x, y in dataset:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((tf.matmul(x, w) - y) ** 2)
        grad = tape.gradient(loss, w)
        w.assign_sub(learning_rate * grad)
    ```

    ## Fix safety
    The fix rewrites `w = w - expr` and `w -= expr` (and `+`) into `w.assign_sub(expr)` (`assign_add`).
    It is safe: the variable is updated in place, as intended, and `w` keeps referring to it. Other forms
    (`w = 0.9 * w + g`) are reported without a fix; write `w.assign(0.9 * w + g)`.

    ## References
    - [Introduction to Variables](https://www.tensorflow.org/guide/variable)
    - [Custom training: walkthrough, the training loop](https://www.tensorflow.org/guide/basic_training_loops)
    """

    code = "TL007"
    needs_indirect_callers = False  # what its trigger code refers to, and the direct callers of that code
    name = "variable-rebound"
    summary = "A name holding a tf.Variable is rebound to a tensor computed from it"
    triggers = VARIABLE_TRIGGERS
    message = (
        "the name is no longer a tf.Variable after this line: the next tape won't watch it and gradients "
        "become None; update the variable in place with `assign_sub`/`assign_add`/`assign`"
    )
    rebound = (
        "`{name}` is no longer a tf.Variable after this line: `{value}` is a plain tensor, so the next "
        "tape won't watch `{name}` and gradients become None, and the variable itself is never updated; "
        "use `{suggestion}`"
    )
    in_place = (
        "`{statement}` does not update the tf.Variable `{name}` in place: TensorFlow 2 raises RuntimeError "
        "here, and where it does not (a Keras 3 variable) `{name}` is no longer a tf.Variable after this "
        "line, so the next tape won't watch it and gradients become None; use `{suggestion}`"
    )

    valid = (
        Valid(
            """
import tensorflow as tf

w = tf.Variable(tf.zeros([3, 1]))
b = tf.Variable(0.0)
opt = tf.keras.optimizers.SGD(0.1)

def train(dataset, lr=0.01):
    for x, y in dataset:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((tf.matmul(x, w) + b - y) ** 2)
        dw, db = tape.gradient(loss, [w, b])
        w.assign_sub(lr * dw)
        b.assign_sub(lr * db)
"""
        ),
        Valid(
            """
import tensorflow as tf

x = tf.constant([1.0, 2.0])
x = x - 0.5 * x  # x was never a variable
v = tf.Variable(1.0)
v = tf.Variable(v - 0.1)  # a new variable, on purpose
scale = 2.0
scale = scale * 3
h = tf.Variable(1.0)
if scale > 1:
    h = tf.constant(2.0)
h = h + 1.0  # h may already be a tensor here: not certain
"""
        ),
        Valid(
            """
import tensorflow as tf

class Linear(tf.Module):
    def __init__(self):
        self.w = tf.Variable(tf.ones([2, 2]))
        self.scale = 1.0

    def step(self, grad, lr):
        self.w.assign_sub(lr * grad)
        w = self.w  # a local alias of the variable
        w = w * 2.0  # the variable itself is still self.w
        self.scale = self.scale * 0.99
        return self.w * self.scale
"""
        ),
        Valid(
            """
import tensorflow as tf

def cat_and_pad(tensors, pad):
    output = tf.fill([len(tensors), 8], pad)
    output = tf.Variable(output)  # a tensor does not take slice assignment: a scratch variable
    for i, t in enumerate(tensors):
        output[i, : t.shape[0]].assign(t)
    output = tf.convert_to_tensor(output)  # back to a tensor, on purpose
    return tf.cast(output, tf.float32)
"""
        ),
        Valid(
            """
import tensorflow as tf

matte = tf.Variable(tf.random.uniform([1, 64, 64, 1]))
optimizer = tf.optimizers.Adam(1.0)

@tf.function
def optimize():
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(matte - 0.5))
    gradient = tape.gradient(loss, [matte])
    optimizer.apply_gradients(zip(gradient, (matte,)))

for _ in range(400):
    optimize()
matte = tf.clip_by_value(matte, 0.0, 1.0)  # the result, for display: never trained again
print(tf.reduce_mean(matte))
"""
        ),
    )
    invalid = (
        Invalid(
            """
import tensorflow as tf
from tensorflow.keras import backend as K

def train(dataset):
    w = K.variable(tf.zeros([3, 1]))
    for x, y in dataset:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((tf.matmul(x, w) - y) ** 2)
        w = w - 0.1 * tape.gradient(loss, w)  # expect: TL007
""",
            fixed="""
import tensorflow as tf
from tensorflow.keras import backend as K

def train(dataset):
    w = K.variable(tf.zeros([3, 1]))
    for x, y in dataset:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((tf.matmul(x, w) - y) ** 2)
        w.assign_sub(0.1 * tape.gradient(loss, w))  # expect: TL007
""",
        ),
        Invalid(
            """
import tensorflow as tf

w = tf.Variable(2.0)
for step in range(100):
    with tf.GradientTape() as tape:
        loss = (w - 5.0) ** 2
    dw = tape.gradient(loss, w)
    w -= 0.1 * dw  # expect: TL007
""",
            fixed="""
import tensorflow as tf

w = tf.Variable(2.0)
for step in range(100):
    with tf.GradientTape() as tape:
        loss = (w - 5.0) ** 2
    dw = tape.gradient(loss, w)
    w.assign_sub(0.1 * dw)  # expect: TL007
""",
        ),
        Invalid(
            """
import tensorflow as tf

def fit(x, y, lr, steps):
    w = tf.Variable(tf.zeros([4, 1]))
    b = tf.Variable(tf.zeros([1]))
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(x @ w + b - y))
        gw, gb = tape.gradient(loss, [w, b])
        w = w - lr * gw  # expect: TL007
        b = b + (-lr) * gb  # expect: TL007
    return w, b
""",
            fixed="""
import tensorflow as tf

def fit(x, y, lr, steps):
    w = tf.Variable(tf.zeros([4, 1]))
    b = tf.Variable(tf.zeros([1]))
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(x @ w + b - y))
        gw, gb = tape.gradient(loss, [w, b])
        w.assign_sub(lr * gw)  # expect: TL007
        b.assign_add((-lr) * gb)  # expect: TL007
    return w, b
""",
        ),
        Invalid(
            """
import tensorflow as tf

w = tf.Variable(tf.zeros([3]))
for x in data:
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(x * w)
    w.assign_sub(0.1 * tape.gradient(loss, w))
    w = tf.clip_by_value(w, -1.0, 1.0)  # expect: TL007
"""
        ),
        Invalid(
            """
import tensorflow as tf

w = tf.Variable(3.0)
w = w * 2.0  # expect: TL007
with tf.GradientTape() as tape:
    y = w ** 2
print(tape.gradient(y, w))  # None: the tape did not watch the tensor `w` now names
"""
        ),
        Invalid(
            """
import tensorflow as tf

class Momentum(tf.Module):
    def __init__(self, shape):
        self.w = tf.Variable(tf.zeros(shape))
        self.velocity = tf.Variable(tf.zeros(shape))

    def apply(self, grad, lr=0.01, beta=0.9):
        self.velocity = beta * self.velocity + grad  # expect: TL007
        self.w.assign_sub(lr * self.velocity)
"""
        ),
    )

    @classmethod
    def screen(cls, facts):
        # A statement rebinding `w` from itself where `w = tf.Variable(...)` in the same scope, or `self.w`
        # where some `self.w = ...` of the class around the statement can make it a variable.
        names, attributes = facts.names_made_variables, facts.self_variable_attributes
        if not names and not attributes:
            return False
        stores = facts.stores_mentioning(names | attributes, TARGET_TAIL, valued=True)
        # Read from logical lines or not: a question asked below may compile the whole tree meanwhile.
        from_lines = facts.local
        used: dict[str, bool] = {}
        for store in stores:
            if isinstance(store, ast.AugAssign):
                target, value = store.target, None
            elif isinstance(store, ast.Assign) and len(store.targets) == 1:
                target, value = store.targets[0], store.value
            elif isinstance(store, ast.AnnAssign) and store.value is not None:
                target, value = store.target, store.value
            else:
                continue
            if isinstance(target, ast.Name):
                name = target.id
                if name not in names:
                    continue
            elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self":
                name = target.attr
                if name not in attributes:
                    continue
            else:
                continue
            if value is not None and not any(_same(e, target) for e in _operands(facts, value)):
                continue
            # `w = w - ...` loses something only where `w` is then used as the variable (`_used_as_variable_after`).
            if value is not None and isinstance(target, ast.Name) and not _may_be_used_as_variable(facts, name, used):
                continue
            if from_lines:  # the scope or class around the statement is read from the whole tree
                facts.read_whole()
                return cls.screen(facts)
            if isinstance(target, ast.Name):
                if facts.made_variable_in_scope(name, store):
                    return True
            elif name in facts.attributes_made_variables_in(facts.class_around(store)):
                return True
        return False

    def check(self, model):
        for node in model.nodes(cst.Assign, cst.AnnAssign, cst.AugAssign):
            finding = self._check_statement(model, node)
            if finding is not None:
                yield finding

    def _check_statement(self, model, node):
        if isinstance(node, cst.Assign):
            if len(node.targets) != 1:
                return None
            target = node.targets[0].target
            value = node.value
        elif isinstance(node, cst.AnnAssign):
            target, value = node.target, node.value
            if value is None:
                return None
        else:
            target, value = node.target, None
        if isinstance(target, cst.Name):
            return self._check_name(model, node, target, value)
        if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) and target.value.value == "self":
            return self._check_self(model, node, target, value)
        return None

    # -- w = w - lr * g -------------------------------------------------------------------------------
    def _check_name(self, model, node, target, value):
        name = target.value
        if value is None:  # w -= ...
            load = target
        else:
            load = _operand_named(model, value, lambda e: isinstance(e, cst.Name) and e.value == name)
            if load is None:
                return None
        bindings = model.reaching(load)
        if not bindings:
            return None
        earlier = [b for b in bindings if not _rebinds_itself(model, b.statement, name)]
        # Every earlier binding creates the variable (`w = tf.Variable(...)`, `w = self.add_weight(...)`):
        # rebinding a local alias of a variable held elsewhere (`lr = self.lr; lr = lr * decay`) loses nothing.
        if not earlier or any(not isinstance(b.value, cst.Call) or model.values.binding_kind(b) is not Kind.VARIABLE
                              for b in earlier):
            return None
        # `w -= ...` raises on a tf.Variable wherever it is; `w = w - ...` loses something only where the
        # name is then used as the variable (a final result clipped for display is not).
        if value is not None and not _used_as_variable_after(model, node, target):
            return None
        return self._finding(model, node, target, value, name)

    # -- self.w = self.w - lr * g (outside Keras layers: TL010 covers those) -----------------------------
    def _check_self(self, model, node, target, value):
        attr = target.attr.value
        if not model.values.is_self_variable(target):
            return None
        cls = model.values.class_around(node)
        if cls is None or model.values.is_keras_class(cls) or attr in model.values.weight_attributes(cls):
            return None
        if value is not None and _operand_named(model, value, lambda e: _is_self_attr(e, attr)) is None:
            return None
        return self._finding(model, node, target, value, model.code(target))

    def _finding(self, model, node, target, value, name):
        suggestion, fix = _suggestion(model, node, target, value, name)
        if value is None:
            message = self.in_place.format(statement=model.code(node), name=name, suggestion=suggestion)
        else:
            message = self.rebound.format(name=name, value=model.code(value), suggestion=suggestion)
        return Finding(node, message, fix)


def _same(expr: ast.expr, target: ast.expr) -> bool:
    """``expr`` is the rebound ``target`` (a name, or `self.<attr>`), as `_operand_named` matches it:
    `self.lr = tf.identity(lr)` reads the local `lr`, not the attribute."""
    if isinstance(target, ast.Name):
        return isinstance(expr, ast.Name) and expr.id == target.id
    return isinstance(expr, ast.Attribute) and expr.attr == target.attr and isinstance(expr.value, ast.Name) \
        and expr.value.id == "self"


# Calls under `tensorflow.` whose result the rule takes for no tensor made from their arguments.
_NO_TENSOR_CALLS = N.CONVERSIONS | N.VARIABLE_FACTORIES


def _operands(facts, value: ast.expr) -> list[ast.expr]:
    """What `_operand_named` can find the rebound name among, read from CPython's tree: the leaves of
    arithmetic, or the positional arguments of a call that an import can make a TensorFlow function or
    a `keras.ops` op (the calls the semantic model takes for tensors: `self._untrack(self.w)` and
    `K.variable(w)` are none) other than a conversion (`tf.cast(w, ...)`: asked for on purpose) or a
    variable factory (`x = tf.Variable(x)` makes a variable of a value: no tensor to the model)."""
    if isinstance(value, ast.BinOp) or (isinstance(value, ast.UnaryOp) and not isinstance(value.op, ast.Not)):
        leaves, stack = [], [value]
        while stack:
            e = stack.pop()
            if isinstance(e, ast.BinOp):
                stack += [e.left, e.right]
            elif isinstance(e, ast.UnaryOp) and not isinstance(e.op, ast.Not):
                stack.append(e.operand)
            else:
                leaves.append(e)
        return leaves
    if isinstance(value, ast.Call) and facts.may_refer_under(value.func, TENSOR_CALLS, but=_NO_TENSOR_CALLS):
        return [a for a in value.args if not isinstance(a, ast.Starred)]
    return []


def _is_self_attr(expr, attr: str) -> bool:
    return isinstance(expr, cst.Attribute) and expr.attr.value == attr and isinstance(expr.value, cst.Name) \
        and expr.value.value == "self"


def _operand_named(model, value, matches):
    """The operand of ``value`` that ``matches``, when ``value`` is arithmetic on it (a tensor, since the
    operand is a variable) or a TensorFlow op with it as a positional argument."""
    candidates = []
    if isinstance(value, cst.BinaryOperation) or \
            (isinstance(value, cst.UnaryOperation) and not isinstance(value.operator, cst.Not)):
        candidates = _leaves(value)
    elif isinstance(value, cst.Call) and model.values.is_tensor_result(value) and \
            model.call_name(value) not in N.CONVERSIONS:
        candidates = [a.value for a in value.args if a.keyword is None and not a.star]
    for leaf in candidates:
        if matches(leaf):
            return leaf
    return None


def _leaves(expr):
    if isinstance(expr, cst.BinaryOperation):
        return _leaves(expr.left) + _leaves(expr.right)
    if isinstance(expr, cst.UnaryOperation) and not isinstance(expr.operator, cst.Not):
        return _leaves(expr.expression)
    return [expr]


# Methods of a variable that a tensor lacks: called on the rebound name, they fail.
_VARIABLE_ONLY_METHODS = frozenset({
    "assign", "assign_add", "assign_sub", "read_value", "scatter_update", "scatter_add", "scatter_sub",
    "scatter_mul", "scatter_div", "scatter_max", "scatter_min", "scatter_nd_update", "scatter_nd_add",
    "scatter_nd_sub", "batch_scatter_update",
})
# Optimizer steps: a variable in their arguments is one they update.
_OPTIMIZER_STEPS = frozenset({"apply_gradients", "minimize"})


def _may_be_used_as_variable(facts, name: str, known: dict[str, bool]) -> bool:
    """Some load of ``name``, anywhere in the module, may be one that ``_needs_variable`` takes: in the
    sources of a call of a method named as a differentiation (every argument where a `*` or `**`
    one may hold them), the object of one of a variable's own methods, or in the call of a method named
    as an optimizer step. ``known``: the answers so far."""
    if name in known:
        return known[name]
    known[name] = found = not facts.spelled_as_read or any(
        _needs_variable_here(node, name) for root in facts.expressions_mentioning(name) for node in ast.walk(root))
    return found


def _needs_variable_here(node: ast.AST, name: str) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr in _VARIABLE_ONLY_METHODS and isinstance(node.value, ast.Name) and node.value.id == name
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return False
    if node.func.attr in _OPTIMIZER_STEPS:
        within = [node]
    elif node.func.attr in DIFFERENTIATE:
        unpacked = any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords)
        sources = argument(node, 1, "sources")
        within = [*node.args, *(k.value for k in node.keywords)] if unpacked else [] if sources is None else [sources]
    else:
        return False
    return any(isinstance(n, ast.Name) and n.id == name for expr in within for n in ast.walk(expr))


def _used_as_variable_after(model, statement, target) -> bool:
    """A load of the name that the rebinding may reach needs the variable (``_needs_variable``) and may
    run after the rebinding: in the same function (the model's reaching definitions tell), in another
    function where the rebinding is of an outer scope's name (`global w`: any later call sees it), or
    in a function of the rebinding's scope that is named where it may run after the rebinding (a
    training step defined before a loop that rebinds the name)."""
    function = model.function_of(statement)
    sources = [use.sources for tape in model.tapes for use in tape.differentiations() if use.sources is not None]
    scope = model.scope_of(target)
    if target.value in scope.globals or target.value in scope.nonlocals:
        # (The model's reaching definitions do not carry such a rebinding to the outer scope's loads.)
        for binding in model.bindings_of(target):
            for load in model.loads_of(binding):
                if model.function_of(load) is not function and _needs_variable(model, load, sources):
                    return True
    for binding in [b for b in scope.bindings.get(target.value, ()) if b.node is target]:
        for load in model.loads_of(binding):
            if not _needs_variable(model, load, sources):
                continue
            if model.function_of(load) is function or _called_after(model, statement, load):
                return True
    return False


def _needs_variable(model, load, sources) -> bool:
    """``load`` is differentiated against (in the sources of `tape.gradient`: a tape watches a variable,
    not the tensor the name now holds), calls one of a variable's own methods, or is in an optimizer
    step's arguments. (Read into a loss, as an accumulator started from `tf.Variable(0.0)` is, the
    tensor serves as well.)"""
    if any(model.contains(expr, load) for expr in sources):
        return True
    parent = model.parent(load)
    if isinstance(parent, cst.Attribute) and parent.value is load and parent.attr.value in _VARIABLE_ONLY_METHODS:
        return True
    node = parent
    while node is not None and not isinstance(node, (cst.BaseSmallStatement, cst.BaseStatement)):
        method = model.method_call(node)
        if method is not None and method[1] in _OPTIMIZER_STEPS:
            return True
        node = model.parent(node)
    return False


def _called_after(model, statement, load) -> bool:
    """The function of the rebinding's scope that holds ``load`` is named after ``statement`` in the
    source, or in a loop around it: it may run once the name holds the tensor."""
    scope_function = model.function_of(statement)
    holder = model.function_of(load)
    while holder is not None and model.function_of(holder) is not scope_function:
        holder = model.function_of(holder)
    if not isinstance(holder, cst.FunctionDef):
        return False
    loops = model.enclosing_loops(statement)
    for binding in model.bindings_of(holder.name):
        if binding.definition is not holder:
            continue
        for ref in model.loads_of(binding):
            if model.before(statement, ref) or any(model.contains(loop, ref) for loop in loops):
                return True
    return False


def _rebinds_itself(model, statement, name: str) -> bool:
    """``statement`` is itself a rebinding of ``name`` that the rule reads as an update step (arithmetic
    on it, or a TensorFlow op on it that is not a conversion): another update step in the loop."""
    if isinstance(statement, cst.AugAssign):
        return isinstance(statement.target, cst.Name) and statement.target.value == name
    if isinstance(statement, (cst.Assign, cst.AnnAssign)) and statement.value is not None:
        targets = [t.target for t in statement.targets] if isinstance(statement, cst.Assign) else [statement.target]
        if len(targets) == 1 and isinstance(targets[0], cst.Name) and targets[0].value == name:
            return _operand_named(model, statement.value, lambda e: isinstance(e, cst.Name) and e.value == name) \
                is not None
    return False


def _strip_parens(expr):
    if getattr(expr, "lpar", None):
        return expr.with_changes(lpar=[], rpar=[])
    return expr


def _suggestion(model, node, target, value, name):
    """The in-place update to suggest, and a fix when the statement is exactly `w = w - e` / `w -= e`."""
    method = operand = None
    if value is None:
        method = _in_place().get(type(node.operator))
        operand = node.value
    elif isinstance(value, cst.BinaryOperation) and type(value.operator) in _binary() and \
            model.code(value.left) == name and not value.left.lpar:
        method = _binary()[type(value.operator)]
        operand = value.right
    if method is None:
        if value is None:
            op = _aug_to_binary().get(type(node.operator), "?")
            text = f"{name}.assign({name} {op} {model.code(node.value)})"
        else:
            text = f"{name}.assign({model.code(value)})"
        return text, None
    operand = _strip_parens(operand)
    text = f"{name}.{method}({model.code(operand)})"
    if not isinstance(target, cst.Name) or not isinstance(model.parent(node), cst.SimpleStatementLine):
        return text, None
    call = cst.Call(
        func=cst.Attribute(value=cst.Name(name), attr=cst.Name(method)),
        args=[cst.Arg(value=operand)],
    )
    new = cst.Expr(value=call, semicolon=node.semicolon)
    return text, CstFix(f"Update `{name}` in place with `{name}.{method}(...)`", (Replacement(node, new),),
                        Applicability.SAFE)
