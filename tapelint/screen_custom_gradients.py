"""The `tf.custom_gradient` functions of a module as CPython's syntax tree shows them, for the screens of
the custom-gradient rules (TL011, TL012, TL013, TL019).

The semantic model (:mod:`tapelint.semantic.custom_gradients`) finds each custom gradient, its inputs,
its gradient functions and what they return on libcst's tree, with scopes and reaching bindings. This
asks the same questions on CPython's tree through names only: where the model follows a name to the one
function it is bound to, this takes every function of that name in the module, and where it tells a
value's shape from the bindings that reach it, this asks what some binding of that name anywhere could
make it. So every custom gradient, gradient function and return the model sees is here, and a screen
that asks what could be wrong with them passes wherever its rule can report.

Built once per file (:func:`custom_gradient_sites`), from the statements of the whole tree (expressions
are walked only inside the custom-gradient functions), and only for files where
:attr:`tapelint.screen.Facts.applies_custom_gradient` holds.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from tapelint.screen import CUSTOM_GRADIENT_NAMES, CUSTOM_GRADIENT_USE, _own_expressions, call_pattern, last_name
from tapelint.screen_tapes import argument, bound_names, parameters

if TYPE_CHECKING:
    from tapelint.screen import Facts

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)
# What ``leaves`` gives where the model's ``flat_count`` gives no count (nothing is reported then).
NOT_COUNTED = -1
_TF_FUNCTION = frozenset({"tensorflow.function"})
_CUSTOM_GRADIENT = frozenset({"custom_gradient"})
# The functions (`def`s and lambdas) around a node, innermost first: where its names are looked up.
Functions = tuple[ast.AST, ...]


@dataclass(eq=False)
class GradSite:
    """A function the forward function may return as its gradient function (a lambda, or a `def` of
    the name it returns)."""

    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
    positional: list[ast.arg]  # upstream gradient parameter(s), without `variables`
    required: int  # of ``positional``, those without a default
    star_upstream: bool  # takes the upstream gradients as ``*grad_ys``
    takes_variables: bool  # a `variables` parameter or **kwargs
    has_variables_param: bool  # an explicit `variables` parameter
    returns: list[ast.expr | None]  # the values of its own return statements (None: bare return)
    functions: Functions  # itself, and those around it


@dataclass(eq=False)
class Pair:
    """One ``return output, grad_fn`` of a forward function."""

    output: ast.expr
    grads: list[GradSite]  # what ``grad_fn`` may be


@dataclass(eq=False)
class ForwardSite:
    node: ast.FunctionDef | ast.AsyncFunctionDef
    outermost: bool  # `custom_gradient` is its first decorator: calls of its name go through the wrapper
    # (required, total) positional inputs, for each way the model may count them (without `self` for a
    # method; both where a decorator named `staticmethod` may or may not be the builtin)
    input_counts: list[tuple[int, int]]
    variadic: bool  # takes *args
    returns: list[ast.Return]  # its own return statements
    functions: Functions  # itself, and those around it
    pairs: list[Pair] = field(default_factory=list)
    grads: list[GradSite] = field(default_factory=list)  # of all its pairs, once each

    @property
    def input_names(self) -> set[str]:
        args = self.node.args
        return {a.arg for a in (*args.posonlyargs, *args.args)}

    @property
    def never_returns(self) -> bool:
        """No own return, and neither a generator nor a body that raises or does nothing (the model's
        ``_abstract_or_generator``): TL013 reports it."""
        if self.returns:
            return False
        if any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in _own_nodes(self.node)):
            return False
        trivial = True
        for stmt in self.node.body:
            if isinstance(stmt, ast.Raise):
                return False
            if isinstance(stmt, ast.Pass) or isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
                    and (isinstance(stmt.value.value, (str, bytes)) or stmt.value.value is ...):
                continue  # a docstring, `...`
            trivial = False
        return not trivial


class CustomGradientSites:
    """Every custom gradient the model could find in a module (``forwards``), and what the names of the
    module may be bound to."""

    def __init__(self, facts: "Facts") -> None:
        self.facts = facts
        self.forwards: list[ForwardSite] = []
        self.forward_nodes: set[int] = set()  # ids of the forwards' `def`s
        self.defs: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
        # Names some statement or parameter binds other than by `def` (an assignment, a parameter, a
        # loop, an import...) anywhere in the module: what a name no function around it binds may be.
        self.bound_otherwise: set[str] = set()
        self._methods: set[int] = set()  # ids of the `def`s directly in a class body
        self._around: dict[int, Functions] = {}  # id of each `def` -> the functions around it
        self._locals: dict[int, tuple[dict[str, list[ast.AST]], set[str], set[str]]] = {}
        # id of each statement -> the statement and the functions around it, in the walk's order
        self._statements: dict[int, tuple[ast.stmt, Functions]] = {}
        self._walk(facts.tree)
        self._find()

    # -- questions -----------------------------------------------------------------------------------------
    def may_be_tensor(self, expr: ast.expr | None, functions: Functions) -> bool:
        """The model's ``is_tensor`` may hold of ``expr``, read in ``functions``: a name bound there by
        more than `def`s, a call of what an import may bind (the model knows no other call's result),
        arithmetic on, a slice of, or a conditional expression between, what may be a tensor."""
        t = type(expr)
        if t is ast.Name:
            return self.resolve(expr.id, functions)[1]
        if t is ast.Call:
            return self.facts.imported(expr.func)
        if t is ast.BinOp:
            return self.may_be_tensor(expr.left, functions) or self.may_be_tensor(expr.right, functions)
        if t is ast.UnaryOp:
            return not isinstance(expr.op, ast.Not) and self.may_be_tensor(expr.operand, functions)
        if t is ast.Subscript:
            return self.may_be_tensor(expr.value, functions)
        if t is ast.IfExp:
            return self.may_be_tensor(expr.body, functions) and self.may_be_tensor(expr.orelse, functions)
        return False

    def may_be_function(self, expr: ast.expr | None, functions: Functions) -> bool:
        """The model's ``is_function`` may hold of ``expr``, read in ``functions``: a lambda, or a name
        a `def` binds there."""
        return isinstance(expr, ast.Lambda) or isinstance(expr, ast.Name) and bool(self.resolve(expr.id, functions)[0])

    def may_hold_function(self, expr: ast.expr | None, functions: Functions) -> bool:
        """The model's ``function_in`` may find a function in ``expr`` (a tuple or list literal searched)."""
        if isinstance(expr, (ast.Tuple, ast.List)):
            return any(self.may_hold_function(e.value if isinstance(e, ast.Starred) else e, functions)
                       for e in expr.elts)
        return self.may_be_function(expr, functions)

    def resolve(self, name: str, functions: Functions) -> tuple[list[ast.AST], bool]:
        """What ``name`` read in ``functions`` may be bound to: the `def`s of it, and whether something
        else may bind it. Python looks a name up in the innermost function that binds it (the model's
        scopes do too); where none does, or one declares it `global` or `nonlocal`, every binding of
        the module counts."""
        for fn in functions:
            defs, other, declared = self._local(fn)
            if name in declared:
                break
            if name in defs or name in other:
                return defs.get(name, []), name in other
        return self.defs.get(name, []), name in self.bound_otherwise

    def _local(self, fn: ast.AST) -> tuple[dict[str, list[ast.AST]], set[str], set[str]]:
        """Of a function's own scope: its `def`s by name, the names it binds otherwise (parameters
        included), and those it declares `global` or `nonlocal`. Targets of comprehensions are theirs,
        not the function's; a nested class's body is the class's. A bare annotation (`g: T`) is left
        out: where the model takes it for no binding, the name is looked up further out."""
        known = self._locals.get(id(fn))
        if known is not None:
            return known
        defs: dict[str, list[ast.AST]] = {}
        other = {a.arg for a in parameters(fn.args)}
        declared: set[str] = set()
        not_bound: set[int] = set()  # ids of the names stored by a comprehension or a bare annotation
        for node in _own_nodes(fn, classes=False):
            t = type(node)
            if t is ast.FunctionDef or t is ast.AsyncFunctionDef:
                defs.setdefault(node.name, []).append(node)
            elif t is ast.Name:
                if type(node.ctx) is not ast.Load and id(node) not in not_bound:
                    other.add(node.id)
            elif t is ast.comprehension:
                not_bound.update(id(n) for n in ast.walk(node.target))
            elif t is ast.AnnAssign and node.value is None:
                not_bound.add(id(node.target))
            elif t is ast.ClassDef:
                other.add(node.name)
            elif t is ast.Import or t is ast.ImportFrom:
                other.update(a.asname or a.name.split(".", 1)[0] for a in node.names)
            elif t is ast.Global or t is ast.Nonlocal:
                declared.update(node.names)
            elif (t is ast.ExceptHandler or t is ast.MatchAs or t is ast.MatchStar) and node.name:
                other.add(node.name)
            elif t is ast.MatchMapping and node.rest:
                other.add(node.rest)
        known = self._locals[id(fn)] = (defs, other, declared)
        return known

    def leaves(self, expr: ast.expr, functions: Functions) -> int | None:
        """The only count the model's ``flat_count`` can give for ``expr``, read in ``functions``: the
        leaves of a tuple or list literal, each `None`, number or tensor counting one; NOT_COUNTED where
        it gives none (a starred element, a leaf that is certainly none of those); None where it may
        give any (a name some assignment binds to a tuple or list)."""
        if isinstance(expr, (ast.Tuple, ast.List)):
            total = 0
            for element in expr.elts:
                n = NOT_COUNTED if isinstance(element, ast.Starred) else self.leaves(element, functions)
                if n is None or n == NOT_COUNTED:
                    return n
                total += n
            return total
        if isinstance(expr, ast.Constant):
            return 1 if expr.value is None or type(expr.value) in (int, float) else NOT_COUNTED
        if isinstance(expr, ast.Name) and expr.id in self.bound_to_sequences:
            return None
        return 1 if self.may_be_tensor(expr, functions) else NOT_COUNTED

    @cached_property
    def bound_to_sequences(self) -> set[str]:
        """Names some plain assignment binds to a tuple or list literal (or an element of one), as the
        model's ``_sequence_bound_to`` needs."""
        return {name for store in self.facts.stores if isinstance(store, ast.Assign)
                and isinstance(store.value, (ast.Tuple, ast.List)) for name in _names_in_targets(store.targets)}

    def variables_read(self, forward: ForwardSite) -> int:
        """At least the number of distinct trainable variables the model finds read in the forward
        function's own body, 0 where it finds none: `self.<a>` where some `self.<a> = ...` may make a
        variable (the model's ``is_self_variable``), names some assignment binds to a new variable (the
        model takes those it resolves outside the function to bindings that all create one)."""
        facts = self.facts
        attributes = facts.self_variable_attributes
        names = facts.names_made_variables
        if not attributes and not names:
            return 0
        defs, other, declared = self._local(forward.node)
        read: set[tuple[str, str]] = set()
        for node in _own_nodes(forward.node):
            if isinstance(node, ast.Attribute) and node.attr in attributes and isinstance(node.value, ast.Name) \
                    and node.value.id == "self":
                read.add(("self", node.attr))
            elif isinstance(node, ast.Name) and node.id in names and (
                    node.id in declared or node.id not in defs and node.id not in other):
                read.add(("name", node.id))  # (a name the function binds itself is not a variable of outside)
        return len(read)

    @cached_property
    def keyword_calls(self) -> list[tuple[ast.Call, Functions]]:
        """The calls the model's ``CustomGradientIndex.called`` may take for calls of a custom gradient
        (`f(...)` of a `def f` whose first decorator is `custom_gradient`, `g(...)` of a name assigned a
        `custom_gradient(...)` call, `self.f(...)`, `custom_gradient(f)(...)`) that pass keyword
        arguments and no `*args`/`**kwargs`; each with the functions around it."""
        facts = self.facts
        names = {f.node.name for f in self.forwards if f.outermost} | self._bound_to_wrappers
        where = call_pattern(*names, *facts.aliases_of(_CUSTOM_GRADIENT), "custom_gradient")
        if "\r" in facts.text.replace("\r\n", ""):  # a lone CR ends a line for CPython, not for `lines`
            statements = list(self._statements.values())
        else:
            statements = self._statements_on(where.lines(facts.text))
        out = []
        for stmt, functions in statements:
            for expr in _own_expressions(stmt):
                for call in ast.walk(expr):
                    if isinstance(call, ast.Call) and _passes_plain_keywords(call) and self._may_wrap(call.func, names):
                        out.append((call, functions))
        return out

    def _may_wrap(self, func: ast.expr, names: set[str]) -> bool:
        """A call of ``func`` may go through a custom-gradient wrapper: `f`, `self.f` for ``f`` one of
        ``names``, or `custom_gradient(...)` itself."""
        if isinstance(func, ast.Name):
            return func.id in names
        if isinstance(func, ast.Attribute):
            return func.attr in names and isinstance(func.value, ast.Name) and func.value.id == "self"
        return isinstance(func, ast.Call) and self.facts.may_call(func, _CUSTOM_GRADIENT, CUSTOM_GRADIENT_NAMES)

    def may_run_in_tf_function(self, functions: Functions) -> bool:
        """One of ``functions`` (those around a node) may be a `tf.function`, as the model's
        ``in_tf_function`` tells: decorated with one, or passed to `tf.function(...)` by name."""
        for fn in functions:
            if not isinstance(fn, _DEFS):
                continue
            for deco in fn.decorator_list:
                expr = deco.func if isinstance(deco, ast.Call) else deco
                if self.facts.may_refer_to(expr, _TF_FUNCTION):
                    return True
            if fn.name in self._wrapped_by_tf_function:
                return True
        return False

    @cached_property
    def _wrapped_by_tf_function(self) -> set[str]:
        """Last names of what some `tf.function(...)` call wraps."""
        return {name for call in self.facts.calls if self.facts.may_call(call, {"function"}, _TF_FUNCTION)
                for name in [last_name(argument(call, 0, "func"))] if name is not None}

    @cached_property
    def _applications(self) -> list[ast.Call]:
        """The calls that may be of `tf.custom_gradient`."""
        facts = self.facts
        return [c for c in facts.calls_where(CUSTOM_GRADIENT_USE, _CUSTOM_GRADIENT)
                if facts.may_call(c, _CUSTOM_GRADIENT, CUSTOM_GRADIENT_NAMES)]

    @cached_property
    def _bound_to_wrappers(self) -> set[str]:
        """Names some assignment binds to (an element of a literal holding) a `custom_gradient(...)` call."""
        applications = {id(c) for c in self._applications}
        return {name for store in self.facts.stores if isinstance(store, ast.Assign)
                and any(id(e) in applications for e in _elements(store.value))
                for name in _names_in_targets(store.targets)}

    # -- the walk ------------------------------------------------------------------------------------------
    def _walk(self, tree: ast.Module) -> None:
        """Over the statements (not their expressions): the `def`s, which are methods, the names bound
        other than by `def`, and the functions around each statement."""
        otherwise = self.bound_otherwise
        for store in self.facts.stores:  # assignments, augmented ones, walruses
            otherwise.update(_names_in_targets(store.targets if isinstance(store, ast.Assign) else [store.target]))
        todo: list[tuple[list[ast.stmt], ast.AST, Functions]] = [(tree.body, tree, ())]
        statements = self._statements
        while todo:  # (statements, the scope they are in, the functions around them)
            body, scope, functions = todo.pop()
            for stmt in body:
                t = type(stmt)
                statements[id(stmt)] = (stmt, functions)
                if t is ast.FunctionDef or t is ast.AsyncFunctionDef:
                    self.defs.setdefault(stmt.name, []).append(stmt)
                    self._around[id(stmt)] = functions
                    if isinstance(scope, ast.ClassDef):
                        self._methods.add(id(stmt))
                    otherwise.update(a.arg for a in parameters(stmt.args))
                    todo.append((stmt.body, stmt, (stmt,) + functions))
                    continue
                if t is ast.ClassDef:
                    otherwise.add(stmt.name)
                    todo.append((stmt.body, stmt, functions))
                    continue
                if t is ast.For or t is ast.AsyncFor:
                    otherwise.update(_names_in_targets([stmt.target]))
                elif t is ast.With or t is ast.AsyncWith:
                    otherwise.update(_names_in_targets([i.optional_vars for i in stmt.items if i.optional_vars]))
                elif t is ast.Import or t is ast.ImportFrom:
                    otherwise.update(a.asname or a.name.split(".", 1)[0] for a in stmt.names)
                elif t is ast.Delete:
                    otherwise.update(_names_in_targets(stmt.targets))
                for name in ("body", "orelse", "finalbody"):
                    block = getattr(stmt, name, None)
                    if isinstance(block, list):
                        todo.append((block, scope, functions))
                for handler in getattr(stmt, "handlers", ()):
                    if handler.name:
                        otherwise.add(handler.name)
                    todo.append((handler.body, scope, functions))
                for case in getattr(stmt, "cases", ()):
                    for n in ast.walk(case.pattern):
                        if isinstance(n, (ast.MatchAs, ast.MatchStar)) and n.name:
                            otherwise.add(n.name)
                        elif isinstance(n, ast.MatchMapping) and n.rest:
                            otherwise.add(n.rest)
                    todo.append((case.body, scope, functions))

    def _statements_on(self, lines: set[int]) -> list[tuple[ast.stmt, Functions]]:
        """The statements that cover one of ``lines`` (a line may hold the end of one statement and the
        start of the next), with the functions around each."""
        out: dict[int, tuple[ast.stmt, Functions]] = {}
        for line in lines:
            out.update((id(stmt), self._statements[id(stmt)]) for stmt in self.facts.statements_covering(line))
        return list(out.values())

    # -- the custom gradients ------------------------------------------------------------------------------
    def _find(self) -> None:
        """As the model's ``_find``: functions decorated with `custom_gradient` (the first such decorator
        is the application), then every function of the name a `custom_gradient(f)` call passes (`f`
        or `self.f`)."""
        facts = self.facts
        found: dict[int, ForwardSite] = {}
        for fns in self.defs.values():
            for fn in fns:
                for i, deco in enumerate(fn.decorator_list):
                    expr = deco.func if isinstance(deco, ast.Call) else deco
                    if facts.may_refer_to(expr, CUSTOM_GRADIENT_NAMES):
                        found[id(fn)] = self._forward(fn, outermost=i == 0)
                        break
        for call in self._applications:
            arg = argument(call, 0, "f")
            if isinstance(arg, ast.Attribute) and not (isinstance(arg.value, ast.Name) and arg.value.id == "self"):
                continue
            for fn in self.defs.get(last_name(arg), ()):
                if id(fn) not in found:
                    found[id(fn)] = self._forward(fn, outermost=False)
        self.forwards = list(found.values())
        self.forward_nodes = set(found)

    def _forward(self, fn: ast.FunctionDef | ast.AsyncFunctionDef, outermost: bool) -> ForwardSite:
        args = fn.args
        defaults = _has_default(args)
        counts = {(defaults.count(False), len(defaults))}
        if id(fn) in self._methods:
            method = (defaults[1:].count(False), len(defaults[1:]))
            if any(last_name(d) == "staticmethod" for d in fn.decorator_list):
                counts.add(method)
            else:
                counts = {method}
        returns = [n for n in _own_nodes(fn) if isinstance(n, ast.Return)]
        forward = ForwardSite(fn, outermost, sorted(counts), args.vararg is not None, returns,
                              (fn,) + self._around[id(fn)])
        by_node: dict[int, GradSite] = {}
        for ret in returns:
            value = ret.value
            if not isinstance(value, (ast.Tuple, ast.List)) or len(value.elts) != 2 or \
                    any(isinstance(e, ast.Starred) for e in value.elts):
                continue
            output, grad = value.elts
            if isinstance(grad, ast.Lambda):
                nodes = [grad]
            elif isinstance(grad, ast.Name):
                nodes = self.resolve(grad.id, forward.functions)[0]
            else:
                nodes = []
            grads = []
            for node in nodes:
                if id(node) not in by_node:
                    around = forward.functions if isinstance(node, ast.Lambda) else self._around[id(node)]
                    by_node[id(node)] = _grad_site(node, (node,) + around)
                    forward.grads.append(by_node[id(node)])
                grads.append(by_node[id(node)])
            forward.pairs.append(Pair(output, grads))
        return forward


def custom_gradient_sites(facts: "Facts") -> CustomGradientSites:
    """The custom gradients of the module ``facts`` reads (:attr:`tapelint.screen.Facts.custom_gradients`)."""
    return facts.custom_gradients


def _own_nodes(fn: ast.AST, classes: bool = True):
    """The nodes of ``fn``'s body whose function (as the model's ``function_of``) is ``fn``: all but the
    bodies of the functions and lambdas nested in it. A nested class's body is ``fn``'s too, unless
    ``classes`` is False (its names are then the class's own)."""
    stack: list[ast.AST] = list(fn.body) if isinstance(fn, _DEFS) else [fn.body]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, _DEFS):
            stack += [n for n in (*node.decorator_list, node.args, node.returns) if n]
        elif isinstance(node, ast.Lambda):
            stack.append(node.args)
        elif isinstance(node, ast.ClassDef) and not classes:
            stack += [*node.decorator_list, *node.bases, *node.keywords]
        else:
            stack += ast.iter_child_nodes(node)


def _passes_plain_keywords(call: ast.Call) -> bool:
    """``call`` passes keyword arguments, and no `*args` or `**kwargs`."""
    return bool(call.keywords) and all(k.arg is not None for k in call.keywords) and \
        not any(isinstance(a, ast.Starred) for a in call.args)


def _grad_site(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, functions: Functions) -> GradSite:
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    names = {a.arg for a in (*positional, *args.kwonlyargs)}
    upstream = [(a, d) for a, d in zip(positional, _has_default(args)) if a.arg != "variables"]
    if isinstance(node, ast.Lambda):
        returns = [node.body]
    else:
        returns = [n.value for n in _own_nodes(node) if isinstance(n, ast.Return)]
    return GradSite(node, [a for a, _ in upstream], sum(1 for _, d in upstream if not d), args.vararg is not None,
                    "variables" in names or args.kwarg is not None, "variables" in names, returns, functions)


def _has_default(args: ast.arguments) -> list[bool]:
    """For each positional parameter, whether it has a default (the defaults go to the last ones)."""
    positional = len(args.posonlyargs) + len(args.args)
    return [i >= positional - len(args.defaults) for i in range(positional)]


def _names_in_targets(targets: list[ast.expr]) -> set[str]:
    return {n.id for n in bound_names(targets)}


def _elements(value: ast.expr) -> list[ast.expr]:
    """``value`` and, for a tuple or list literal, its elements (nested ones too): what the model's
    binding of an assignment's target may hold."""
    out = [value]
    for node in out:
        if isinstance(node, (ast.Tuple, ast.List)):
            out += node.elts
    return out
