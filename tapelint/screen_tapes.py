"""The gradient tapes of a module as CPython's syntax tree shows them, for the screens of the tape rules.

The semantic model (:mod:`tapelint.semantic.tapes`) finds every `tf.GradientTape` and its uses on
libcst's tree, with scopes and reaching bindings. A screen must decide, before libcst reads the file,
whether a rule can report anything: it asks the same questions here, on CPython's tree, through names
only. Where the model knows which tape a name is, this takes every tape of that name in the use's
function (or, if none is made there, every tape of that name): a superset, so a screen built on it
passes wherever its rule can report.

Built once per file, by one walk over the whole tree (:attr:`tapelint.screen.Facts.tapes`), and only
for files that make a tape and call a differentiation method: the few where the coarse screen passes.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

USE_METHODS = frozenset({"gradient", "jacobian", "batch_jacobian", "watch", "reset", "stop_recording",
                         "watched_variables"})
DIFFERENTIATE = frozenset({"gradient", "jacobian", "batch_jacobian"})

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_LOOPS = (ast.For, ast.AsyncFor, ast.While)
_WITHS = (ast.With, ast.AsyncWith)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


@dataclass(frozen=True)
class Context:
    """Where a node is, as the semantic model sees it: the innermost function or lambda around it (None
    at module level; classes and comprehensions do not count, as in ``model.function_of``), the `with`
    statements whose body holds it in that function (outermost first), and the loops whose body holds
    it in its scope (outermost first; a class or a comprehension starts a new scope, as in
    ``model.enclosing_loops``)."""

    function: ast.AST | None = None
    withs: tuple[ast.With | ast.AsyncWith, ...] = ()
    loops: tuple[ast.AST, ...] = ()


_MODULE = Context()


@dataclass(eq=False)
class TapeSite:
    """One `GradientTape(...)` call bound to a name (`with ... as t`, `t = ...`) or entered anonymously."""

    call: ast.Call
    name: str | None
    persistent: bool | None  # the literal (False where not given); None where not a literal
    watch_accessed_variables: bool | None  # the literal (True where not given); None where not a literal
    context: Context
    withs: list[ast.With | ast.AsyncWith] = field(default_factory=list)  # what enters it

    @property
    def function(self) -> ast.AST | None:
        return self.context.function

    @property
    def entered(self) -> bool:
        return bool(self.withs)


@dataclass(eq=False)
class TapeUse:
    """`t.gradient(...)`, `t.watch(...)`... on a name some tape is bound to (or `del t`)."""

    name: str
    method: str
    node: ast.Call | ast.Delete
    context: Context

    @property
    def target(self) -> ast.expr | None:
        return argument(self.node, 0, "target") if self.method in DIFFERENTIATE else None

    @property
    def sources(self) -> ast.expr | None:
        return argument(self.node, 1, "sources") if self.method in DIFFERENTIATE else None


def argument(call: ast.AST, position: int, keyword: str) -> ast.expr | None:
    """The argument of ``call`` at ``position`` or named ``keyword`` (None before a `*args` that may
    hold it, and where absent)."""
    if not isinstance(call, ast.Call):
        return None
    for k in call.keywords:
        if k.arg == keyword:
            return k.value
    for i, a in enumerate(call.args):
        if isinstance(a, ast.Starred):
            return None
        if i == position:
            return a
    return None


def literal_bool(expr: ast.expr | None) -> bool | None:
    if isinstance(expr, ast.Constant) and isinstance(expr.value, bool):
        return expr.value
    return None


def contains(outer: ast.AST, inner: ast.AST) -> bool:
    """``inner`` lies within ``outer``'s source span (both nodes of the same tree)."""
    return (outer.lineno, outer.col_offset) <= (inner.lineno, inner.col_offset) and \
        (inner.end_lineno, inner.end_col_offset) <= (outer.end_lineno, outer.end_col_offset)


def before(a: ast.AST, b: ast.AST) -> bool:
    return _position(a) < _position(b)


def _position(node: ast.AST) -> tuple[int, int]:
    return node.lineno, node.col_offset


class TapeSites:
    """Every tape the model could find in a module, with its `with` statements and the uses of its name.

    ``is_tape_call(call)`` tells a call that may make a `tf.GradientTape` (the screen's
    :meth:`~tapelint.screen.Facts.may_call`)."""

    def __init__(self, tree: ast.Module, is_tape_call) -> None:
        self.tree = tree
        self.tapes: list[TapeSite] = []
        self.uses: list[TapeUse] = []
        # Some `with t:` may enter another tape than the one this index gives it to (see
        # ``_made_before``): which tapes are entered, and what they record, is not certain here.
        self.uncertain = False
        self._context: dict[int, Context] = {}
        self._parent: dict[int, ast.AST] = {}
        self._walk(tree, is_tape_call)

    # -- questions -----------------------------------------------------------------------------------------
    def context(self, node: ast.AST) -> Context:
        """Raises KeyError for a node of another tree (one compiled from logical lines, say): a
        screen that asks so keeps its rule."""
        return _MODULE if node is self.tree else self._context[id(node)]

    def parent(self, node: ast.AST) -> ast.AST | None:
        return self._parent.get(id(node))

    def function_of(self, node: ast.AST) -> ast.AST | None:
        return self.context(node).function

    def differentiations(self) -> list[TapeUse]:
        return [u for u in self.uses if u.method in DIFFERENTIATE]

    def uses_of(self, tape: TapeSite, *methods: str) -> list[TapeUse]:
        """The uses that may be of ``tape`` (of its name, in its function or where that name is no
        tape made in the use's own function)."""
        return [u for u in self.uses if (not methods or u.method in methods) and tape in self.tapes_of(u)]

    def tapes_of(self, use: TapeUse) -> list[TapeSite]:
        """The tapes a use's name may be: those of that name made in the use's function, or, where none
        is, every tape of that name (a closure's, the module's, another method's through an attribute
        the model does not follow: a superset)."""
        named = [t for t in self.tapes if t.name == use.name]
        local = [t for t in named if t.function is use.context.function]
        return local or named

    def records(self, tape: TapeSite, node: ast.AST) -> bool | None:
        """As the model's ``TapeIndex.records``: True where ``node`` is in the body of a `with` that
        enters ``tape`` in the same function (and not in a `with t.stop_recording():` of its name),
        False where every `with` of the tape is in ``node``'s function and none holds it, or the tape
        is never entered; None where ``node`` is in another function than some `with`."""
        ctx = self.context(node)
        for with_ in tape.withs:
            if with_ in ctx.withs:
                if self._in_hole(tape, ctx):
                    return False
                if self.function_of(with_) is not ctx.function:
                    return None
                return True
        if not tape.withs:
            return False
        if all(self.function_of(w) is ctx.function for w in tape.withs):
            return False
        return None

    def may_record(self, node: ast.AST) -> bool:
        """Some tape may record ``node``: ``records`` is not False for one of them."""
        return any(self.records(t, node) is not False for t in self.tapes)

    def repeating_loops(self, tape: TapeSite, node: ast.AST) -> list[ast.AST]:
        """The loops around ``node`` (in its scope) that do not also hold the tape's creation."""
        return [loop for loop in self.context(node).loops if not contains(loop, tape.call)]

    def _in_hole(self, tape: TapeSite, ctx: Context) -> bool:
        for w in ctx.withs:
            for item in w.items:
                call = item.context_expr
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) \
                        and call.func.attr == "stop_recording" and isinstance(call.func.value, ast.Name) \
                        and call.func.value.id == tape.name:
                    return True
        return False

    def _made_before(self, name: str, node: ast.AST) -> TapeSite | None:
        """The tape of that name made last before ``node`` in its function, as the binding that reaches
        it in straight-line code; else the one made last in an enclosing function or the module."""
        function = self.function_of(node)
        made = [t for t in self.tapes if t.name == name and before(t.call, node)]
        local = [t for t in made if t.function is function]
        if local:
            # Where a parameter of that name, or another tape of that name, may reach the `with` too,
            # which tape the model takes it for (if any) needs its reaching bindings: the screens then
            # pass (see ``uncertain``).
            args = function.args if function is not None else None
            if len(local) > 1 or args is not None and \
                    name in {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}:
                self.uncertain = True
            return local[-1]
        outer = [t for t in made if t.function is None or contains(t.function, node)]
        return outer[-1] if outer else None

    # -- the walk ------------------------------------------------------------------------------------------
    def _walk(self, tree: ast.Module, is_tape_call) -> None:
        contexts, parents = self._context, self._parent
        calls: list[ast.Call] = []
        dels: list[ast.Delete] = []
        withs: list[ast.With | ast.AsyncWith] = []
        stack: list[tuple[ast.AST, Context]] = [(tree, _MODULE)]
        while stack:
            node, ctx = stack.pop()
            t = type(node)
            if t is ast.Call:
                calls.append(node)
            elif t is ast.With or t is ast.AsyncWith:
                withs.append(node)
            elif t is ast.Delete:
                dels.append(node)
            inner = self._inner_context(node, t, ctx)
            for name, value in ast.iter_fields(node):
                children = value if isinstance(value, list) else (value,)
                child_ctx = ctx if inner is None or not _in_block(t, name) else inner
                for child in children:
                    if isinstance(child, ast.AST):
                        contexts[id(child)] = child_ctx
                        parents[id(child)] = node
                        stack.append((child, child_ctx))
        calls.sort(key=_position)
        withs.sort(key=_position)
        self._find_tapes(calls, withs, is_tape_call)
        self._find_uses(calls, dels, withs)

    @staticmethod
    def _inner_context(node: ast.AST, t: type, ctx: Context) -> Context | None:
        """The context of what ``node``'s block holds (None: the same as ``node``'s own)."""
        if t is ast.FunctionDef or t is ast.AsyncFunctionDef or t is ast.Lambda:
            return Context(node, (), ())
        if t is ast.ClassDef or t in _COMPREHENSIONS:
            return Context(ctx.function, ctx.withs, ())
        if t is ast.With or t is ast.AsyncWith:
            return Context(ctx.function, ctx.withs + (node,), ctx.loops)
        if t is ast.For or t is ast.AsyncFor or t is ast.While:
            return Context(ctx.function, ctx.withs, ctx.loops + (node,))
        return None

    def _find_tapes(self, calls: list[ast.Call], withs: list, is_tape_call) -> None:
        parents = self._parent
        for call in calls:
            if not is_tape_call(call):
                continue
            parent = parents.get(id(call))
            name = None
            entered: list = []
            if isinstance(parent, ast.withitem) and parent.context_expr is call:
                entered.append(parents[id(parent)])
                if isinstance(parent.optional_vars, ast.Name):
                    name = parent.optional_vars.id
            elif isinstance(parent, ast.Assign) and parent.value is call and len(parent.targets) == 1 \
                    and isinstance(parent.targets[0], ast.Name):
                name = parent.targets[0].id
            else:
                continue  # passed along or returned: the model does not follow it either
            persistent = argument(call, 0, "persistent")
            watch = argument(call, 1, "watch_accessed_variables")
            self.tapes.append(TapeSite(call, name, False if persistent is None else literal_bool(persistent),
                                       True if watch is None else literal_bool(watch), self.context(call), entered))
        names = {t.name for t in self.tapes if t.name}
        if not names:
            return
        for with_ in withs:  # `with t:` on a tape made by `t = tf.GradientTape()`
            for item in with_.items:
                if isinstance(item.context_expr, ast.Name) and item.context_expr.id in names:
                    tape = self._made_before(item.context_expr.id, with_)
                    if tape is not None and with_ not in tape.withs:
                        tape.withs.append(with_)

    def _find_uses(self, calls: list[ast.Call], dels: list[ast.Delete], withs: list) -> None:
        names = {t.name for t in self.tapes if t.name}
        if not names:
            return
        for call in calls:
            func = call.func
            if isinstance(func, ast.Attribute) and func.attr in USE_METHODS and isinstance(func.value, ast.Name) \
                    and func.value.id in names:
                self.uses.append(TapeUse(func.value.id, func.attr, call, self.context(call)))
        for node in dels:
            for target in ast.walk(node):
                if isinstance(target, ast.Name) and target.id in names:
                    self.uses.append(TapeUse(target.id, "del", node, self.context(node)))
        self.uses.sort(key=lambda u: _position(u.node))


# The fields of each compound node that hold its block (what runs inside the function, loop or `with`).
_BLOCK_FIELDS = {
    ast.FunctionDef: ("body",), ast.AsyncFunctionDef: ("body",), ast.Lambda: ("body",),
    ast.ClassDef: ("body",), ast.With: ("body",), ast.AsyncWith: ("body",),
    ast.For: ("body",), ast.AsyncFor: ("body",), ast.While: ("body",),
    ast.ListComp: ("elt", "generators"), ast.SetComp: ("elt", "generators"),
    ast.DictComp: ("key", "value", "generators"), ast.GeneratorExp: ("elt", "generators"),
}


def _in_block(t: type, field_name: str) -> bool:
    fields = _BLOCK_FIELDS.get(t)
    return fields is not None and field_name in fields
