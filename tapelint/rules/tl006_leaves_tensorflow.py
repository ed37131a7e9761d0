from __future__ import annotations

import ast

from tapelint.lazy_libcst import cst
from tapelint.rules.base import Finding, Invalid, Rule, Valid
from tapelint.screen_tapes import COMPREHENSIONS, DIFFERENTIATE, bound_names, recorded_path
from tapelint.semantic import names as N
from tapelint.semantic.values import VARIABLE_LIST_ATTRIBUTES

# Attributes and functions that read metadata, not values: what flows through them carries no gradient.
_METADATA_ATTRIBUTES = frozenset({"shape", "dtype", "ndim", "name", "device", "rank", "built", "trainable"})
_NO_GRADIENT_CALLS = frozenset({
    "tensorflow.shape", "tensorflow.shape_n", "tensorflow.size", "tensorflow.rank", "tensorflow.stop_gradient",
    "tensorflow.argmax", "tensorflow.argmin", "tensorflow.math.argmax", "tensorflow.math.argmin",
    "tensorflow.equal", "tensorflow.math.equal", "tensorflow.round", "tensorflow.math.round", "tensorflow.sign",
    "tensorflow.math.sign", "tensorflow.floor", "tensorflow.math.floor", "tensorflow.ceil", "tensorflow.math.ceil",
    "tensorflow.is_tensor", "tensorflow.get_static_value", "builtins.len", "builtins.isinstance",
    "builtins.bool", "builtins.type", "builtins.id", "builtins.str", "builtins.repr", "builtins.print",
})
# Calls whose result is constant with respect to (some of) their arguments.
_INDEX_CALLS = frozenset({"tensorflow.one_hot", "tensorflow.range", "tensorflow.zeros_like", "tensorflow.ones_like",
                          "tensorflow.random.categorical", "tensorflow.math.top_k", "tensorflow.nn.top_k"})
_SAMPLING = ("numpy.random.", "tensorflow.random.", "random.")
_GATHER_LIKE = {"tensorflow.gather": {0}, "tensorflow.gather_nd": {0}, "tensorflow.boolean_mask": {0},
                "tensorflow.where": {1, 2}}
_TO_NUMPY = frozenset({"keras.ops.convert_to_numpy", "keras.backend.get_value", "keras.backend.eval",
                       "tensorflow.make_ndarray"})
_SCALAR_BUILTINS = frozenset({"builtins.float", "builtins.int", "builtins.complex"})
_SCALAR_BUILTIN_NAMES = frozenset(name.split(".", 1)[1] for name in _SCALAR_BUILTINS)
_ESCAPING_MODULES = N.NUMPY_MODULES + ("math.",)
# Keras constructors whose instances are models or layers (their calls depend on their weights).
_KERAS_CALLABLE_PREFIXES = ("keras.layers.", "keras.models.", "keras.applications.", "keras.Sequential",
                            "keras.Model", "keras.Layer")
_TF_EQUIVALENT = {
    "mean": "tf.reduce_mean", "sum": "tf.reduce_sum", "max": "tf.reduce_max", "min": "tf.reduce_min",
    "prod": "tf.reduce_prod", "exp": "tf.exp", "log": "tf.math.log", "sqrt": "tf.sqrt", "square": "tf.square",
    "abs": "tf.abs", "fabs": "tf.abs", "clip": "tf.clip_by_value", "dot": "tf.tensordot", "matmul": "tf.matmul",
    "tanh": "tf.tanh", "sin": "tf.sin", "cos": "tf.cos", "maximum": "tf.maximum", "minimum": "tf.minimum",
    "where": "tf.where", "pow": "tf.pow", "power": "tf.pow", "log1p": "tf.math.log1p", "std": "tf.math.reduce_std",
    "var": "tf.math.reduce_variance", "linalg.norm": "tf.norm", "array": "a tensor", "asarray": "a tensor",
    "float32": "tf.cast(..., tf.float32)", "float64": "tf.cast(..., tf.float64)",
}


class LeavesTensorflow(Rule):
    """
    ## What it does
    Checks for values that leave TensorFlow on their way from the gradient sources to the target while
    a `tf.GradientTape` records: `.numpy()` (and `keras.ops.convert_to_numpy`), NumPy (or SciPy)
    functions, `float()`/`int()`, and Python's `math` module applied to something computed from the sources or the model's output, whose result
    then feeds the loss passed to `tape.gradient`.

    Only the path from the sources to the target is checked: `.numpy()` for logging, data preprocessing
    that does not depend on the model, shapes (`int(tf.shape(y)[0])`), and `tf.py_function` stay silent.

    ## Why is this bad?
    A tape records TensorFlow operations only. Once a value becomes a NumPy array or a Python number,
    everything computed from it is a constant to the tape: `tape.gradient` returns `None` (or zeros for
    the part of the loss that went through NumPy), and the model silently stops learning from that term.
    Inside `tf.function` (a Keras `train_step`), `.numpy()` and `float()` fail outright on symbolic tensors.

    ## Example
    ```python
    import numpy as np
    import tensorflow as tf

    def train_step(model, optimizer, x, y):
        with tf.GradientTape() as tape:
            pred = model(x, training=True)
            loss = np.mean((pred.numpy() - y) ** 2)  # expect: TL006
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
    ```

    ## Use instead
    ```python
    import numpy as np
    import tensorflow as tf

    def train_step(model, optimizer, x, y):
        with tf.GradientTape() as tape:
            pred = model(x, training=True)
            loss = tf.reduce_mean((pred - y) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        print("loss:", loss.numpy())  # converting after the gradient is fine
    ```

    ## References
    - [Introduction to gradients and automatic differentiation: getting a gradient of None](https://www.tensorflow.org/guide/autodiff#getting_a_gradient_of_none)
    - [tf.py_function](https://www.tensorflow.org/api_docs/python/tf/py_function)
    """

    code = "TL006"
    needs_indirect_callers = False  # what its trigger code refers to, and the direct callers of that code
    name = "leaves-tensorflow"
    summary = "A value on the path from the gradient sources to the target leaves TensorFlow inside the tape"
    message = (
        "this value leaves TensorFlow inside the tape on the way to the target: the tape cannot record "
        "NumPy or Python operations, so the gradient through it is None; use TensorFlow ops instead"
    )
    detail = (
        "`{call}` turns `{value}` into a {what} while tape `{tape}` records, and the result feeds "
        "`{target}`, the target of `{tape}.{method}` at line {line}: the tape cannot record {ops}, so no "
        "gradient flows back through it (the gradient is None or misses this term; inside tf.function the "
        "call fails on a symbolic tensor); {fix}"
    )

    valid = (
        Valid(
            """
import tensorflow as tf

@tf.function
def train_step(model, optimizer, loss_fn, x, y):
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss = loss_fn(y, logits)
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss

def fit(model, optimizer, loss_fn, dataset, history):
    for x, y in dataset:
        loss = train_step(model, optimizer, loss_fn, x, y)
        history.append(float(loss))  # after the gradient: fine
        print("loss", loss.numpy())
"""
        ),
        Valid(
            """
import math
import numpy as np
import tensorflow as tf

w = tf.Variable(tf.random.normal([3, 1]))
x_np = np.random.rand(32, 3).astype("float32")
with tf.GradientTape() as tape:
    x = tf.constant(np.log1p(x_np))  # preprocessing of data, not of the sources
    y = tf.matmul(x, w)
    n = int(tf.shape(y)[0])  # a shape carries no gradient
    loss = tf.reduce_sum(y ** 2) / n + math.log(2.0)
    print("mean", np.mean(y.numpy()))  # logging inside the tape: not on the path
grad = tape.gradient(loss, w)
"""
        ),
        Valid(
            """
import numpy as np
import tensorflow as tf

def np_penalty(a):
    return np.float32(np.sum(np.abs(a)))

def step(model, x, opt):
    with tf.GradientTape() as tape:
        y = model(x)
        penalty = tf.py_function(lambda t: np.sum(t.numpy()), [y], tf.float32)
        stats = tf.numpy_function(np_penalty, [y], tf.float32)
        loss = tf.reduce_mean(y) + tf.stop_gradient(penalty)
    grads = tape.gradient(loss, model.trainable_variables)
    opt.apply_gradients(zip(grads, model.trainable_variables))
    return stats
"""
        ),
        Valid(
            """
import numpy as np
import tensorflow as tf

def reinforce_step(model, optimizer, state, episode_return, num_actions):
    with tf.GradientTape() as tape:
        action_probs = model(state)
        # sampling the action is not differentiable anyway: it only picks an index
        action = np.random.choice(num_actions, p=np.squeeze(action_probs))
        greedy = int(np.argmax(action_probs.numpy()))
        log_prob = tf.math.log(action_probs[0, action])
        entropy_bonus = tf.reduce_sum(action_probs * tf.one_hot(greedy, num_actions))
        loss = -log_prob * episode_return - 0.01 * entropy_bonus
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
"""
        ),
    )
    invalid = (
        Invalid(
            """
import math
import tensorflow as tf

w = tf.Variable(0.5)
b = tf.Variable(0.1)
with tf.GradientTape() as tape:
    z = w * 2.0 + b
    penalty = float(tf.reduce_sum(b * b))  # expect: TL006
    loss = math.exp(z) + penalty  # expect: TL006
dw, db = tape.gradient(loss, [w, b])
"""
        ),
        Invalid(
            """
import numpy as np
import tensorflow as tf

class Regressor(tf.keras.Model):
    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            err = y_pred.numpy() - y  # expect: TL006
            loss = tf.convert_to_tensor(np.mean(err ** 2))
        trainable_vars = self.trainable_variables
        gradients = tape.gradient(loss, trainable_vars)
        self.optimizer.apply_gradients(zip(gradients, trainable_vars))
        return {"loss": loss}
"""
        ),
        Invalid(
            """
import numpy as np
import tensorflow as tf

def wasserstein_step(critic, real, fake, opt):
    with tf.GradientTape() as tape:
        d_real = critic(real)
        d_fake = critic(fake)
        loss = tf.reduce_mean(d_fake) - np.mean(d_real)  # expect: TL006
    grads = tape.gradient(loss, critic.trainable_variables)
    opt.apply_gradients(zip(grads, critic.trainable_variables))
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
        loops = None
        for tape in sites.tapes:
            if not tape.entered or tape.name is None:
                continue
            uses = [u for u in sites.uses_of(tape, *DIFFERENTIATE) if u.target is not None
                    and _may_follow_sources(u.sources)]
            if not uses:
                continue
            stores = sites.recorded_stores(tape)
            if loops is None:
                loops = _loops(facts)
            # `check` reports a call that `_escape` knows and the tape records, converting a value that
            # may depend on the sources (`_Dependence`: the sources' own names and what they are
            # assigned, then names the tape binds and loop variables computed from those)...
            carrying = _carrying(_source_names(facts, uses), stores, loops)
            escapes = {id(node) for with_ in tape.withs for node in ast.walk(with_)
                       if isinstance(node, ast.Call) and _may_escape(facts, node)
                       and _may_carry(sites, node, carrying) and sites.records(tape, node) is True}
            if not escapes:
                continue
            for use in uses:
                # ... for a differentiation whose sources `_Dependence` can follow, on the path from its
                # target (`_calls_on_path`: names bound where the tape records, transitively).
                if any(id(node) in escapes for expr in recorded_path(stores, use.target) for node in ast.walk(expr)):
                    return True
        return False

    def check(self, model):
        reported: set[cst.CSTNode] = set()
        for tape in model.tapes:
            if not tape.entered or tape.name is None:
                continue
            for use in tape.differentiations():
                target = use.target
                if target is None or use.sources is None:
                    continue
                deps = _Dependence(model, tape, use)
                if deps.empty:
                    continue
                for call in _calls_on_path(model, tape, target):
                    if call in reported:
                        continue
                    escape = _escape(model, call)
                    if escape is None or model.tapes.records(tape, call) is not True:
                        continue
                    values, what, ops, fix = escape
                    hit = next((v for v in values if deps.depends(v)), None)
                    if hit is None:
                        continue
                    reported.add(call)
                    yield Finding(call, self.detail.format(
                        call=model.code(call), value=model.code(hit), what=what, tape=tape.name,
                        target=model.code(target), method=use.method, line=model.line_of(use.node),
                        ops=ops, fix=fix,
                    ))


def _may_escape(facts, call: ast.Call) -> bool:
    """``call`` may be one that ``_escape`` knows: `.numpy()`, or a callable an import (or the builtins)
    can make a NumPy/SciPy/`math` function, a conversion to NumPy, or `float`/`int`/`complex`."""
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr == "numpy" and not call.args and not call.keywords:
        return True
    if isinstance(func, ast.Name) and func.id in _SCALAR_BUILTIN_NAMES:
        return True  # the builtin itself, wherever nothing binds the name
    return facts.may_refer_under(func, _ESCAPING_MODULES) or facts.may_refer_to(func, _TO_NUMPY | _SCALAR_BUILTINS)


def _may_carry(sites, call: ast.Call, carrying: set[str]) -> bool:
    """What ``call`` converts (the values ``_escape`` gives: its arguments but `dtype` and `axis`, or the
    receiver of `.numpy()`) may depend on a source, as ``_Dependence`` finds it: through a call, or a
    name of ``carrying``. Not literals alone (`float("nan")`, `np.zeros(3)`), nor names bound elsewhere
    (`float(strategy.num_replicas_in_sync)`, `strategy` a parameter; `x.numpy()`, `x` a batch of the
    dataset). A comprehension's variable is kept (`_comprehension_names`)."""
    values = [*call.args, *(k.value for k in call.keywords if k.arg not in ("dtype", "axis"))]
    if isinstance(call.func, ast.Attribute) and call.func.attr == "numpy" and not call.args:
        values = [call.func.value, *values]
    bound = _comprehension_names(sites, call)
    return any(isinstance(n, ast.Call) or isinstance(n, ast.Name) and (n.id in carrying or n.id in bound)
               for v in values for n in ast.walk(v))


def _comprehension_names(sites, node: ast.AST) -> set[str]:
    """The names the comprehensions around ``node`` bind (their `for` targets): a comprehension's
    variable may hold a source (`[float(w) for w in model.trainable_variables]`), and is kept."""
    names: set[str] = set()
    parent = sites.parent(node)
    while parent is not None:
        if isinstance(parent, COMPREHENSIONS):
            names.update(n.id for g in parent.generators for n in bound_names([g.target]))
        parent = sites.parent(parent)
    return names


def _source_names(facts, uses) -> set[str]:
    """The names in the sources of ``uses``, and in the values assigned to a source that is a name (its
    list of variables, `tvars = model.trainable_variables`): ``source_items`` and ``_owners``."""
    out: set[str] = set()
    bare: set[str] = set()
    for use in uses:
        for n in ast.walk(use.sources):
            if isinstance(n, ast.Name):
                out.add(n.id)
        if isinstance(use.sources, ast.Name):
            bare.add(use.sources.id)
    for name in bare:
        for _, store in facts.stores_by_name.get(name, ()):
            out.update(n.id for n in ast.walk(store.value) if isinstance(n, ast.Name))
    return out


def _loops(facts) -> list[tuple[frozenset[str], ast.expr]]:
    """The names each `for` statement of the module binds, with its iterable (a loop variable may hold
    a source: ``_Dependence`` follows it where the iterable depends on one)."""
    return [(frozenset(n.id for n in bound_names([stmt.target])), stmt.iter)
            for stmt in facts.statements if isinstance(stmt, (ast.For, ast.AsyncFor))]


def _carrying(roots: set[str], stores: dict[str, list[ast.expr]], loops) -> set[str]:
    """The names whose value may depend on the sources as ``_Dependence.depends`` follows them, by names
    (a superset): ``roots`` (the names in the sources, and in what a source that is a name is assigned:
    ``source_items`` and ``_owners``), and, to a fixed point, a name the tape binds (``stores``: where
    the tape records, as the model follows only such bindings) from an expression that mentions one, and
    the names of a `for` loop whose iterable mentions one. `depends` follows nothing else: a parameter,
    a `with` target or a name bound outside the tape (`x, y = next(dataset)` before the tape, or in it
    from the dataset alone) depends only by being a root."""
    carrying = set(roots)
    changed = True
    while changed:
        changed = False
        for name, values in stores.items():
            if name not in carrying and any(_mentions(v, carrying) for v in values):
                carrying.add(name)
                changed = True
        for names, iterable in loops:
            if not names <= carrying and _mentions(iterable, carrying):
                carrying |= names
                changed = True
    return carrying


def _mentions(expr: ast.expr, names: set[str]) -> bool:
    return any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(expr))


def _may_follow_sources(sources: ast.expr | None) -> bool:
    """``_Dependence`` is not empty: the sources are spelled out (``source_items``: a name, an attribute,
    a list of them) or a sum of such (``_owners``: `a.trainable_variables + b.trainable_variables`)."""
    if isinstance(sources, (ast.Name, ast.Attribute, ast.BinOp)):
        return True
    return isinstance(sources, (ast.List, ast.Tuple)) and bool(sources.elts) and \
        all(isinstance(e, (ast.Name, ast.Attribute)) for e in sources.elts)


def _calls_on_path(model, tape, target, limit: int = 400) -> list[cst.Call]:
    """Calls whose result flows into ``target`` through values that can carry a gradient, following
    names bound while ``tape`` records. Index positions (``p[0, action]``, ``tf.one_hot(action, n)``),
    comparisons, shapes and random samples carry none and are not followed."""
    calls: list[cst.Call] = []
    seen: set[int] = set()
    work: list[cst.CSTNode] = [target]
    while work and len(calls) < limit:
        node = work.pop()
        if isinstance(node, cst.Name):
            for b in model.reaching(node) or ():
                if id(b) in seen or b.kind not in ("assign", "annassign", "augassign", "walrus"):
                    continue
                seen.add(id(b))
                if model.tapes.records(tape, b.node) is not True:
                    continue
                value = b.statement.value if b.kind == "augassign" else (b.value or b.statement.value)
                if value is not None:
                    work.append(value)
                if b.kind == "augassign":
                    work.append(b.statement.target)
            continue
        if isinstance(node, (cst.Comparison, cst.Lambda, cst.SimpleString, cst.FormattedString,
                             cst.BaseNumber)) or node is None:
            continue
        if isinstance(node, cst.Subscript):
            work.append(node.value)
            continue
        if isinstance(node, cst.Attribute):
            if node.attr.value not in _METADATA_ATTRIBUTES:
                work.append(node.value)
            continue
        if isinstance(node, cst.Call):
            qname = model.call_name(node) or ""
            if qname in _NO_GRADIENT_CALLS or qname in _INDEX_CALLS or qname.startswith(_SAMPLING):
                continue
            calls.append(node)
            if isinstance(node.func, cst.Attribute):
                work.append(node.func.value)
            positions = _GATHER_LIKE.get(qname)
            for k, arg in enumerate(node.args):
                if positions is not None and (arg.keyword is not None or k not in positions):
                    continue
                work.append(arg.value)
            continue
        work.extend(c for c in model.children(node) if isinstance(c, cst.BaseExpression) or
                    isinstance(c, (cst.Arg, cst.Element, cst.StarredElement, cst.DictElement, cst.CompFor,
                                   cst.CompIf, cst.SubscriptElement, cst.Index)))
    return calls


def _escape(model, call: cst.Call):
    """If ``call`` takes a value out of TensorFlow: (the values it converts, what they become, what the
    tape cannot record, the fix)."""
    qname = model.call_name(call)
    if qname is not None:
        args = [a.value for a in call.args if a.keyword is None or a.keyword.value not in ("dtype", "axis")]
        if qname.startswith(N.NUMPY_MODULES):
            short = qname.split(".", 1)[1]
            tf_op = _TF_EQUIVALENT.get(short)
            fix = f"use `{tf_op}` instead" if tf_op else "use the TensorFlow op (`tf.math`, `tf.linalg`) instead"
            return args, "NumPy array", "NumPy functions", fix
        if qname in _TO_NUMPY:
            return args[:1], "NumPy array", "operations on NumPy arrays", \
                "keep the tensor and convert it only after the gradient, for logging"
        if qname in _SCALAR_BUILTINS:
            return args[:1], "Python number", "operations on Python numbers", \
                "keep the tensor (use `tf.cast(..., tf.float32)` to change its dtype)"
        if qname.startswith("math."):
            tf_op = _TF_EQUIVALENT.get(qname[len("math."):])
            fix = f"use `{tf_op}` instead" if tf_op else "use the TensorFlow op (`tf.math`) instead"
            return args, "Python number", "Python's math functions", fix
        return None
    method = model.method_call(call)
    if method is not None and method[1] == "numpy" and not call.args:
        return [method[0]], "NumPy array", "operations on NumPy arrays", \
            "keep the tensor and call `.numpy()` only after the gradient, for logging"
    return None


class _Dependence:
    """Does a value depend on the sources of one ``gradient`` call, through what the tape records?"""

    def __init__(self, model, tape, use) -> None:
        self.model = model
        self.tape = tape
        items = model.tapes.source_items(use) or []
        self.source_codes = {model.code(e) for e in items}
        self.owners = _owners(model, use.sources)
        self.empty = not self.source_codes and not self.owners
        self._memo: dict[cst.CSTNode, bool] = {}
        cls = model.values.class_around(use.node)
        self._self_layers = _self_callables(model, cls) if cls is not None and "self" in self.owners else set()
        self._self_trainable = _trainable_self_variables(model, cls) if cls is not None and "self" in self.owners else set()

    def depends(self, expr: cst.CSTNode, depth: int = 0) -> bool:
        if depth > 30:
            return False
        if expr in self._memo:
            return self._memo[expr]
        self._memo[expr] = False
        result = self._depends(expr, depth)
        self._memo[expr] = result
        return result

    def _depends(self, expr: cst.CSTNode, depth: int) -> bool:
        model = self.model
        if isinstance(expr, (cst.Comparison, cst.Lambda, cst.SimpleString, cst.FormattedString)):
            return False
        if isinstance(expr, (cst.Name, cst.Attribute)):
            code = model.code(expr)
            if code in self.source_codes or code in self.owners:
                return True
        if isinstance(expr, cst.Name):
            for b in model.reaching(expr) or ():
                if b.kind in ("for", "comprehension"):  # `for w in model.trainable_variables`
                    loop = model.tree.enclosing(b.node, cst.For, cst.CompFor)
                    if loop is not None and model.tapes.records(self.tape, loop.iter) is not False \
                            and self.depends(loop.iter, depth + 1):
                        return True
                    continue
                if b.kind not in ("assign", "annassign", "augassign", "walrus"):
                    continue
                if model.tapes.records(self.tape, b.node) is not True:
                    continue
                value = b.statement.value if b.kind == "augassign" else (b.value or b.statement.value)
                if self.depends(value, depth + 1):
                    return True
                if b.kind == "augassign" and self.depends(b.statement.target, depth + 1) and \
                        b.statement.target is not expr:
                    return True
            return False
        if isinstance(expr, cst.Subscript):
            return self.depends(expr.value, depth + 1)
        if isinstance(expr, cst.Attribute):
            if expr.attr.value in _METADATA_ATTRIBUTES:
                return False
            if isinstance(expr.value, cst.Name) and expr.value.value == "self" and "self" in self.owners:
                return expr.attr.value in self._self_trainable or expr.attr.value == "losses"
            return self.depends(expr.value, depth + 1)
        if isinstance(expr, cst.Call):
            qname = model.call_name(expr)
            if qname in _NO_GRADIENT_CALLS or _escape(model, expr) is not None:
                return False  # metadata, or an earlier exit from TensorFlow (reported there)
            if self._model_call(expr):
                return True
            func = expr.func
            if isinstance(func, cst.Attribute) and not (isinstance(func.value, cst.Name) and func.value.value == "self"):
                if self.depends(func.value, depth + 1):
                    return True
            return any(self.depends(a.value, depth + 1) for a in expr.args)
        return any(self.depends(child, depth + 1) for child in self.model.children(expr))

    def _model_call(self, call: cst.Call) -> bool:
        model = self.model
        func = call.func
        code = model.code(func)
        if code in self.owners or code in self.source_codes:
            return True
        if isinstance(func, cst.Attribute):
            base = model.code(func.value)
            if base in self.owners and func.attr.value in ("call", "__call__", "predict_step"):
                return True
            if isinstance(func.value, cst.Name) and func.value.value == "self" and func.attr.value in self._self_layers:
                return True
        return False


def _owners(model, sources, follow: bool = True) -> set[str]:
    """``model`` for ``model.trainable_variables``; several for ``a.trainable_variables + b.trainable_variables``;
    followed through one assignment (``trainable_vars = self.trainable_variables``), once: in a loop,
    ``w = w - dw`` reaches itself."""
    out: set[str] = set()
    if isinstance(sources, cst.Name) and follow:
        bindings = model.reaching(sources)
        if bindings and len(bindings) == 1 and bindings[0].kind == "assign" and bindings[0].value is not None:
            sources = bindings[0].value
    if isinstance(sources, cst.BinaryOperation):
        return _owners(model, sources.left, False) | _owners(model, sources.right, False)
    if isinstance(sources, cst.Attribute) and sources.attr.value in VARIABLE_LIST_ATTRIBUTES:
        out.add(model.code(sources.value))
    return out


def _self_callables(model, cls: cst.ClassDef) -> set[str]:
    """Attributes of ``self`` bound to Keras layers/models, to instances of Keras classes of the file,
    or to constructor parameters (``self.generator = generator``)."""
    out: set[str] = set()
    for assign in model.tree.descendants(cls, cst.Assign):
        value = assign.value
        sub = False
        if isinstance(value, cst.Call):
            qname = model.call_name(value) or ""
            if qname.startswith(_KERAS_CALLABLE_PREFIXES):
                sub = True
            elif isinstance(value.func, cst.Name):
                sub = any(b.kind == "class" and model.values.is_keras_class(b.definition)
                          for b in model.bindings_of(value.func))
        elif isinstance(value, cst.Name):
            sub = any(b.kind == "param" for b in model.reaching(value) or ())
        if not sub:
            continue
        for target in assign.targets:
            t = target.target
            if isinstance(t, cst.Attribute) and isinstance(t.value, cst.Name) and t.value.value == "self":
                out.add(t.attr.value)
    return out


def _trainable_self_variables(model, cls: cst.ClassDef) -> set[str]:
    names = set(model.values.self_variables(cls))
    for assign in model.tree.descendants(cls, cst.Assign):
        if isinstance(assign.value, cst.Call) and model.literal_bool(model.argument(assign.value, None, "trainable")) is False:
            for target in assign.targets:
                t = target.target
                if isinstance(t, cst.Attribute) and isinstance(t.value, cst.Name) and t.value.value == "self":
                    names.discard(t.attr.value)
    return names
