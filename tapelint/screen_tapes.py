"""The gradient tapes of a module as CPython's syntax tree shows them, for the screens of the tape rules.

The semantic model (:mod:`tapelint.semantic.tapes`) finds every `tf.GradientTape` and its uses on
libcst's tree, with scopes and reaching bindings. A screen must decide, before libcst reads the file,
whether a rule can report anything: it asks the same questions here, on CPython's tree, through names
only. Where the model knows which tape a name is, this takes every tape of that name in the use's
function (or, if none is made there, every tape of that name): a superset, so a screen built on it
passes wherever its rule can report.

Built once per file from the whole tree (:attr:`tapelint.screen.Facts.tapes`: its statements up front,
an expression's statement when a question first needs it), and only for files that make a tape and
call a differentiation method: the few where the coarse screen passes.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import cached_property

from tapelint.screen import _flat_targets, _own_expressions, call_pattern, first_line, statement_lists, statements_on
from tapelint.semantic.tapes import DIFFERENTIATE, USE_METHODS  # (no libcst: it is imported lazily there)

# Where a tape method may be called (or named in a string: a superset).
_USE_CALL = call_pattern(*sorted(USE_METHODS))

COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
TRIES = (ast.Try, getattr(ast, "TryStar", ast.Try))
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, *COMPREHENSIONS)


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
    holes: list[ast.With | ast.AsyncWith] = field(default_factory=list)  # `with t.stop_recording():`

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
    return start_of(a) < start_of(b)


def start_of(node: ast.AST) -> tuple[int, int]:
    return node.lineno, node.col_offset


def end_of(node: ast.AST) -> tuple[int, int]:
    return node.end_lineno, node.end_col_offset


def parameters(args: ast.arguments) -> list[ast.arg]:
    return [a for a in (*args.posonlyargs, *args.args, args.vararg, *args.kwonlyargs, args.kwarg) if a is not None]


def _dominates(made_in: set | None, blocks: set) -> bool:
    """A binding in the conditional blocks ``made_in`` holds wherever code in ``blocks`` runs."""
    return made_in is not None and made_in <= blocks


class TapeSites:
    """Every tape the model could find in a module, with its `with` statements and the uses of its name.

    ``is_tape_call(call)`` tells a call that may make a `tf.GradientTape` (the screen's
    :meth:`~tapelint.screen.Facts.may_call`); ``text`` is the module's text (the uses are looked for on
    the lines that name a tape method).

    Only the statements are walked up front; the expressions of a statement get their context (and
    parents) the first time a question is asked about one of them: a screen asks about a few lines.
    """

    def __init__(self, tree: ast.Module, is_tape_call, text: str) -> None:
        self.tree = tree
        self.tapes: list[TapeSite] = []
        self.uses: list[TapeUse] = []
        # Some `with t:` may enter another tape than the one this index gives it to (see
        # ``_made_before``): which tapes are entered, and what they record, is not certain here.
        self.uncertain = False
        self._context: dict[int, Context] = {}
        self._parent: dict[int, ast.AST] = {}
        self._filled: set[int] = set()
        self._starts: dict[int, list[int]] = {}  # id of a statement list -> the first line of each
        self._scoped: list[tuple[ast.stmt, ast.AST | None]] = []  # each statement, the scope it binds names in
        self._walrus = ":=" in text  # (an expression may bind a name too)
        withs, assigns, dels = self._walk_statements(tree)
        self._find_tapes(withs, assigns, is_tape_call)
        self._find_uses(text, dels)

    # -- questions -----------------------------------------------------------------------------------------
    def context(self, node: ast.AST) -> Context:
        """Raises KeyError for a node of another tree (one compiled from logical lines, say): a
        screen that asks so keeps its rule."""
        if node is self.tree:
            return _MODULE
        ctx = self._context.get(id(node))
        if ctx is None and not isinstance(node, ast.stmt) and hasattr(node, "lineno"):
            for stmt in self.statements_on(node.lineno):
                self._fill(stmt)
            ctx = self._context.get(id(node))
        if ctx is None:
            raise KeyError(node)
        return ctx

    def parent(self, node: ast.AST) -> ast.AST | None:
        """The node ``node`` is a child of (for an expression of an `except` clause or a `case`, the
        `try` or `match` statement)."""
        self.context(node)
        return self._parent.get(id(node))

    def function_of(self, node: ast.AST) -> ast.AST | None:
        return self.context(node).function

    def statements_on(self, line: int) -> list[ast.stmt]:
        """The statements whose lines include ``line``, outermost first."""
        return statements_on(self.tree, line, self._starts)

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
        if local:
            return local
        function = use.context.function
        if function is not None and self._bound.get(id(function), {}).get(use.name) and \
                use.name not in self._declared.get(id(function), ()):
            return []  # the function binds the name itself, never to a tape: a local (`AbstractGradientTape`)
        return named

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

    def repeating_loops(self, tape: TapeSite, node: ast.AST) -> list[ast.AST]:
        """The loops around ``node`` (in its scope) that do not also hold the tape's creation."""
        return [loop for loop in self.context(node).loops if not contains(loop, tape.call)]

    def recorded_stores(self, tape: TapeSite) -> dict[str, list[ast.expr]]:
        """Each name that an assignment binds where ``tape`` records (``records`` is True: in one of its
        `with` blocks, in the same function) -> the expressions those assignments compute it from (the
        value; an augmented assignment's target too)."""
        out: dict[str, list[ast.expr]] = {}
        for with_ in tape.withs:
            for node in ast.walk(with_):
                if isinstance(node, ast.Assign):
                    targets, values = node.targets, [node.value]
                elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
                    targets, values = [node.target], [node.value]
                elif isinstance(node, ast.AugAssign):
                    targets, values = [node.target], [node.value, node.target]
                else:
                    continue
                names = bound_names(targets)
                # (a statement's targets are where it is; asked of the statement, no expression is indexed)
                if names and self.records(tape, node) is True:
                    for name in names:
                        out.setdefault(name.id, []).extend(values)
        return out

    # -- which binding reaches a name (as the model's reaching bindings, on one name's bindings) --------
    def tapes_reaching(self, use: TapeUse) -> list[TapeSite]:
        """Of the tapes a use's name may be (``tapes_of``), those whose binding may reach it
        (``reaching``); every one where none is made in its function (a free variable: every binding
        reaches). Other bindings of the name are left out: they could only cut more tapes off."""
        tapes = self.tapes_of(use)
        local = [(t.call, end_of(t.call), t) for t in tapes if t.function is use.context.function]
        return self.reaching(use.node, local) if local else tapes

    def reaching(self, node: ast.AST, local: list) -> list:
        """Of ``local`` (binding node, where it ends, payload), bindings of one name in ``node``'s
        function in order, the payloads of those that may reach ``node``, as the model's ``reaching``:
        the last one before it that dominates it and those after that one (every one before where none
        does); those after it in a loop around it (from the last pass), up to the loop that holds the
        dominating one. Every one where ``node`` is read in a comprehension or a class body (a free
        variable there)."""
        blocks = self.conditional_blocks(node)
        if blocks is None:
            return [payload for _, _, payload in local]
        at = (node.lineno, node.col_offset)
        before_node = [b for b in local if b[1] <= at]
        dominating = [i for i, b in enumerate(before_node) if _dominates(self.conditional_blocks(b[0]), blocks)]
        reaching = before_node[dominating[-1]:] if dominating else before_node
        for loop in reversed(self.context(node).loops):
            if dominating and contains(loop, reaching[0][0]):
                break
            reaching += [b for b in local if b[1] > at and contains(loop, b[0]) and b not in reaching]
        return [payload for _, _, payload in reaching]

    def may_dominate(self, first: ast.AST, then: ast.AST) -> bool:
        """As the model's ``dominates(first, then)``, or where it cannot be told: in one function,
        ``first`` comes before ``then`` and every block around ``first`` that may not run holds ``then``."""
        if self.function_of(first) is not self.function_of(then) or not before(first, then):
            return False
        made_in, blocks = self.conditional_blocks(first), self.conditional_blocks(then)
        return made_in is None or blocks is None or made_in <= blocks

    def conditional_blocks(self, node: ast.AST) -> set | None:
        """The blocks around ``node``, up to its function's body, that may not run (as the model's
        ``conditional_containers``): the body or `else` of an `if` or a loop, an `except` clause, the
        `else` of a `try`, a `case`, an arm of a conditional expression, an operand of `and`/`or`
        after the first. None where a comprehension or a class lies in between (another scope)."""
        out = set()
        child, parent = node, self.parent(node)
        while parent is not None:
            t = type(parent)
            if t is ast.FunctionDef or t is ast.AsyncFunctionDef:
                if child in parent.body:
                    break  # (its decorators and defaults run where it is defined)
            elif t is ast.Lambda:
                if child is parent.body:
                    break
            elif t is ast.ClassDef or t in COMPREHENSIONS:
                return None
            elif t is ast.If or t is ast.For or t is ast.AsyncFor or t is ast.While:
                if child in parent.body:
                    out.add((id(parent), "body"))
                elif child in parent.orelse:
                    out.add((id(parent), "orelse"))
            elif t is ast.IfExp:
                if child is not parent.test:
                    out.add((id(child), "arm"))
            elif t is ast.BoolOp:
                if child is not parent.values[0]:
                    out.add((id(child), "operand"))
            elif t in TRIES:
                if child in parent.orelse:
                    out.add((id(parent), "orelse"))
                elif not (child in parent.body or child in parent.finalbody):
                    clause = next((h for h in parent.handlers if child is h or child is h.type or child in h.body),
                                  child)
                    out.add((id(clause), "except"))
            elif t is ast.Match and child is not parent.subject:
                case = next((c for c in parent.cases if child is c or child is c.pattern or child is c.guard
                             or child in c.body), child)
                out.add((id(case), "case"))
            child, parent = parent, self.parent(parent)
        return out

    def scope_of(self, node: ast.AST) -> ast.AST | None:
        """The innermost function, lambda, class or comprehension around ``node`` (None: the module)."""
        parent = self.parent(node)
        while parent is not None and not isinstance(parent, _SCOPES):
            parent = self.parent(parent)
        return parent

    def _in_hole(self, tape: TapeSite, ctx: Context) -> bool:
        return any(w in tape.holes for w in ctx.withs)

    def _made_before(self, name: str, node: ast.AST) -> TapeSite | None:
        """The tape of that name made last before ``node`` in its function, as the binding that reaches
        it in straight-line code; else the one made last in an enclosing function or the module."""
        function = self.function_of(node)
        made = [t for t in self.tapes if t.name == name and before(t.call, node)]
        local = [t for t in made if t.function is function]
        if not local and any(t.name == name and t.function is function for t in self.tapes):
            self.uncertain = True  # made later in the function: in a loop, the `with` may enter it
        if local:
            # Where another binding of that name (a parameter, an assignment of something else, another
            # tape) may reach the `with` too, which tape the model takes it for (if any) needs its
            # reaching bindings: the screens then pass (see ``uncertain``).
            tapes_bound = sum(1 for t in self.tapes if t.name == name and t.function is function)
            if len(local) > 1 or self._bound.get(id(function), {}).get(name, 0) > tapes_bound or self._walrus:
                self.uncertain = True
            return local[-1]
        # A free name: the model resolves it to the bindings of the nearest enclosing scope that has one,
        # wherever they are in it; one tape made before the `with`, and no other binding of the name
        # there, is certain; anything else is not.
        around = [t for t in self.tapes if t.name == name and t.function is not function
                  and (t.function is None or contains(t.function, node))]
        if not around:
            return None
        nearest = max(around, key=lambda t: _depth(t.function)).function
        around = [t for t in around if t.function is nearest]
        if len(around) > 1 or not before(around[0].call, node) or self._walrus or \
                self._bound.get(id(nearest), {}).get(name, 0) > len(around):
            self.uncertain = True
        return around[-1]

    @cached_property
    def _bound(self) -> dict[int, dict[str, int]]:
        """id of a function or class (of None: the module) -> name -> how many of its statements (and
        parameters) bind it. Asked only about a name some tape has; built on first use."""
        bound: dict[int, dict[str, int]] = {}
        for stmt, scope in self._scoped:
            names = _statement_bindings(stmt)
            if names:
                counts = bound.setdefault(id(scope), {})
                for name in names:
                    counts[name] = counts.get(name, 0) + 1
            if type(stmt) is ast.FunctionDef or type(stmt) is ast.AsyncFunctionDef:
                counts = bound.setdefault(id(stmt), {})
                for a in parameters(stmt.args):
                    counts[a.arg] = counts.get(a.arg, 0) + 1
        return bound

    @cached_property
    def _declared(self) -> dict[int, set[str]]:
        """id of a function or class -> the names it declares global or nonlocal."""
        declared: dict[int, set[str]] = {}
        for stmt, scope in self._scoped:
            if type(stmt) is ast.Global or type(stmt) is ast.Nonlocal:
                declared.setdefault(id(scope), set()).update(stmt.names)
        return declared

    # -- the walks -----------------------------------------------------------------------------------------
    def _walk_statements(self, tree: ast.Module) -> tuple[list, list, list]:
        """Give every statement its context and parent; the `with`, assignment and `del` statements."""
        contexts, parents, starts, scoped = self._context, self._parent, self._starts, self._scoped
        withs: list = []
        assigns: list = []
        dels: list = []
        # (statements, their context, the node they are in, the function or class whose names they bind)
        todo: list[tuple[list[ast.stmt], Context, ast.AST, ast.AST | None]] = [(tree.body, _MODULE, tree, None)]
        while todo:
            body, ctx, owner, scope = todo.pop()
            starts[id(body)] = [first_line(s) for s in body]
            for stmt in body:
                contexts[id(stmt)] = ctx
                parents[id(stmt)] = owner
                t = type(stmt)
                scoped.append((stmt, scope))
                if t is ast.Assign:
                    assigns.append(stmt)
                    continue
                if t is ast.Delete:
                    dels.append(stmt)
                    continue
                if t is ast.FunctionDef or t is ast.AsyncFunctionDef:
                    todo.append((stmt.body, Context(stmt, (), ()), stmt, stmt))
                elif t is ast.ClassDef:
                    todo.append((stmt.body, Context(ctx.function, ctx.withs, ()), stmt, stmt))
                elif t is ast.With or t is ast.AsyncWith:
                    withs.append(stmt)
                    todo.append((stmt.body, Context(ctx.function, ctx.withs + (stmt,), ctx.loops), stmt, scope))
                elif t is ast.For or t is ast.AsyncFor or t is ast.While:
                    todo.append((stmt.body, Context(ctx.function, ctx.withs, ctx.loops + (stmt,)), stmt, scope))
                    todo.append((stmt.orelse, ctx, stmt, scope))
                else:
                    for block in statement_lists(stmt):
                        todo.append((block, ctx, stmt, scope))
        withs.sort(key=start_of)
        return withs, assigns, dels

    def _fill(self, stmt: ast.stmt) -> None:
        """Give the expressions of ``stmt`` (not of the statements it holds) their context and parent."""
        if id(stmt) in self._filled:
            return
        self._filled.add(id(stmt))
        contexts, parents = self._context, self._parent
        ctx = contexts[id(stmt)]
        todo: list[tuple[ast.AST, Context, ast.AST]] = [(e, ctx, stmt) for e in _own_expressions(stmt)]
        while todo:
            node, ctx, parent = todo.pop()
            contexts[id(node)] = ctx
            parents[id(node)] = parent
            t = type(node)
            if t is ast.Lambda:
                todo += [(a, ctx, node) for a in (*node.args.defaults, *(d for d in node.args.kw_defaults if d))]
                todo.append((node.body, Context(node, (), ()), node))
                continue
            if t in COMPREHENSIONS:
                inner = Context(ctx.function, ctx.withs, ())
                todo += [(child, inner, node) for child in ast.iter_child_nodes(node)]
                continue
            todo += [(child, ctx, node) for child in ast.iter_child_nodes(node)]

    def _find_tapes(self, withs: list, assigns: list, is_tape_call) -> None:
        # The model's two ways to a tape: `with ...GradientTape(...) [as t]:` and `t = ...GradientTape(...)`.
        made: list[tuple[ast.Call, str | None, list]] = []
        for with_ in withs:
            for item in with_.items:
                call = item.context_expr
                if isinstance(call, ast.Call) and is_tape_call(call):
                    name = item.optional_vars.id if isinstance(item.optional_vars, ast.Name) else None
                    made.append((call, name, [with_]))
        for assign in assigns:
            call = assign.value
            if isinstance(call, ast.Call) and len(assign.targets) == 1 and isinstance(assign.targets[0], ast.Name) \
                    and is_tape_call(call):
                made.append((call, assign.targets[0].id, []))
        made.sort(key=lambda m: start_of(m[0]))
        for call, name, entered in made:
            persistent = argument(call, 0, "persistent")
            watch = argument(call, 1, "watch_accessed_variables")
            self.tapes.append(TapeSite(call, name, False if persistent is None else literal_bool(persistent),
                                       True if watch is None else literal_bool(watch), self.context(call), entered))
        names = {t.name for t in self.tapes if t.name}
        if not names:
            return
        for with_ in withs:
            for item in with_.items:
                expr = item.context_expr
                if isinstance(expr, ast.Name) and expr.id in names:  # `with t:`, `t = tf.GradientTape()`
                    tape = self._made_before(expr.id, with_)
                    if tape is not None and with_ not in tape.withs:
                        tape.withs.append(with_)
                elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) \
                        and expr.func.attr == "stop_recording" and isinstance(expr.func.value, ast.Name) \
                        and expr.func.value.id in names:  # a hole in the recording of the tape of that name
                    tape = self._made_before(expr.func.value.id, with_)
                    if tape is None:
                        self.uncertain = True
                    elif with_ not in tape.holes:
                        tape.holes.append(with_)

    def _find_uses(self, text: str, dels: list) -> None:
        names = {t.name for t in self.tapes if t.name}
        if not names:
            return
        calls = []
        for line in sorted(_USE_CALL.lines(text)):
            for stmt in self.statements_on(line):
                self._fill(stmt)
                calls += [n for e in _own_expressions(stmt) for n in ast.walk(e) if isinstance(n, ast.Call)]
        seen: set[int] = set()
        for call in calls:
            func = call.func
            if id(call) not in seen and isinstance(func, ast.Attribute) and func.attr in USE_METHODS \
                    and isinstance(func.value, ast.Name) and func.value.id in names:
                seen.add(id(call))
                self.uses.append(TapeUse(func.value.id, func.attr, call, self.context(call)))
        for node in dels:
            for target in ast.walk(node):
                if isinstance(target, ast.Name) and target.id in names:
                    self.uses.append(TapeUse(target.id, "del", node, self.context(node)))
        self.uses.sort(key=lambda u: start_of(u.node))


def recorded_path(stores: dict[str, list[ast.expr]], target: ast.expr) -> list[ast.expr]:
    """``target`` and the expressions of ``stores`` (see ``TapeSites.recorded_stores``) it depends on through the
    names they bind, transitively: by names only, a superset of what the semantic model reaches from
    ``target`` through the bindings the tape records (``_calls_on_path``,
    ``TapeIndex.recorded_dependencies``)."""
    path = [target]
    seen: set[str] = set()
    for expr in path:  # (grows as names are followed)
        for node in ast.walk(expr):
            if isinstance(node, ast.Name) and node.id not in seen:
                seen.add(node.id)
                path.extend(stores.get(node.id, ()))
    return path


def bound_names(targets: list[ast.expr]) -> list[ast.Name]:
    """The names (not attributes or items) that assigning to ``targets`` binds."""
    return [t for target in targets for t in _flat_targets(target) if isinstance(t, ast.Name)]


def _statement_bindings(stmt: ast.stmt) -> list[str]:
    """The names a statement itself binds in its scope (not those of the statements it holds)."""
    t = type(stmt)
    if t is ast.Assign:
        return [n.id for n in bound_names(stmt.targets)]
    if t is ast.AugAssign or t is ast.AnnAssign:
        return [stmt.target.id] if isinstance(stmt.target, ast.Name) else []
    if t is ast.For or t is ast.AsyncFor:
        return [n.id for n in bound_names([stmt.target])]
    if t is ast.With or t is ast.AsyncWith:
        return [n.id for n in bound_names([i.optional_vars for i in stmt.items if i.optional_vars is not None])]
    if t is ast.FunctionDef or t is ast.AsyncFunctionDef or t is ast.ClassDef:
        return [stmt.name]
    if t is ast.Import or t is ast.ImportFrom:
        return [a.asname or a.name.split(".", 1)[0] for a in stmt.names]
    if t is ast.Global or t is ast.Nonlocal:
        return list(stmt.names)
    if t is ast.Delete:
        return [n.id for n in bound_names(stmt.targets)]
    if t in TRIES:
        return [h.name for h in stmt.handlers if h.name]
    if t is ast.Match:
        return [n.name for c in stmt.cases for n in ast.walk(c.pattern)
                if isinstance(n, (ast.MatchAs, ast.MatchStar)) and n.name] + \
            [n.rest for c in stmt.cases for n in ast.walk(c.pattern) if isinstance(n, ast.MatchMapping) and n.rest]
    return []


def _depth(function: ast.AST | None) -> tuple[int, int]:
    """Orders functions that all hold one node from the outermost (the module, None) in."""
    return (0, 0) if function is None else (function.lineno, function.col_offset + 1)
