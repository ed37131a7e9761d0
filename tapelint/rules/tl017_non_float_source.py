from __future__ import annotations

import ast

from tapelint.lazy_libcst import cst
from tapelint.rules.base import Finding, Invalid, Rule, Valid
from tapelint.screen_names import NameValues
from tapelint.screen_tapes import argument
from tapelint.semantic import names as N

_FAMILY_WORDS = {"int": "an integer", "bool": "a boolean", "string": "a string"}

# For the screen, what the dtype analysis (tapelint/semantic/dtypes.py, which imports libcst) knows of
# calls, as far as integer, boolean and string tensors go (tests/test_screen_tl005_tl017.py checks
# these against its tables):
_T = "tensorflow."
# Calls whose result is such a tensor, whatever their arguments (`random.categorical` without a `dtype`,
# `where` with one argument).
_NON_FLOAT_RESULTS = frozenset(_T + n for n in (
    "argmax", "argmin", "math.argmax", "math.argmin", "shape", "size", "rank", "searchsorted",
    "histogram_fixed_width", "where", "random.categorical",
    "equal", "not_equal", "greater", "greater_equal", "less", "less_equal", "logical_and", "logical_or",
    "logical_not", "logical_xor", "math.equal", "math.not_equal", "math.greater", "math.greater_equal",
    "math.less", "math.less_equal", "math.logical_and", "math.logical_or", "math.logical_not",
    "math.logical_xor", "math.is_nan", "math.is_inf", "math.is_finite", "reduce_any", "reduce_all",
    "math.reduce_any", "math.reduce_all", "math.in_top_k",
))
# Calls whose result has the dtype of some arguments ((position, keyword or None) of each), unless a
# `dtype` argument ((position or None, keywords) of it) is given.
_SAME_AS_ARGUMENTS = (
    (frozenset(_T + n for n in ("constant", "cast", "dtypes.cast", "saturate_cast", "ones_like", "zeros_like")),
     ((0, None),), (1, ("dtype",))),
    (frozenset({_T + "convert_to_tensor"}), ((0, None),), (1, ("dtype", "dtype_hint", "preferred_dtype"))),
    (frozenset({N.VARIABLE, "tensorflow.compat.v1.Variable"}), ((0, "initial_value"),), (None, ("dtype",))),
    (frozenset(_T + n for n in (
        "identity", "reshape", "transpose", "squeeze", "expand_dims", "tile", "gather", "gather_nd", "reverse",
        "reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod", "math.reduce_sum",
        "math.reduce_mean", "math.reduce_max", "math.reduce_min", "math.reduce_prod", "square", "abs",
        "negative", "math.square", "math.abs", "math.negative", "stop_gradient", "broadcast_to", "roll",
        "random.shuffle", "math.cumsum", "cumsum", "sort", "boolean_mask", "clip_by_value",
        "stack", "concat", "add_n", "math.add_n",  # (of the items of the first argument)
    )), ((0, None),), (None, ())),
    (frozenset({_T + "range"}), ((0, "start"), (1, "limit"), (2, "delta")), (3, ("dtype",))),
    (frozenset({_T + "fill"}), ((1, "value"),), (None, ())),
    (frozenset({_T + "one_hot"}), ((2, "on_value"), (3, "off_value")), (5, ("dtype",))),
)
# The last parts of the names of integer, boolean and string dtypes (`tf.int32`, `"int32"`, `np.bool_`,
# the builtins `int` and `bool`).
_NON_FLOAT_DTYPES = frozenset({
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "qint8", "quint8", "qint16",
    "quint16", "qint32", "int_", "intc", "intp", "uint", "int", "bool", "bool_", "string",
})
_ASSIGNED = ("assign", "annassign", "walrus")  # (the kinds of binding whose value gives a name's family)
_COMPARISONS = (ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq)
_LITERAL_STEPS = 1000


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
        if not facts.differentiates_on_tape:
            return False
        sites = facts.tapes  # (which tape a `with` enters does not matter: no `with` does here)
        names = NameValues(facts, sites, augmented=True)
        for use in sites.differentiations():
            scope = names.scope_at(use.node)
            # `check`: an element of the sources or the target whose dtype family is int, bool or string
            for expr in (use.sources, use.target):
                if any(_may_be_non_float(facts, names, e, s) for e, s in names.elements(expr, scope)):
                    return True
        return False

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


# -- the screen (on CPython's tree) -----------------------------------------------------------------------------
def _may_be_non_float(facts, names: NameValues, expr: ast.expr, scope) -> bool:
    """``DtypeAnalysis.tensor_family`` may give ``expr`` an integer, boolean or string family: it
    reaches, through names (the values they may hold, augmented assignments' included), unary and
    binary operations, subscripts and the arguments of the calls that keep their dtype, a call whose
    result is such a tensor, a call with such a dtype argument, or one of these calls given a Python
    int, bool or str (`tf.constant(3)`); or a comparison with something that may be a tensor of any
    family (a TensorFlow call, as far as names and operations go).

    A search over (question, expression), where a question is "non-float" (a tensor of such a family)
    or "tensor" (a tensor of any family); a name holds the value of the one binding that reaches it,
    where ``NameValues.last_binding`` tells it."""
    todo = [("non-float", expr, scope)]
    seen: set[tuple[str, object, object]] = set()
    while todo:
        question, e, s = todo.pop()
        if (question, id(e), None) in seen:
            continue
        seen.add((question, id(e), None))
        if isinstance(e, ast.Name):
            binding = names.last_binding(e, s)
            if binding is None:  # (any value of the name)
                if (question, e.id, s) not in seen:
                    seen.add((question, e.id, s))
                    todo += [(question, v, vs) for v, vs in names.values(e.id, s)]
            elif binding.kind in _ASSIGNED and binding.value is not None:
                todo.append((question, binding.value, s))
            elif binding.kind == "augassign":  # (the value the target held, and the right side)
                todo += [(question, binding.node, s), (question, binding.value, s)]
        elif isinstance(e, ast.UnaryOp) and not isinstance(e.op, ast.Not):
            todo.append((question, e.operand, s))
        elif isinstance(e, ast.Subscript):
            todo.append((question, e.value, s))
        elif isinstance(e, ast.BinOp):
            todo += [(question, e.left, s), (question, e.right, s)]
        elif isinstance(e, ast.Compare):
            if all(isinstance(op, _COMPARISONS) for op in e.ops):
                todo += [("tensor", x, s) for x in (e.left, *e.comparators)]
        elif isinstance(e, ast.Call) and (facts.may_refer_under(e.func, (_T,)) or
                                          facts.may_refer_to(e.func, N.VARIABLE_FACTORIES)):
            if question == "tensor" or facts.may_refer_to(e.func, _NON_FLOAT_RESULTS) or \
                    any(_names_non_float_dtype(facts, a) for a in (*e.args, *(k.value for k in e.keywords))):
                return True
            for arg in _kept_arguments(facts, e):
                if _may_be_literal(names, arg, s):
                    return True
                todo.append(("non-float", arg, s))
    return False


def _may_be_literal(names: NameValues, expr: ast.expr, scope, path: frozenset = frozenset(),
                    budget: list[int] | None = None) -> bool:
    """``DtypeAnalysis.family`` may give ``expr`` the family of a Python int, bool or str (a literal, a
    tuple or list of them, arithmetic on them, a name that may hold one). A name already on the path
    adds nothing; past ``_LITERAL_STEPS`` steps (both sides of every operation are asked), the answer
    is yes."""
    budget = [_LITERAL_STEPS] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0:
        return True
    if isinstance(expr, ast.Constant):
        return isinstance(expr.value, (int, str, bytes))  # (bool is an int)
    if isinstance(expr, ast.UnaryOp):
        return isinstance(expr.op, ast.Not) or _may_be_literal(names, expr.operand, scope, path, budget)
    if isinstance(expr, (ast.List, ast.Tuple)):
        return any(_may_be_literal(names, e, scope, path, budget) for e in expr.elts if not isinstance(e, ast.Starred))
    if isinstance(expr, ast.BinOp):  # (both sides: with a tensor, the result is a tensor)
        return not isinstance(expr.op, ast.Div) and _may_be_literal(names, expr.left, scope, path, budget) and \
            _may_be_literal(names, expr.right, scope, path, budget)
    if isinstance(expr, ast.Name) and (expr.id, scope) not in path:
        inner = path | {(expr.id, scope)}
        return any(_may_be_literal(names, v, vs, inner, budget) for v, vs in names.values(expr.id, scope))
    return False


def _kept_arguments(facts, call: ast.Call) -> list[ast.expr]:
    """The arguments whose dtype the result of ``call`` may take (see ``_SAME_AS_ARGUMENTS``), and the
    items of those that are tuple or list literals."""
    out: list[ast.expr] = []
    for qualified, kept, (dtype_position, dtype_keywords) in _SAME_AS_ARGUMENTS:
        if not facts.may_refer_to(call.func, qualified) or \
                any(argument(call, dtype_position, k) is not None for k in dtype_keywords):
            continue  # (the dtype argument decides)
        for position, keyword in kept:
            arg = argument(call, position, keyword) if keyword else _positional(call, position)
            if arg is not None:
                out += [arg, *(x.value if isinstance(x, ast.Starred) else x
                               for x in (arg.elts if isinstance(arg, (ast.Tuple, ast.List)) else ()))]
    return out


def _positional(call: ast.Call, position: int) -> ast.expr | None:
    """The argument at ``position`` (None after a `*args`, as ``SemanticModel.argument``)."""
    for i, arg in enumerate(call.args):
        if isinstance(arg, ast.Starred):
            return None
        if i == position:
            return arg
    return None


def _names_non_float_dtype(facts, expr: ast.expr) -> bool:
    """``DtypeAnalysis.dtype_family`` may make ``expr`` an integer, boolean or string dtype."""
    if isinstance(expr, ast.Constant):
        return expr.value in _NON_FLOAT_DTYPES
    if isinstance(expr, ast.Name):
        return not facts.unaliases(expr.id).isdisjoint(_NON_FLOAT_DTYPES)
    return isinstance(expr, ast.Attribute) and expr.attr in _NON_FLOAT_DTYPES
