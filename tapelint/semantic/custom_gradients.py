"""Every ``tf.custom_gradient`` function: its inputs, its gradient function(s), what they return, the
variables the forward function reads, and the calls of it in the same file.

TensorFlow's contract (``tensorflow/python/ops/custom_gradient.py``): the forward function returns
``(output, grad_fn)``; ``grad_fn`` is called with one positional upstream gradient per flattened output
and returns ``nest.flatten``-able input gradients, one per positional argument of the call; when the
forward reads trainable variables that are not inputs, ``grad_fn`` must accept ``variables`` and return
``(input_grads, variable_grads)`` with one gradient per variable. Keyword arguments of the call are not
inputs: they get no gradient in eager mode and raise ValueError in graph mode.

The shape helpers here (``flat_count``, ``is_tensor``, ``is_function``) answer only when certain and
return None / False otherwise, so rules built on them stay silent on what cannot be told statically.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tapelint.lazy_libcst import cst
from tapelint.semantic import names as N
from tapelint.semantic.values import Kind

if TYPE_CHECKING:
    from tapelint.semantic.model import SemanticModel


@dataclass(eq=False)
class GradFunction:
    node: cst.FunctionDef | cst.Lambda
    positional: list[cst.Param]  # upstream gradient parameter(s), without `variables`
    takes_variables: bool  # a `variables` parameter or **kwargs
    returns: list[cst.BaseExpression | None]  # the values of its own return statements (None: bare return)
    # The Return statements (for a lambda: its body expression), in the order of ``returns``.
    return_nodes: list[cst.CSTNode] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.node.name.value if isinstance(self.node, cst.FunctionDef) else "<lambda>"

    @property
    def has_variables_param(self) -> bool:
        """An explicit `variables` parameter (not just **kwargs)."""
        params = self.node.params
        return any(p.name.value == "variables"
                   for p in list(params.posonly_params) + list(params.params) + list(params.kwonly_params))

    @property
    def star_upstream(self) -> bool:
        """Takes the upstream gradients as ``*grad_ys``."""
        return isinstance(self.node.params.star_arg, cst.Param)


@dataclass(eq=False)
class ForwardReturn:
    """One ``return output, grad_fn`` of a forward function."""

    node: cst.Return
    output: cst.BaseExpression | None  # first element of the returned pair (None: not a pair)
    grad_expr: cst.BaseExpression | None  # second element of the returned pair
    grad: GradFunction | None  # the gradient function it names, when it can be told


@dataclass(eq=False)
class CustomGradient:
    forward: cst.FunctionDef
    application: cst.CSTNode  # the decorator, or the `tf.custom_gradient(f)` call
    is_method: bool
    inputs: list[cst.Param]  # positional inputs, without `self`
    variadic: bool  # takes *args: the number of inputs is not known statically
    returns: list[cst.Return]  # the forward function's own return statements
    grad_functions: list[GradFunction] = field(default_factory=list)
    variables_read: list[cst.CSTNode] = field(default_factory=list)  # expressions reading tf.Variables
    pairs: list[ForwardReturn] = field(default_factory=list)  # one per return statement
    # Distinct trainable variables the forward body certainly reads (by `self.<attr>` or by binding).
    variable_keys: list[object] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.forward.name.value

    @property
    def decorated(self) -> bool:
        return isinstance(self.application, cst.Decorator)

    @property
    def required_inputs(self) -> int:
        """Positional inputs without a default (the fewest a call can pass)."""
        return sum(1 for p in self.inputs if p.default is None)

    @property
    def reads_variables(self) -> bool:
        """The forward body certainly reads a trainable tf.Variable that is not one of its inputs, so
        TensorFlow passes ``variables=`` to the gradient function."""
        return bool(self.variables_read)


def own_returns(model: "SemanticModel", function: cst.CSTNode) -> list[cst.Return]:
    return [r for r in model.tree.descendants(function, cst.Return) if model.function_of(r) is function]


def positional_params(params: cst.Parameters) -> list[cst.Param]:
    return list(params.posonly_params) + list(params.params)


# The last component of TensorFlow/Keras functions that return a list, tuple or structure rather than
# one tensor (so they are not one gradient), or a composite tensor.
_STRUCTURED_RESULTS = frozenset({
    "identity_n", "tuple", "shape_n", "dynamic_partition", "unique", "unique_with_counts", "split",
    "unstack", "meshgrid", "scan", "foldl", "foldr", "eig", "eigh", "eigh_tridiagonal", "svd", "qr", "lu",
    "lu_factor", "slogdet", "moments", "weighted_moments", "sufficient_statistics", "normalize_moments",
    "top_k", "max_pool_with_argmax", "fractional_max_pool", "fractional_avg_pool", "ctc_beam_search_decoder",
    "ctc_greedy_decoder", "while_loop", "map_fn", "vectorized_map", "cond", "switch_case", "case",
    "py_function", "numpy_function", "gradients", "group", "custom_gradient", "recompute_grad",
    "grad_pass_through", "function",
})
_COMPOSITE_NAMESPACES = ("tensorflow.sparse.", "tensorflow.ragged.", "tensorflow.nest.", "tensorflow.raw_ops.",
                         "tensorflow.data.", "tensorflow.distribute.")


@functools.cache
def _arithmetic() -> tuple[type, ...]:  # (built on first use: tapelint/lazy_libcst.py)
    return (cst.Add, cst.Subtract, cst.Multiply, cst.Divide, cst.FloorDivide, cst.Power, cst.MatrixMultiply,
            cst.Modulo)


@functools.cache
def _sequence_literals() -> tuple[type, ...]:
    return (cst.List, cst.Tuple, cst.ListComp, cst.Dict, cst.DictComp, cst.Set, cst.SetComp, cst.GeneratorExp)


# Functions whose first argument is a sequence (of tensors).
_SEQUENCE_CONSUMERS = frozenset({
    "builtins.len", "builtins.zip", "builtins.enumerate", "builtins.list", "builtins.tuple", "builtins.map",
    "builtins.sorted", "builtins.reversed", "builtins.sum", "builtins.iter", "tensorflow.concat",
    "tensorflow.stack", "tensorflow.add_n", "tensorflow.math.add_n", "tensorflow.dynamic_stitch",
    "tensorflow.group", "tensorflow.tuple", "tensorflow.identity_n", "keras.ops.concatenate",
    "keras.ops.stack",
})
_MAX_DEPTH = 12


class CustomGradientIndex:
    def __init__(self, model: "SemanticModel") -> None:
        self.model = model
        self.functions: list[CustomGradient] = []
        self._tensor_params: set[cst.Param] = set()
        self._tensor_cache: dict[cst.CSTNode, bool] = {}
        self._by_application: dict[cst.CSTNode, CustomGradient] = {}
        self._calls: dict[CustomGradient, list[cst.Call]] | None = None
        self._find()

    def __iter__(self):
        return iter(self.functions)

    # -- discovery ----------------------------------------------------------------------------------------
    def _find(self) -> None:
        model = self.model
        if not any(n.value == "custom_gradient" for n in model.nodes(cst.Name)):
            return  # every spelling (tf.custom_gradient, an import, an alias) names it somewhere
        seen: set[cst.FunctionDef] = set()
        for fn in model.nodes(cst.FunctionDef):
            for deco in fn.decorators:
                expr = deco.decorator.func if isinstance(deco.decorator, cst.Call) else deco.decorator
                if model.qualified_name(expr) == N.CUSTOM_GRADIENT:
                    self._add(fn, deco)
                    seen.add(fn)
                    break
        for call in model.nodes(cst.Call):
            if model.call_name(call) != N.CUSTOM_GRADIENT:
                continue
            fn = self._function_named(model.argument(call, 0, "f"))
            if fn is not None and fn not in seen:
                self._add(fn, call)
                seen.add(fn)

    def is_forward(self, node: cst.CSTNode) -> bool:
        """``node`` is the forward function of a custom gradient of this file."""
        return any(cg.forward is node for cg in self.functions)

    def _function_named(self, arg: cst.BaseExpression | None) -> cst.FunctionDef | None:
        """The function a ``tf.custom_gradient(...)`` argument names: a function of this file, or
        ``self.method`` for a method of the enclosing class."""
        model = self.model
        if isinstance(arg, cst.Name):
            bindings = model.reaching(arg) or []
            defs = {b.definition for b in bindings if b.kind == "def"}
            if len(defs) == 1 and len(bindings) == 1:
                return defs.pop()
        elif isinstance(arg, cst.Attribute) and isinstance(arg.value, cst.Name) and arg.value.value == "self":
            cls = self.class_around(arg)
            if cls is not None:
                return self._method_of(cls, arg.attr.value)
        return None

    def _method_of(self, cls: cst.ClassDef, name: str) -> cst.FunctionDef | None:
        methods = [s for s in cls.body.body if isinstance(s, cst.FunctionDef) and s.name.value == name]
        return methods[0] if len(methods) == 1 else None

    def class_around(self, node: cst.CSTNode) -> cst.ClassDef | None:
        """The class whose method (possibly through nested functions) holds ``node``."""
        fn = self.model.function_of(node)
        while fn is not None:
            cls = self.model.class_of(fn)
            if cls is not None:
                return cls
            fn = self.model.function_of(fn)
        return None

    def _add(self, fn: cst.FunctionDef, application: cst.CSTNode) -> None:
        model = self.model
        is_method = model.class_of(fn) is not None and not any(
            model.qualified_name(d.decorator) == "builtins.staticmethod" for d in fn.decorators
        )
        params = positional_params(fn.params)
        if is_method and params:
            params = params[1:]
        cg = CustomGradient(
            forward=fn,
            application=application,
            is_method=is_method,
            inputs=params,
            variadic=isinstance(fn.params.star_arg, cst.Param),
            returns=own_returns(model, fn),
        )
        self._tensor_params.update(params)
        for ret in cg.returns:
            output, grad_expr = self._split_pair(ret.value)
            grad = self._grad_function(grad_expr)
            if grad is not None:
                known = [g for g in cg.grad_functions if g.node is grad.node]
                if known:
                    grad = known[0]
                else:
                    cg.grad_functions.append(grad)
                    if not grad.star_upstream:
                        self._tensor_params.update(grad.positional)
            cg.pairs.append(ForwardReturn(ret, output, grad_expr, grad))
        cg.variables_read, cg.variable_keys = self._variables_read(fn, cg)
        self.functions.append(cg)
        self._by_application[application] = cg

    def _split_pair(self, value: cst.BaseExpression | None) -> tuple[cst.BaseExpression | None, cst.BaseExpression | None]:
        if isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == 2 and not any(
            isinstance(e, cst.StarredElement) for e in value.elements
        ):
            return value.elements[0].value, value.elements[1].value
        return None, None

    @staticmethod
    def _returned_grad_expr(ret: cst.Return) -> cst.BaseExpression | None:
        value = ret.value
        if isinstance(value, cst.Tuple) and len(value.elements) == 2:
            return value.elements[1].value
        return None

    def _grad_function(self, expr: cst.BaseExpression | None) -> GradFunction | None:
        model = self.model
        node = None
        if isinstance(expr, cst.Lambda):
            node = expr
        elif isinstance(expr, cst.Name):
            bindings = model.reaching(expr) or []
            defs = {b.definition for b in bindings if b.kind == "def"}
            if len(defs) == 1 and len(bindings) == 1:
                node = defs.pop()
        if node is None:
            return None
        params = node.params
        positional = positional_params(params)
        names = {p.name.value for p in positional} | {p.name.value for p in params.kwonly_params}
        takes_variables = "variables" in names or isinstance(params.star_kwarg, cst.Param)
        positional = [p for p in positional if p.name.value != "variables"]
        if isinstance(node, cst.Lambda):
            returns, return_nodes = [node.body], [node.body]
        else:
            rets = own_returns(model, node)
            returns, return_nodes = [r.value for r in rets], list(rets)
        return GradFunction(node, positional, takes_variables, returns, return_nodes)

    # -- variables ------------------------------------------------------------------------------------------
    def _variables_read(self, fn: cst.FunctionDef, cg: CustomGradient) -> tuple[list[cst.CSTNode], list[object]]:
        """Reads, in the forward body itself (not in nested functions such as the gradient function,
        which run later or maybe never), of trainable ``self.<variable>`` attributes or of names bound
        to trainable tf.Variables outside the function. Metadata such as ``v.shape`` is not a read."""
        model = self.model
        out: list[cst.CSTNode] = []
        keys: list[object] = []
        for attr in model.tree.descendants(fn.body, cst.Attribute):
            if model.function_of(attr) is not fn or not model.values.is_self_variable(attr):
                continue
            if self._is_metadata_access(attr) or not self._self_variable_trainable(attr):
                continue
            out.append(attr)
            key = ("self", attr.attr.value)
            if key not in keys:
                keys.append(key)
        for name in model.names_in(fn.body):
            if model.function_of(name) is not fn:
                continue
            owner = model.scopes.resolve_scope(name.value, model.scope_of(name))
            if owner is None or owner.node is fn or model.contains(fn, owner.node):
                continue
            bindings = owner.bindings[name.value]
            if not bindings or not all(model.values.binding_kind(b) is Kind.VARIABLE for b in bindings):
                continue
            if self._is_metadata_access(name) or not all(self._created_trainable(b.value) for b in bindings):
                continue
            out.append(name)
            key = ("name", id(owner), name.value)
            if key not in keys:
                keys.append(key)
        return out, keys

    def _is_metadata_access(self, expr: cst.CSTNode) -> bool:
        parent = self.model.parent(expr)
        return isinstance(parent, cst.Attribute) and parent.value is expr and parent.attr.value in N.NON_READING_ATTRIBUTES

    def _created_trainable(self, value: cst.BaseExpression | None) -> bool:
        """A variable-creating call that certainly makes a trainable variable (no `trainable=` other
        than a literal True, no ON_READ synchronization)."""
        if not isinstance(value, cst.Call):
            return False
        for arg in value.args:
            if arg.star:
                return False
            if arg.keyword is not None and arg.keyword.value == "trainable":
                if self.model.literal_bool(arg.value) is not True:
                    return False
            if arg.keyword is not None and arg.keyword.value == "synchronization":
                return False
        if self.model.call_name(value) in N.VARIABLE_FACTORIES:
            # tf.Variable(initial_value, trainable, ...): the second positional argument is `trainable`
            trainable = self.model.argument(value, 1)
            if trainable is not None and self.model.literal_bool(trainable) is not True:
                return False
        return True

    def _self_variable_trainable(self, attr: cst.Attribute) -> bool:
        cls = self.class_around(attr)
        if cls is None:
            return False
        values = []
        for assign in self.model.tree.descendants(cls, cst.Assign):
            for target in assign.targets:
                t = target.target
                if (isinstance(t, cst.Attribute) and isinstance(t.value, cst.Name) and t.value.value == "self"
                        and t.attr.value == attr.attr.value):
                    values.append(assign.value)
        values = [v for v in values if not self.is_none(v)]  # `self.w = None` in __init__, built later
        return bool(values) and all(self._created_trainable(v) for v in values)

    # -- calls ---------------------------------------------------------------------------------------------
    def called(self, call: cst.Call) -> CustomGradient | None:
        """The custom-gradient function that ``call`` certainly calls through its custom_gradient
        wrapper: ``f(...)`` for a decorated ``f`` (custom_gradient the outermost decorator) or a name
        bound to ``tf.custom_gradient(f)``, ``self.m(...)`` for a decorated method of the enclosing
        class, or ``tf.custom_gradient(f)(...)``."""
        func = call.func
        if func in self._by_application:
            return self._by_application[func]
        model = self.model
        if isinstance(func, cst.Name):
            bindings = model.reaching(func)
            if not bindings:
                return None
            if bindings[0].scope is not model.scope_of(func) and all(not b.containers for b in bindings):
                # a free variable, read when the function runs: after `f = tf.custom_gradient(f)` has
                # replaced the plain `def f` (all bindings unconditional), the last one holds
                bindings = [max(bindings, key=lambda b: b.at)]
            found = set()
            for b in bindings:
                if b.kind == "def":
                    found.add(self._decorated(b.definition))
                elif b.kind == "assign" and isinstance(b.value, cst.Call):
                    found.add(self._by_application.get(b.value))
                else:
                    return None
            return found.pop() if len(found) == 1 else None
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self":
            cls = self.class_around(call)
            if cls is None:
                return None
            method = self._method_of(cls, func.attr.value)
            return self._decorated(method) if method is not None else None
        return None

    def _decorated(self, fn: cst.FunctionDef | None) -> CustomGradient | None:
        """The custom gradient of ``fn`` when tf.custom_gradient is its outermost decorator."""
        for cg in self.functions:
            if cg.forward is fn and cg.decorated:
                return cg if fn.decorators and fn.decorators[0] is cg.application else None
        return None

    def calls(self, cg: CustomGradient) -> list[cst.Call]:
        """The calls of ``cg`` in this file (see :meth:`called`)."""
        if self._calls is None:
            self._calls = {c: [] for c in self.functions}
            if self.functions:
                for call in self.model.nodes(cst.Call):
                    target = self.called(call)
                    if target is not None:
                        self._calls[target].append(call)
        return self._calls.get(cg, [])

    def inputs_may_be_structures(self, cg: CustomGradient) -> bool:
        """Some positional input may be a list or tuple of tensors, which TensorFlow flattens into
        several inputs: a call in this file passes a list/tuple literal or ``*args``, or the forward or
        gradient function iterates, unpacks, measures or star-expands an input."""
        model = self.model
        for call in self.calls(cg):
            for arg in call.args:
                if arg.star == "*" or (arg.keyword is None and isinstance(arg.value, (cst.List, cst.Tuple))):
                    return True
        params = set(cg.inputs)
        for name in model.names_in(cg.forward.body):
            bindings = model.reaching(name)
            if not bindings or not any(b.kind == "param" and model.parent(b.node) in params for b in bindings):
                continue
            if self._used_as_sequence(name):
                return True
        return False

    def _used_as_sequence(self, name: cst.Name) -> bool:
        model = self.model
        parent = model.parent(name)
        if isinstance(parent, (cst.For, cst.CompFor)) and parent.iter is name:
            return True
        if isinstance(parent, (cst.StarredElement,)) or (isinstance(parent, cst.Arg) and parent.star == "*"):
            return True
        if isinstance(parent, cst.Assign) and parent.value is name and any(
                isinstance(t.target, (cst.Tuple, cst.List)) for t in parent.targets):
            return True
        if isinstance(parent, cst.Arg) and parent.value is name:
            call = model.parent(parent)
            if isinstance(call, cst.Call) and call.args and call.args[0] is parent:
                qname = model.call_name(call) or ""
                if qname in _SEQUENCE_CONSUMERS or qname.startswith("tensorflow.nest."):
                    return True
        return False

    # -- shapes of values ------------------------------------------------------------------------------------
    def is_function(self, expr: cst.BaseExpression | None) -> bool:
        """``expr`` is certainly a function (a lambda, or a name bound only to ``def``s)."""
        if isinstance(expr, cst.Lambda):
            return True
        if isinstance(expr, cst.Name):
            bindings = self.model.reaching(expr)
            return bool(bindings) and all(b.kind == "def" for b in bindings)
        return False

    def is_none(self, expr: cst.BaseExpression | None) -> bool:
        return isinstance(expr, cst.Name) and expr.value == "None"

    def is_tensor(self, expr: cst.BaseExpression | None, _depth: int = 0) -> bool:
        """``expr`` is certainly one tensor: an upstream gradient, an input of a custom-gradient function,
        a TensorFlow op's result, arithmetic on a tensor, a slice of a tensor."""
        if expr is None or _depth > _MAX_DEPTH:
            return False
        cached = self._tensor_cache.get(expr)
        if cached is not None:
            return cached
        self._tensor_cache[expr] = False  # cycles through loop-carried bindings
        result = self._is_tensor(expr, _depth)
        self._tensor_cache[expr] = result
        return result

    def _is_tensor(self, expr: cst.BaseExpression, depth: int) -> bool:
        model = self.model
        if isinstance(expr, cst.Name):
            if expr.value in ("None", "True", "False"):
                return False
            bindings = model.reaching(expr)
            return bool(bindings) and all(self._binding_is_tensor(b, depth + 1) for b in bindings)
        if isinstance(expr, cst.BinaryOperation):
            if not isinstance(expr.operator, _arithmetic()):
                return False
            if isinstance(expr.left, _sequence_literals()) or isinstance(expr.right, _sequence_literals()):
                return False
            return self.is_tensor(expr.left, depth + 1) or self.is_tensor(expr.right, depth + 1)
        if isinstance(expr, cst.UnaryOperation):
            return not isinstance(expr.operator, cst.Not) and self.is_tensor(expr.expression, depth + 1)
        if isinstance(expr, cst.Subscript):
            return self.is_tensor(expr.value, depth + 1)
        if isinstance(expr, cst.IfExp):
            return self.is_tensor(expr.body, depth + 1) and self.is_tensor(expr.orelse, depth + 1)
        if isinstance(expr, cst.Call):
            qname = model.call_name(expr)
            if qname is None or qname.startswith(_COMPOSITE_NAMESPACES):
                return False
            if qname.rsplit(".", 1)[-1] in _STRUCTURED_RESULTS:
                return False
            if qname.startswith("keras.ops."):
                return True
            return model.values.kind(expr) in (Kind.TENSOR, Kind.VARIABLE)
        return False

    def _binding_is_tensor(self, binding, depth: int) -> bool:
        if binding.kind == "param":
            param = self.model.parent(binding.node)
            return isinstance(param, cst.Param) and param in self._tensor_params
        if binding.kind in ("assign", "annassign", "walrus"):
            return self.is_tensor(binding.value, depth)
        if binding.kind == "augassign":
            stmt = binding.statement
            return isinstance(stmt, cst.AugAssign) and isinstance(stmt.operator, (
                cst.AddAssign, cst.SubtractAssign, cst.MultiplyAssign, cst.DivideAssign, cst.PowerAssign,
            )) and not isinstance(stmt.value, _sequence_literals()) and (
                self.is_tensor(stmt.value, depth) or self.is_tensor(stmt.target, depth))
        return False

    def flat_count(self, expr: cst.BaseExpression | None, _depth: int = 0) -> int | None:
        """How many leaves ``tf.nest.flatten(expr)`` certainly has (nested tuples and lists are
        flattened; ``None`` and a tensor are one leaf each), or None when it cannot be told."""
        if expr is None or _depth > _MAX_DEPTH:
            return None
        if isinstance(expr, (cst.Tuple, cst.List)):
            total = 0
            for element in expr.elements:
                if isinstance(element, cst.StarredElement):
                    return None
                n = self.flat_count(element.value, _depth + 1)
                if n is None:
                    return None
                total += n
            return total
        if self.is_none(expr) or isinstance(expr, (cst.Integer, cst.Float)):
            return 1
        if isinstance(expr, cst.Name):
            value = self._sequence_bound_to(expr)
            if value is not None:
                return self.flat_count(value, _depth + 1)
        if self.is_tensor(expr):
            return 1
        return None

    def _sequence_bound_to(self, name: cst.Name) -> cst.BaseExpression | None:
        """The tuple/list literal a name is certainly bound to, when the list is not changed later
        (no method called on it, not passed to a call, not augmented)."""
        model = self.model
        bindings = model.reaching(name)
        if not bindings or len(bindings) != 1 or bindings[0].kind != "assign":
            return None
        value = bindings[0].value
        if not isinstance(value, (cst.Tuple, cst.List)):
            return None
        if isinstance(value, cst.List):
            for use in bindings[0].scope.uses.get(name.value, ()):
                parent = model.parent(use)
                if isinstance(parent, (cst.Attribute, cst.Arg, cst.AugAssign)):
                    return None
            for other in model.bindings_of(name):
                if other is not bindings[0] and other.kind == "augassign":
                    return None
        return value

    def function_in(self, expr: cst.BaseExpression | None) -> cst.BaseExpression | None:
        """A function inside the (literal) structure ``expr``, where a gradient tensor belongs."""
        if self.is_function(expr):
            return expr
        if isinstance(expr, (cst.Tuple, cst.List)):
            for element in expr.elements:
                found = self.function_in(element.value)
                if found is not None:
                    return found
        return None

    # -- what a gradient function returns ---------------------------------------------------------------
    def guarded_by_variables(self, grad: GradFunction, node: cst.CSTNode) -> bool:
        """``node`` sits in a branch whose condition tests `variables` (or **kwargs): the gradient
        function handles the with- and without-variables cases separately."""
        model = self.model
        watched = {"variables"}
        star = grad.node.params.star_kwarg
        if isinstance(star, cst.Param):
            watched.add(star.name.value)
        child = node
        for anc in model.tree.ancestors(node):
            if anc is grad.node:
                break
            if isinstance(anc, (cst.If, cst.IfExp)) and child is not anc.test:
                if any(n.value in watched for n in model.tree.descendants(anc.test, cst.Name)):
                    return True
            child = anc
        return False

    def split_grad_return(self, cg: CustomGradient, grad: GradFunction, node: cst.CSTNode,
                          value: cst.BaseExpression | None) -> tuple[cst.BaseExpression | None, cst.BaseExpression | None] | None:
        """Split one return of a gradient function into (input gradients, variable gradients), when what
        TensorFlow expects there is certain: without variables, the whole value and None; with
        variables (the forward certainly reads some), the two elements of a literal pair. None when the
        shape is not certain: ``variables`` taken but no variable visibly read, a return in a branch on
        ``variables``, a value that is not a literal pair, or variables read by a gradient function
        without a ``variables`` parameter (all of these are TL012's, or nobody's, to report)."""
        if self.is_forward(grad.node):
            # The gradient function is itself a custom-gradient function (for second-order gradients):
            # it returns `(gradient, gradient_of_gradient_fn)`, and only the first element counts here.
            value = self._split_pair(value)[0]
            if value is None:
                return None
        if not grad.takes_variables:
            return None if cg.reads_variables else (value, None)
        if not cg.reads_variables or self.guarded_by_variables(grad, node):
            return None
        if isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == 2 and not any(
            isinstance(e, cst.StarredElement) for e in value.elements
        ):
            return value.elements[0].value, value.elements[1].value
        return None

    def variable_grads_problem(self, cg: CustomGradient, variable_grads: cst.BaseExpression) -> str | None:
        """What is certainly wrong with the variable-gradient part of a ``(input_grads, variable_grads)``
        return: "none" (None: TensorFlow calls len() on it), "tensor" (one tensor, not a list with one
        gradient per variable), "count" (a literal list with fewer entries than variables read)."""
        if self.is_none(variable_grads):
            return "none"
        if self.is_tensor(variable_grads):
            return "tensor"
        if isinstance(variable_grads, cst.Name):
            variable_grads = self._sequence_bound_to(variable_grads) or variable_grads
        if isinstance(variable_grads, (cst.List, cst.Tuple)) and not any(
            isinstance(e, cst.StarredElement) for e in variable_grads.elements
        ):
            if len(variable_grads.elements) < len(cg.variable_keys):
                return "count"
        return None
