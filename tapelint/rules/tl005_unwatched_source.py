from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from tapelint.diagnostics import Applicability
from tapelint.lazy_libcst import cst
from tapelint.rules.base import CstFix, Finding, Invalid, Replacement, Rule, Valid
from tapelint.screen import call_pattern
from tapelint.screen_names import NameValues
from tapelint.screen_tapes import DIFFERENTIATE, argument, contains, end_of, literal_bool, parameters, start_of
from tapelint.semantic import names as N
from tapelint.semantic.tapes import USE_METHODS
from tapelint.semantic.values import VARIABLE_LIST_ATTRIBUTES, Kind

_T = "tensorflow."
# Factories of fresh tensors: their result is on no tape unless it is watched (or, made while a tape
# records, computed from a watched value, which the rule checks separately).
_FRESH = frozenset(_T + n for n in (
    "constant", "convert_to_tensor", "ones", "zeros", "fill", "eye", "range", "linspace", "ones_like",
    "zeros_like", "random.normal", "random.uniform", "random.truncated_normal", "random.stateless_normal",
    "random.stateless_uniform", "random.gamma", "random.poisson",
))
_COMPUTED = ("assign", "annassign", "walrus")
_TENSOR_TYPES = frozenset({_T + "Tensor", "tensorflow.types.experimental.Tensor"})
_TF_FUNCTION = frozenset({N.TF_FUNCTION})


@dataclass(frozen=True)
class _Source:
    """Why a source needs a `watch`: its category and where it comes from."""

    category: str  # tensor, numpy, argument, frozen, variable
    origin: str  # for the message
    bindings: frozenset  # the bindings the source name holds (empty for an inline expression)


class UnwatchedSource(Rule):
    """
    ## What it does
    Checks for a source of `tape.gradient`/`jacobian`/`batch_jacobian` that the tape never watches:
    - a plain tensor made by `tf.constant`, `tf.convert_to_tensor`, `tf.ones`, `tf.random.normal`...
      (or a function argument annotated `tf.Tensor`, or one that every call in the file passes such a
      tensor) with no `tape.watch(x)` before it is used inside the tape's `with` block;
    - a NumPy array;
    - a variable created with `trainable=False`, or any variable when the tape is created with
      `watch_accessed_variables=False`, with no `tape.watch`.

    Sources whose origin cannot be told (the result of an unknown call, an argument of unknown type, a
    value computed inside the tape) are left alone, and so are integer sources (TL017). A use before the
    `watch` that only looks at the object (`assert xs`, `if x is None`, `len(xs)`, `x.shape`) records
    nothing, and does not make the `watch` late.

    ## Why is this bad?
    A tape records operations only on what it watches, and it watches only trainable variables by
    itself. Operations on an unwatched tensor are not recorded, so `tape.gradient` returns `None` for
    it, silently; a `watch` placed after the tensor was used records nothing of what came before. A
    NumPy array is not a tensor at all: `tape.gradient` raises `AttributeError` on it.

    ## Example
    ```python
    import tensorflow as tf

    x = tf.constant([1.0, 2.0, 3.0])
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(tf.sin(x))
    dy_dx = tape.gradient(y, x)  # expect: TL005
    ```

    ## Use instead
    ```python
    import tensorflow as tf

    x = tf.constant([1.0, 2.0, 3.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(tf.sin(x))
    dy_dx = tape.gradient(y, x)
    ```

    ## Fix safety
    When the source is a name bound before the tape's only `with` block, and the block sees that same
    binding (not another `x` of an enclosing scope), the fix inserts `tape.watch(x)` as the block's
    first statement. It is safe: the rule fires only when the source is
    certainly a tensor the tape does not watch, whose gradient is always `None`; watching it gives the
    gradient the call asks for and changes nothing else the block computes.

    ## References
    - [Controlling what the tape watches](https://www.tensorflow.org/guide/autodiff#controlling_what_the_tape_watches)
    - [tf.GradientTape.watch](https://www.tensorflow.org/api_docs/python/tf/GradientTape#watch)
    """

    code = "TL005"
    needs_indirect_callers = False  # what its trigger code refers to, and the direct callers of that code
    name = "unwatched-source"
    summary = "A gradient source is a tensor (or non-trainable variable) the tape never watches"
    message = (
        "source `{x}` of `{tape}.{method}` is {what} that tape `{tape}` never watches: a tape watches only "
        "trainable variables by itself, so no operation on it is recorded and the gradient is None; call "
        "`{tape}.watch({x})` at the top of the `with` block"
    )
    what = {
        "tensor": "a plain tensor ({origin})",
        "argument": "a tensor argument ({origin})",
        "frozen": "a non-trainable variable ({origin})",
    }
    variable_message = (
        "tape `{tape}` is created with `watch_accessed_variables=False` and never watches `{x}`{origin}, a "
        "source of `{tape}.{method}`: such a tape watches no variable by itself, so the gradient is None; "
        "call `{tape}.watch({x})` at the top of the `with` block"
    )
    numpy_message = (
        "source `{x}` of `{tape}.{method}` is a NumPy array ({origin}): tapes only record TensorFlow "
        "tensors, and `{tape}.{method}` raises AttributeError on a NumPy source; convert it with "
        "`tf.convert_to_tensor` before the `with` block and call `{tape}.watch(...)` on the tensor at its top"
    )
    inline_message = (
        "source `{x}` of `{tape}.{method}` is a new tensor created in the call itself, which no tape has "
        "ever seen: the gradient is None; bind it to a name before the `with` block and call "
        "`{tape}.watch(name)` at the top of the block"
    )
    late_message = (
        "source `{x}` of `{tape}.{method}` is watched at line {watch} only after it is used at line {use}: "
        "what the tape did not see is missing from the gradient (None when nothing else connects it); move "
        "`{tape}.watch({x})` before the first use"
    )

    valid = (
        Valid(
            """
import tensorflow as tf

x = tf.constant(3.0)
with tf.GradientTape() as g:
    g.watch(x)
    with tf.GradientTape() as gg:
        gg.watch(x)
        y = x * x
    dy_dx = gg.gradient(y, x)
d2y_dx2 = g.gradient(dy_dx, x)
"""
        ),
        Valid(
            """
import tensorflow as tf

def saliency(model, images):
    images = tf.convert_to_tensor(images)
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(images)
        top = tf.reduce_max(model(images), axis=-1)
    return tape.gradient(top, images)
"""
        ),
        Valid(
            """
import tensorflow as tf

w = tf.Variable(tf.random.normal((3, 2)), name='w')
b = tf.Variable(tf.zeros(2, dtype=tf.float32), name='b')
x = [[1., 2., 3.]]
with tf.GradientTape(persistent=True) as tape:
    y = x @ w + b
    h = tf.nn.relu(y)
    loss = tf.reduce_mean(h ** 2)
[dl_dw, dl_db] = tape.gradient(loss, [w, b])
dl_dh = tape.gradient(loss, h)  # an intermediate the tape recorded
del tape
"""
        ),
        Valid(
            """
import tensorflow as tf

def hvp(f, x, v):
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = f(x)
        g = inner.gradient(y, x)
    return outer.gradient(g, x, output_gradients=v)

x0 = tf.ones([4])
step = tf.zeros([4])
print(hvp(lambda z: tf.reduce_sum(z ** 3), x0, step))
"""
        ),
        Valid(
            """
import tensorflow as tf

def actor_step(network, optimizer, loss_fn, batch):
    variables = network.trainable_variables
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        assert variables, "No trainable variables to optimize."  # the list's truth: nothing recorded
        if not isinstance(variables, list) or len(variables) is None:
            raise TypeError("a list of variables")
        tape.watch(variables)
        loss = loss_fn(network(batch))
    grads = tape.gradient(loss, variables)
    optimizer.apply_gradients(zip(grads, variables))
"""
        ),
    )
    invalid = (
        Invalid(
            """
import numpy as np
import tensorflow as tf

x = np.linspace(-1.0, 1.0, 50)
with tf.GradientTape() as tape:
    y = tf.reduce_sum(tf.tanh(x))
grad = tape.gradient(y, x)  # expect: TL005
"""
        ),
        # Another function's own `x`: watching the `x` the block sees would not fix it (no fix offered).
        Invalid(
            """
import tensorflow as tf

def slope(y):
    x = tf.constant(2.0)
    return tape.gradient(y, x)  # expect: TL005

x = tf.constant(3.0)
with tf.GradientTape() as tape:
    y = x * x
"""
        ),
        Invalid(
            """
import tensorflow as tf

def input_gradient(model, x: tf.Tensor):
    with tf.GradientTape() as tape:
        logits = model(x, training=False)
    return tape.gradient(logits, x)  # expect: TL005
""",
            fixed="""
import tensorflow as tf

def input_gradient(model, x: tf.Tensor):
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = model(x, training=False)
    return tape.gradient(logits, x)  # expect: TL005
""",
        ),
        Invalid(
            """
import tensorflow as tf

scale = tf.Variable(2.0, trainable=False)
w = tf.Variable(1.0)
with tf.GradientTape(watch_accessed_variables=False) as tape:
    tape.watch(w)
    loss = scale * w ** 2
dw, dscale = tape.gradient(loss, [w, scale])  # expect: TL005
""",
            fixed="""
import tensorflow as tf

scale = tf.Variable(2.0, trainable=False)
w = tf.Variable(1.0)
with tf.GradientTape(watch_accessed_variables=False) as tape:
    tape.watch(scale)
    tape.watch(w)
    loss = scale * w ** 2
dw, dscale = tape.gradient(loss, [w, scale])  # expect: TL005
""",
        ),
        Invalid(
            """
import tensorflow as tf

x = tf.random.normal([8, 2])
with tf.GradientTape() as tape:
    y = tf.reduce_sum(x ** 2)
    tape.watch(x)
g = tape.gradient(y, x)  # expect: TL005
"""
        ),
        Invalid(
            """
import tensorflow as tf

x = tf.random.normal([8, 2])
with tf.GradientTape() as tape:
    assert x is not None and len(x) == 8  # looks at x: nothing recorded
    y = tf.reduce_sum(x ** 2) / x.shape[0]  # reads x: recorded, but x is not watched yet
    tape.watch(x)
g = tape.gradient(y, x)  # expect: TL005
"""
        ),
        Invalid(
            """
import tensorflow as tf

@tf.function
def grad_of_square(x):
    with tf.GradientTape() as tape:
        y = x * x
    return tape.gradient(y, x)  # expect: TL005

print(grad_of_square(tf.constant(3.0)))
print(grad_of_square(x=tf.constant([1.0, 2.0])))
""",
            fixed="""
import tensorflow as tf

@tf.function
def grad_of_square(x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    return tape.gradient(y, x)  # expect: TL005

print(grad_of_square(tf.constant(3.0)))
print(grad_of_square(x=tf.constant([1.0, 2.0])))
""",
        ),
    )

    # -- the check -----------------------------------------------------------------------------------------
    @classmethod
    def screen(cls, facts):
        if not facts.differentiates_on_tape:
            return False
        sites = facts.tapes
        if sites.uncertain:
            return True
        names = NameValues(facts, sites)
        # `check`: an entered tape bound to a name, ...
        return any(_may_report(facts, sites, names, tape) for tape in sites.tapes if tape.entered and tape.name)

    def check(self, model):
        for tape in model.tapes:
            if not tape.entered or tape.binding is None or not self._only_tape_methods(model, tape):
                continue
            watched = self._watched_elements(model, tape.uses_of("watch"))
            if watched is None:
                continue  # some watch call covers something we cannot name: it may cover anything
            reported: set[frozenset] = set()
            for use in tape.differentiations():
                for element in model.elements(use.sources) or ():
                    finding = self._check_source(model, tape, use, element, watched, reported)
                    if finding is not None:
                        yield finding

    def _check_source(self, model, tape, use, element, watched, reported):
        if model.dtypes.tensor_family(element) in ("int", "bool", "string"):
            return None  # TL017
        source = self._classify(model, tape, element)
        if source is None:
            return None
        if source.bindings and source.bindings in reported:
            return None
        fmt = dict(x=model.code(element), tape=tape.name, method=use.method)
        coverage = [(call, self._covers(model, w, element, source)) for call, w in watched]
        if any(covers is None for _, covers in coverage):
            return None  # a watch of something we cannot tell apart from this source
        matches = [call for call, covers in coverage if covers]
        if matches:
            late = self._watched_late(model, tape, source, matches)
            if late is None:
                return None
            message = self.late_message.format(watch=late[0], use=late[1], **fmt)
        elif source.category == "numpy":
            message = self.numpy_message.format(origin=source.origin, **fmt)
        elif source.category == "variable":
            origin = f" ({source.origin})" if source.bindings else ""
            message = self.variable_message.format(origin=origin, **fmt)
        elif not source.bindings:
            message = self.inline_message.format(**fmt)
        else:
            what = self.what[source.category].format(origin=source.origin)
            message = self.message.format(what=what, **fmt)
        reported.add(source.bindings)
        fix = None if matches else self._fix(model, tape, element, source)
        return Finding(element, message, fix)

    @staticmethod
    def _fix(model, tape, element, source: _Source) -> CstFix | None:
        """Insert `tape.watch(x)` at the top of the tape's only `with` block, when `x` is a name bound
        before that block."""
        if source.category == "numpy" or not isinstance(element, cst.Name) or len(tape.withs) != 1:
            return None
        with_node = tape.withs[0]
        body = with_node.body
        if not isinstance(body, cst.IndentedBlock) or not body.body:
            return None
        for b in source.bindings:
            if b.kind != "param" and (not model.before(b.node, with_node) or model.contains(with_node, b.node)):
                return None
        # The name in the `with` block must be the source's: a gradient taken in another function, of
        # that function's own `x`, is not fixed by watching the `x` the block sees.
        home = model.scopes.resolve_scope(element.value, model.scope_of(with_node))
        if not source.bindings or any(b.scope is not home for b in source.bindings):
            return None
        watch = cst.parse_statement(f"{tape.name}.watch({element.value})\n")
        new_body = body.with_changes(body=[watch] + list(body.body))
        return CstFix(f"Watch `{element.value}` at the top of the `with` block",
                      (Replacement(body, new_body),), Applicability.SAFE)

    # -- what the source is ------------------------------------------------------------------------------
    def _classify(self, model, tape, expr) -> _Source | None:
        if isinstance(expr, cst.Call):
            if self._fresh_call(model, tape, expr):
                return _Source("tensor", f"`{model.code(expr)}`", frozenset())
            if model.values.kind(expr) is Kind.NUMPY:
                return _Source("numpy", f"`{model.code(expr)}`", frozenset())
            return None
        if isinstance(expr, cst.Attribute):
            if tape.watch_accessed_variables is False and model.values.kind(expr) in (Kind.VARIABLE, Kind.VARIABLE_LIST):
                return _Source("variable", f"`{model.code(expr)}`", frozenset())
            return None
        if not isinstance(expr, cst.Name):
            return None
        bindings = self._origins(model, expr)
        if not bindings:
            return None
        key = frozenset(bindings)
        if all(b.kind == "param" for b in bindings):
            why = self._tensor_argument(model, tape, bindings)
            return _Source("argument", why, key) if why else None
        if any(b.kind not in _COMPUTED or b.value is None for b in bindings):
            return None
        values = [b.value for b in bindings]
        if all(isinstance(v, cst.Call) and self._fresh_call(model, tape, v) for v in values):
            return _Source("tensor", self._at(model, bindings), key)
        kinds = {model.values.kind(v) for v in values}
        if kinds == {Kind.NUMPY}:
            return _Source("numpy", self._at(model, bindings), key)
        if all(self._frozen_variable(model, v) for v in values):
            return _Source("frozen", self._at(model, bindings), key)
        if tape.watch_accessed_variables is False and len(kinds) == 1 and \
                kinds <= {Kind.VARIABLE, Kind.VARIABLE_LIST}:
            return _Source("variable", self._at(model, bindings), key)
        return None

    @staticmethod
    def _at(model, bindings) -> str:
        b = bindings[-1]
        if len(bindings) == 1:
            return f"`{model.code(b.value)}` at line {model.line_of(b.node)}"
        return f"`{model.code(b.value)}`"

    @staticmethod
    def _origins(model, name: cst.Name, depth: int = 0) -> list | None:
        """The bindings a name holds, through plain aliases (``y = x``)."""
        bindings = model.reaching(name)
        if not bindings or depth > 6:
            return None
        out = []
        for b in bindings:
            if b.kind == "assign" and isinstance(b.value, cst.Name):
                inner = UnwatchedSource._origins(model, b.value, depth + 1)
                if inner is None:
                    return None
                out.extend(i for i in inner if i not in out)
            elif b not in out:
                out.append(b)
        return out

    def _fresh_call(self, model, tape, call: cst.Call) -> bool:
        """A factory call whose result the tape cannot have recorded: made outside its recording range,
        or made inside from literals only."""
        if model.call_name(call) not in _FRESH:
            return False
        recording = model.tapes.records(tape, call)
        if recording is False:
            return True
        if recording is None and model.function_of(call) is None:
            return True  # module level: runs at import, before any tape in a function
        return all(self._literal_name(model, n) for n in model.names_in(call))

    @staticmethod
    def _literal_name(model, name: cst.Name) -> bool:
        if model.qualified_name(name) is not None:
            return True  # `tf`, `np`, builtins
        family = model.dtypes.family(name)
        return family is not None and family.startswith("py_") or \
            model.values.kind(name) in (Kind.NUMPY, Kind.PYTHON_NUMBER)

    @staticmethod
    def _frozen_variable(model, value) -> bool:
        qname = model.call_name(value) if isinstance(value, cst.Call) else None
        if qname not in N.VARIABLE_FACTORIES:
            return False
        position = 1 if qname in (N.VARIABLE, "tensorflow.compat.v1.Variable") else None  # keras: (initializer, shape, ...)
        return model.literal_bool(model.argument(value, position, "trainable")) is False

    def _tensor_argument(self, model, tape, bindings) -> str | None:
        """Why a parameter certainly holds a plain tensor: its annotation, or every call in the file."""
        if len(bindings) != 1:
            return None
        param: cst.Param = model.parent(bindings[0].node)
        fn = model.function_of(bindings[0].node)
        if not isinstance(fn, cst.FunctionDef) or not any(model.function_of(w) is fn for w in tape.withs):
            return None
        if param.annotation is not None and \
                model.qualified_name(param.annotation.annotation) in (_T + "Tensor", "tensorflow.types.experimental.Tensor"):
            return f"annotated `{model.code(param.annotation.annotation)}`"
        return self._called_with_tensors(model, tape, fn, param)

    def _called_with_tensors(self, model, tape, fn: cst.FunctionDef, param: cst.Param) -> str | None:
        if model.class_of(fn) is not None or param not in fn.params.params:
            return None
        if any(q != N.TF_FUNCTION for q in model.decorators_of(fn)) or \
                len(model.decorators_of(fn)) != len(fn.decorators):
            return None
        position = list(fn.params.params).index(param)
        definition = next((b for b in model.bindings_of(fn.name) if b.definition is fn), None) \
            if model.scope_of(fn) is not None else None
        if definition is None:
            return None
        loads = model.loads_of(definition)
        if not loads:
            return None
        first = None
        for name in loads:
            call = model.parent(name)
            if not (isinstance(call, cst.Call) and call.func is name):
                return None
            arg = model.argument(call, position, param.name.value)
            if arg is None or not self._fresh_argument(model, arg):
                return None
            first = first or arg
        return f"every call in this file passes a new tensor, e.g. `{model.code(first)}`"

    def _fresh_argument(self, model, arg) -> bool:
        """A new tensor made at the call site from literals (or a name bound to one)."""
        if isinstance(arg, cst.Name):
            bindings = model.reaching(arg)
            if not bindings or any(b.kind not in _COMPUTED or b.value is None for b in bindings):
                return False
            return all(self._fresh_argument(model, b.value) for b in bindings if b.value is not arg)
        return isinstance(arg, cst.Call) and model.call_name(arg) in _FRESH and \
            all(self._literal_name(model, n) for n in model.names_in(arg))

    # -- what the tape watches -----------------------------------------------------------------------------
    def _watched_elements(self, model, watches):
        """(watch call, element) pairs; None when a watch argument cannot be split into elements."""
        out = []
        for use in watches:
            arg = model.argument(use.node, 0, "tensor")
            elements = model.elements(arg)
            if elements is None:
                return None
            out.extend((use.node, e) for e in elements)
        return out

    def _covers(self, model, watched, element, source: _Source) -> bool | None:
        """True: `watched` is the source; None: it may be (unknown); False: it is certainly another value."""
        if isinstance(watched, cst.Name):
            origins = self._origins(model, watched)
            if origins and source.bindings and set(origins) & source.bindings:
                return True
            if not origins or any(b.kind not in _COMPUTED or b.value is None for b in origins):
                return None
            kinds = {model.values.kind(b.value) for b in origins}
            if Kind.UNKNOWN in kinds or Kind.VARIABLE_LIST in kinds:
                return None
            return False
        if isinstance(watched, cst.Attribute):
            return True if model.code(watched) == model.code(element) else None
        if isinstance(watched, cst.Call) and model.call_name(watched) in _FRESH and \
                all(self._literal_name(model, n) for n in model.names_in(watched)):
            return False  # a new tensor, watched for nothing
        return None

    def _watched_late(self, model, tape, source: _Source, watch_calls) -> tuple[int, int] | None:
        """(watch line, use line) when every watch of the source comes after its first use inside the
        tape's `with` block (same function, straight-line order)."""
        if not source.bindings:
            return None
        uses = []
        for b in source.bindings:
            for name in model.loads_of(b):
                if model.tapes.records(tape, name) is not True:
                    continue
                if any(model.contains(call, name) for call in watch_calls) or model.values.inspects_only(name):
                    continue  # the watch itself, or a look that records nothing (`assert xs`, `len(xs)`)
                uses.append(name)
        if not uses:
            return None
        first = min(uses, key=model.tree.order.__getitem__)
        if not all(model.tapes.records(tape, call) is True and model.before(first, call)
                   and model.function_of(call) is model.function_of(first) for call in watch_calls):
            return None
        return model.line_of(watch_calls[0]), model.line_of(first)

    @staticmethod
    def _only_tape_methods(model, tape) -> bool:
        """The tape is only used through its own methods here: no watch can hide elsewhere."""
        for name in model.loads_of(tape.binding):
            parent = model.parent(name)
            if isinstance(parent, (cst.Del, cst.WithItem)):
                continue
            if not (isinstance(parent, cst.Attribute) and parent.value is name and parent.attr.value in USE_METHODS):
                return False
        return True


# -- the screen (on CPython's tree) -----------------------------------------------------------------------------
def _may_report(facts, sites, names: NameValues, tape) -> bool:
    """... a source of one of its differentiations that ``_classify`` may put in a category, and that
    no watch of the tape certainly hides or covers in time."""
    home, made, watches = names.scope_at(tape.call), _tape_binding(sites, tape), None
    for use in sites.uses_of(tape, *DIFFERENTIATE):
        scope, read = names.scope_at(use.node), use.node.func.value
        owner = names.resolve(tape.name, scope)
        if owner is not None and owner is not home:
            continue  # ``TapeIndex.tape_of``: the name is another scope's there
        if owner is home and not names.own_read(read, home) and len(names.points(tape.name, home)) > 1:
            continue  # ... read from a nested scope, every binding of the name reaches it: not one tape
        binding = names.last_binding(read, scope)
        if binding is not None and binding.node is not made:
            continue  # ... another binding of the name is the one that reaches it
        for element, s in names.elements(use.sources, scope):
            if not _may_need_watch(facts, sites, tape, element, s, names):
                continue
            if watches is None:
                watches = _watches_of(names, sites, tape)
                if any(_hides_every_source(facts, names, watch) for watch in watches):
                    return False
            if not _watched_first(names, sites, tape, watches, element, s):
                return True
    return False


def _tape_binding(sites, tape) -> ast.Name | None:
    """The name the tape's creation binds (`with ... as t`, `t = ...`)."""
    parent = sites.parent(tape.call)
    if isinstance(parent, ast.withitem):
        return parent.optional_vars
    return parent.targets[0] if isinstance(parent, ast.Assign) else None


# -- what the source may be (``_classify``) ---------------------------------------------------------------------
def _may_need_watch(facts, sites, tape, element: ast.expr, scope, names: NameValues) -> bool:
    """``_classify`` may find a category for the source ``element``: a new tensor made in the call, a
    NumPy array, a variable of a tape that watches none by itself; or a name whose origins (through
    aliases `y = x`) may be new tensors, NumPy arrays, non-trainable or (on such a tape) any variables,
    or a tensor argument."""
    if isinstance(element, ast.Call):
        return _may_be_fresh(facts, element) or _may_be_numpy(facts, element, scope, names)
    if isinstance(element, ast.Attribute):
        return tape.watch_accessed_variables is False and _may_be_variable(facts, element, scope, names)
    if not isinstance(element, ast.Name):
        return False
    todo, seen = [(element, scope)], set()
    while todo:  # (reads of names, through aliases)
        read, s = todo.pop()
        binding = names.last_binding(read, s)
        if binding is None:
            if (read.id, s) in seen:
                continue
            seen.add((read.id, s))
            values = names.values(read.id, s)
        else:  # (the only binding that reaches the read)
            values = [(binding.value, s)] if binding.kind in _COMPUTED and binding.value is not None else []
        if (binding is None or binding.kind == "param") and _may_be_tensor_argument(facts, sites, tape, read.id, names):
            return True
        for value, vs in values:
            if isinstance(value, ast.Name):
                todo.append((value, vs))
            elif _may_be_fresh(facts, value) or _may_be_numpy(facts, value, vs, names) or \
                    _may_be_frozen(facts, value) or \
                    tape.watch_accessed_variables is False and _may_be_variable(facts, value, vs, names):
                return True
    return False


def _may_be_fresh(facts, expr: ast.expr | None) -> bool:
    """``_fresh_call``'s first condition: a call of one of the `_FRESH` factories."""
    return isinstance(expr, ast.Call) and facts.may_refer_to(expr.func, _FRESH)


def _may_be_frozen(facts, expr: ast.expr) -> bool:
    """``_frozen_variable``: a variable factory called with a literal `trainable=False`."""
    return isinstance(expr, ast.Call) and facts.may_refer_to(expr.func, N.VARIABLE_FACTORIES) and \
        literal_bool(argument(expr, 1, "trainable")) is False


def _may_be_numpy(facts, expr: ast.expr, scope, names: NameValues) -> bool:
    """The value analysis may give ``expr`` the kind NUMPY: it reaches, through names, unary and binary
    operations and the objects of method calls (`.astype(...)`), a call that an import can make a
    NumPy, JAX NumPy or SciPy function, or a `.numpy()`."""
    todo, seen = [(expr, scope)], set()
    while todo:
        e, s = todo.pop()
        if isinstance(e, ast.Call):
            func = e.func
            if facts.may_refer_under(func, N.NUMPY_MODULES) or \
                    isinstance(func, ast.Attribute) and func.attr == "numpy" and not e.args:
                return True
            if isinstance(func, ast.Attribute):
                todo.append((func.value, s))
        elif isinstance(e, ast.UnaryOp):
            todo.append((e.operand, s))
        elif isinstance(e, ast.BinOp):
            todo += [(e.left, s), (e.right, s)]
        elif isinstance(e, ast.Name) and (e.id, s) not in seen:
            seen.add((e.id, s))
            todo += names.values(e.id, s)
    return False


def _may_be_variable(facts, expr: ast.expr, scope, names: NameValues) -> bool:
    """The value analysis may give ``expr`` the kind VARIABLE or VARIABLE_LIST: it reaches, through
    names and unary operations, a call that may make a variable, an attribute named as Keras's lists of
    variables, or `self.w` where `w` may be bound to a variable."""
    todo, seen = [(expr, scope)], set()
    while todo:
        e, s = todo.pop()
        if isinstance(e, ast.Call) and facts.makes_variable_by_call(e):
            return True
        if isinstance(e, ast.Attribute) and (e.attr in VARIABLE_LIST_ATTRIBUTES or isinstance(e.value, ast.Name)
                                             and e.value.id == "self" and e.attr in facts.self_variable_attributes):
            return True
        if isinstance(e, ast.UnaryOp):
            todo.append((e.operand, s))
        elif isinstance(e, ast.Name) and (e.id, s) not in seen:
            seen.add((e.id, s))
            todo += names.values(e.id, s)
    return False


def _may_be_tensor_argument(facts, sites, tape, name: str, names: NameValues) -> bool:
    """``_tensor_argument``: ``name`` is a parameter of a function that holds a `with` of the tape,
    annotated `tf.Tensor`, or (``_called_with_tensors``) a plain parameter of a function outside class
    bodies, decorated by `tf.function` only, that some call passes a new tensor."""
    for fn in {sites.function_of(w) for w in tape.withs}:
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        args = fn.args
        for arg in parameters(args):
            if arg.arg != name:
                continue
            if arg.annotation is not None and facts.may_refer_to(arg.annotation, _TENSOR_TYPES):
                return True
            if arg in args.args and not isinstance(sites.parent(fn), ast.ClassDef) and \
                    all(facts.may_refer_to(d.func if isinstance(d, ast.Call) else d, _TF_FUNCTION)
                        for d in fn.decorator_list) and \
                    _called_with_new_tensor(facts, fn, args.args.index(arg), name, names):
                return True
    return False


def _called_with_new_tensor(facts, fn, position: int, keyword: str, names: NameValues) -> bool:
    """Some call of ``fn``'s name passes, for the parameter, a call of a `_FRESH` factory, or a name
    that may be bound to one through names (``_fresh_argument``)."""
    for call in facts.calls_where(call_pattern(fn.name), {fn.name}):
        if not (isinstance(call.func, ast.Name) and call.func.id == fn.name):
            continue
        todo, seen = [(argument(call, position, keyword), names.scope_at(call))], set()
        while todo:
            arg, s = todo.pop()
            if _may_be_fresh(facts, arg):
                return True
            if isinstance(arg, ast.Name) and (arg.id, s) not in seen:
                seen.add((arg.id, s))
                todo += names.values(arg.id, s)
    return False


# -- what the tape certainly watches ------------------------------------------------------------------------
def _watches_of(names: NameValues, sites, tape) -> list:
    """The `watch` calls the semantic model certainly gives to ``tape`` (``TapeIndex.tape_of`` of the name
    they are called on): in the block of the `with` statement that makes and names the tape, in the own
    code of its scope (not in a comprehension or a nested function, which every binding of the name
    reaches), where no other binding of the name takes effect after the tape's, up to the end of that
    statement: the tape's binding, which dominates the block, is the only one that reaches them."""
    with_ = tape.withs[0]
    if not any(item.context_expr is tape.call for item in with_.items):
        return []  # made by `t = tf.GradientTape()`
    scope = names.scope_at(tape.call)
    if names.resolve(tape.name, scope) is not scope:
        return []
    made, end = end_of(tape.call), end_of(with_)
    if any(p is None or made < p <= end for p in names.points(tape.name, scope)):
        return []
    return [u for u in sites.uses_of(tape, "watch") if contains(with_, u.node) and
            sites.records(tape, u.node) is True and names.own_read(u.node.func.value, scope)]


def _hides_every_source(facts, names: NameValues, watch) -> bool:
    """``_watched_elements`` is None (no argument, or a starred item), or an element is something
    ``_covers`` tells from no source (not a name, nor a new tensor's call): then ``_check_source`` leaves
    every source of the tape alone. A name is split into the items of the list it holds where
    ``elements`` certainly does so: one binding reaches it, an assignment of a list or tuple literal,
    and nothing in the text may use an attribute or an item of the name (``_mutated``)."""
    todo = [argument(watch.node, 0, "tensor")]
    while todo:
        arg = todo.pop()
        if isinstance(arg, (ast.Tuple, ast.List)):
            todo += arg.elts
        elif isinstance(arg, ast.Name):
            binding = names.last_binding(arg, names.scope_at(arg))
            if binding is not None and binding.kind == "assign" and isinstance(binding.value, (ast.Tuple, ast.List)) \
                    and not re.search(r"\b" + re.escape(arg.id) + r"(?:[\s\\]|#[^\n]*)*[.\[]", facts.text):
                todo += binding.value.elts
        elif not _may_be_fresh(facts, arg):
            return True  # (None and a starred item included)
    return False


def _watched_first(names: NameValues, sites, tape, watches, element: ast.expr, scope) -> bool:
    """The source ``element``, a name, is certainly covered by one of ``watches`` (``_covers``: some
    binding reaches both reads of the name), which no use of the source in the tape's blocks comes
    before (``_watched_late`` finds none): no read of the name, or of a name it aliases, but those that
    only look at the object (``inspects_only``) and those that another binding certainly reaches."""
    if not isinstance(element, ast.Name):
        return False
    name, owner = element.id, names.resolve(element.id, scope)
    if owner is None or any(isinstance(v, (ast.Tuple, ast.List)) for v, _ in names.values(name, scope)):
        return False  # (a list literal: ``elements`` may split the name at one read and not the other)
    aliases = {name}
    todo = [(name, scope)]
    for n, s in todo:  # (grows)
        for value, vs in names.values(n, s):
            if isinstance(value, ast.Name) and value.id not in aliases:
                aliases.add(value.id)
                todo.append((value.id, vs))
    source = names.last_binding(element, scope)
    if source is not None and (source.kind not in _COMPUTED or isinstance(source.value, ast.Name)):
        source = None  # (only a binding that is its own origin tells the uses)
    reads = []
    for with_ in tape.withs:
        for node in ast.walk(with_):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in aliases and \
                    not _inspects_only(names, sites, node):
                other = names.last_binding(node, names.scope_at(node)) if source is not None else None
                if other is None or other.node is source.node:
                    reads.append(node)
    for watch in watches:
        if any(start_of(r) < start_of(watch.node) and not contains(watch.node, r) for r in reads):
            continue
        for read in _watched_names(watch):
            if read.id == name and names.resolve(name, names.scope_at(read)) is owner and \
                    _same_binding_reaches(names, owner, name, read, element):
                return True
    return False


def _watched_names(watch) -> list[ast.Name]:
    """The names among the elements of the watch's argument, as written (in list and tuple literals)."""
    out, todo = [], [argument(watch.node, 0, "tensor")]
    while todo:
        arg = todo.pop()
        if isinstance(arg, (ast.Tuple, ast.List)):
            todo += arg.elts
        elif isinstance(arg, ast.Name):
            out.append(arg)
    return out


def _same_binding_reaches(names: NameValues, owner, name: str, a: ast.Name, b: ast.Name) -> bool:
    """Some binding of ``name`` in ``owner`` reaches both reads (``ScopeIndex.reaching``): every binding
    of ``owner`` reaches a read in code of another scope (a nested function, lambda or comprehension);
    of two reads in its own code, the binding that takes effect last before both reaches both when none
    takes effect between them (the model keeps the last binding before a read, dominating or not)."""
    if not (names.own_read(a, owner) and names.own_read(b, owner)):
        return True
    points = names.points(name, owner)
    if None in points:
        return False
    first, last = sorted((start_of(a), start_of(b)))
    return any(p < first for p in points) and not any(first <= p < last for p in points)


def _inspects_only(names: NameValues, sites, read: ast.Name) -> bool:
    """``ValueAnalysis.inspects_only``: the read only looks at the object (`x.shape`, `assert xs`,
    `if not x:`, `x is None`, `len(xs)` with the builtin `len`)."""
    parent = sites.parent(read)
    if isinstance(parent, ast.Attribute) and parent.value is read:
        return parent.attr in N.NON_READING_ATTRIBUTES
    node = read
    if isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.Not):
        node, parent = parent, sites.parent(parent)
    if isinstance(parent, (ast.Assert, ast.If, ast.While, ast.IfExp)) and parent.test is node:
        return True
    if isinstance(parent, ast.Compare):
        return all(isinstance(op, (ast.Is, ast.IsNot)) for op in parent.ops)
    return isinstance(parent, ast.Call) and node in parent.args and isinstance(parent.func, ast.Name) and \
        "builtins." + parent.func.id in N.INSPECTING_BUILTINS and names.builtin(parent.func.id, names.scope_at(parent))
