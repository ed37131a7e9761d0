"""Every ``tf.custom_gradient`` function: its inputs, its gradient function(s), what they return, and
the variables the forward function reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import libcst as cst

from tapelint.semantic import names as N
from tapelint.semantic.values import Kind

if TYPE_CHECKING:
    from tapelint.semantic.model import SemanticModel


@dataclass(eq=False)
class GradFunction:
    node: cst.FunctionDef | cst.Lambda
    positional: list[cst.Param]  # upstream gradient parameter(s)
    takes_variables: bool  # a `variables` parameter or **kwargs
    returns: list[cst.BaseExpression | None]  # the values of its own return statements (None: bare return)


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


def own_returns(model: "SemanticModel", function: cst.CSTNode) -> list[cst.Return]:
    return [r for r in model.tree.descendants(function, cst.Return) if model.function_of(r) is function]


def positional_params(params: cst.Parameters) -> list[cst.Param]:
    return list(params.posonly_params) + list(params.params)


class CustomGradientIndex:
    def __init__(self, model: "SemanticModel") -> None:
        self.model = model
        self.functions: list[CustomGradient] = []
        self._find()

    def __iter__(self):
        return iter(self.functions)

    def _find(self) -> None:
        model = self.model
        seen: set[cst.FunctionDef] = set()
        for fn in model.nodes(cst.FunctionDef):
            for deco in fn.decorators:
                expr = deco.decorator.func if isinstance(deco.decorator, cst.Call) else deco.decorator
                if model.qualified_name(expr) == N.CUSTOM_GRADIENT:
                    self._add(fn, deco)
                    seen.add(fn)
        for call in model.nodes(cst.Call):
            if model.call_name(call) != N.CUSTOM_GRADIENT:
                continue
            arg = model.argument(call, 0, "f")
            if isinstance(arg, cst.Name):
                bindings = model.reaching(arg) or []
                defs = {b.definition for b in bindings if b.kind == "def"}
                if len(defs) == 1 and len(bindings) == 1:
                    fn = defs.pop()
                    if fn not in seen:
                        self._add(fn, call)
                        seen.add(fn)

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
        for ret in cg.returns:
            grad_expr = self._returned_grad_expr(ret)
            grad = self._grad_function(grad_expr)
            if grad is not None and all(g.node is not grad.node for g in cg.grad_functions):
                cg.grad_functions.append(grad)
        cg.variables_read = self._variables_read(fn)
        self.functions.append(cg)

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
            returns = [node.body]
        else:
            returns = [r.value for r in own_returns(model, node)]
        return GradFunction(node, positional, takes_variables, returns)

    def _variables_read(self, fn: cst.FunctionDef) -> list[cst.CSTNode]:
        """Loads in the forward body of ``self.<variable>`` or of names bound to tf.Variables outside it."""
        model = self.model
        out: list[cst.CSTNode] = []
        for attr in model.tree.descendants(fn.body, cst.Attribute):
            if model.values.is_self_variable(attr):
                out.append(attr)
        for name in model.names_in(fn.body):
            owner = model.scopes.resolve_scope(name.value, model.scope_of(name))
            if owner is None or owner.node is fn or model.contains(fn, owner.node):
                continue
            bindings = owner.bindings[name.value]
            if bindings and all(model.values.binding_kind(b) is Kind.VARIABLE for b in bindings):
                out.append(name)
        return out
