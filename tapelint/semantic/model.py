"""``SemanticModel``: everything rules ask about one file, computed once and shared."""

from __future__ import annotations

import builtins
import functools

import libcst as cst

from tapelint.diagnostics import Location
from tapelint.semantic import names as N
from tapelint.semantic.positions import node_ranges
from tapelint.semantic.scopes import Binding, Scope, ScopeIndex
from tapelint.semantic.tree import TreeIndex, children

_BUILTINS = frozenset(dir(builtins))


class SemanticModel:
    def __init__(self, module: cst.Module, filename: str = "<string>", rows: tuple[int, ...] = ()) -> None:
        self.module = module
        self.filename = filename
        # The file's row of each line of the module's text, where that text leaves lines of the file
        # out (tapelint/partial.py); empty when they are the same.
        self.rows = rows
        self.tree = TreeIndex(module)
        self.scopes = ScopeIndex(self.tree)
        self._qname_cache: dict[cst.CSTNode, str | None] = {}
        self._positions = None
        from tapelint.semantic.values import ValueAnalysis
        from tapelint.semantic.tapes import TapeIndex
        from tapelint.semantic.custom_gradients import CustomGradientIndex

        self.values = ValueAnalysis(self)
        self.tapes = TapeIndex(self)
        self.custom_gradients = CustomGradientIndex(self)

    # -- positions (computed only when a rule reports something) -----------------------------------
    def span(self, node: cst.CSTNode) -> tuple[Location, Location]:
        if self._positions is None:
            self._positions = node_ranges(self.module)
        (line, column), (end_line, end_column) = self._positions[node]
        if self.rows:
            line, end_line = self._row(line), self._row(end_line)
        return Location(line, column + 1), Location(end_line, end_column + 1)

    def _row(self, line: int) -> int:
        """The file's row of the text's ``line``; a position past the text's last line (the end of
        the module) is as far past the file's row of that line."""
        rows = self.rows
        return rows[line - 1] if line <= len(rows) else rows[-1] + line - len(rows)

    def line_of(self, node: cst.CSTNode) -> int:
        return self.span(node)[0].row

    # -- structure --------------------------------------------------------------------------------------
    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        return self.tree.parent.get(node)

    def contains(self, outer: cst.CSTNode, inner: cst.CSTNode) -> bool:
        return self.tree.contains(outer, inner)

    @staticmethod
    def children(node: cst.CSTNode) -> list[cst.CSTNode]:
        """``node``'s children in source order, without layout (see :func:`tapelint.semantic.tree.children`)."""
        return children(node)

    def before(self, a: cst.CSTNode, b: cst.CSTNode) -> bool:
        """``a`` starts before ``b`` in the source."""
        return self.tree.order[a] < self.tree.order[b]

    def nodes(self, *types: type) -> list[cst.CSTNode]:
        return self.tree.nodes(*types)

    def statement_of(self, node: cst.CSTNode) -> cst.CSTNode:
        return self.tree.statement_of(node)

    def scope_of(self, node: cst.CSTNode) -> Scope:
        return self.scopes.scope_of(node)

    def function_of(self, node: cst.CSTNode) -> cst.CSTNode | None:
        """The innermost function or lambda whose body holds ``node`` (None at module level)."""
        scope = self.scope_of(node)
        while scope is not None and not isinstance(scope.node, (cst.FunctionDef, cst.Lambda, cst.Module)):
            scope = scope.parent
        return None if scope is None or isinstance(scope.node, cst.Module) else scope.node

    def enclosing_loops(self, node: cst.CSTNode) -> list[cst.CSTNode]:
        return self.scopes.enclosing_loops(node)

    def class_of(self, function: cst.CSTNode) -> cst.ClassDef | None:
        """The class whose body defines ``function`` directly (it is a method)."""
        scope = self.scope_of(function)
        return scope.node if isinstance(scope.node, cst.ClassDef) else None

    # -- names ---------------------------------------------------------------------------------------------
    def reaching(self, name: cst.Name) -> list[Binding] | None:
        return self.scopes.reaching(name)

    def bindings_of(self, name: cst.Name) -> list[Binding]:
        """All bindings of the scope that a load of ``name`` resolves to (flow-insensitive)."""
        owner = self.scopes.resolve_scope(name.value, self.scope_of(name))
        return list(owner.bindings[name.value]) if owner is not None else []

    def same_reference(self, a: cst.CSTNode, b: cst.CSTNode) -> bool:
        """``a`` and ``b`` certainly refer to the same object: one name reached by the same bindings at
        both places, or the same attribute chain (``self.w``) on such a name."""
        if isinstance(a, cst.Name) and isinstance(b, cst.Name):
            if a.value != b.value:
                return False
            ra, rb = self.reaching(a), self.reaching(b)
            return bool(ra) and bool(rb) and {id(x) for x in ra} == {id(x) for x in rb}
        if isinstance(a, cst.Attribute) and isinstance(b, cst.Attribute):
            if a.attr.value != b.attr.value:
                return False
            return self.same_reference(a.value, b.value)
        return False

    def qualified_name(self, expr: cst.CSTNode) -> str | None:
        """The canonical dotted name an expression refers to through imports (``tf.GradientTape`` ->
        ``tensorflow.GradientTape``), or None when it is not an imported or builtin name."""
        if expr in self._qname_cache:
            return self._qname_cache[expr]
        result = None
        if isinstance(expr, cst.Name):
            owner = self.scopes.resolve_scope(expr.value, self.scope_of(expr))
            if owner is None:
                result = f"builtins.{expr.value}" if expr.value in _BUILTINS else None
            else:
                bindings = owner.bindings[expr.value]
                qnames = {b.qualified_name for b in bindings}
                if len(qnames) == 1 and all(b.kind == "import" for b in bindings):
                    result = N.canonical(qnames.pop())
        elif isinstance(expr, cst.Attribute):
            base = self.qualified_name(expr.value)
            if base is not None:
                result = N.canonical(f"{base}.{expr.attr.value}")
        self._qname_cache[expr] = result
        return result

    def call_name(self, call: cst.CSTNode) -> str | None:
        return self.qualified_name(call.func) if isinstance(call, cst.Call) else None

    def is_call_to(self, node: cst.CSTNode, *qnames: str) -> bool:
        return isinstance(node, cst.Call) and self.call_name(node) in qnames

    @staticmethod
    def method_call(node: cst.CSTNode) -> tuple[cst.BaseExpression, str] | None:
        """For ``obj.meth(...)``: (obj, "meth")."""
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
            return node.func.value, node.func.attr.value
        return None

    @staticmethod
    def argument(call: cst.Call, position: int | None, keyword: str | None = None) -> cst.BaseExpression | None:
        """The argument passed at ``position`` or as ``keyword`` (None if absent or passed via *args)."""
        positional = 0
        for arg in call.args:
            if arg.star:
                if position is not None and positional <= position and arg.star == "*":
                    return None
                continue
            if arg.keyword is None:
                if position is not None and positional == position:
                    return arg.value
                positional += 1
            elif keyword is not None and arg.keyword.value == keyword:
                return arg.value
        return None

    def names_in(self, expr: cst.CSTNode) -> list[cst.Name]:
        """Loads of names inside ``expr`` (not attribute names, keywords, or names local to lambdas
        and comprehensions inside it)."""
        out = []
        for name in self.tree.descendants(expr, cst.Name):
            binding_scope = self.scopes._name_scope.get(name)
            if binding_scope is None:
                continue
            if name not in binding_scope.uses.get(name.value, ()):
                continue
            owner = self.scopes.resolve_scope(name.value, binding_scope)
            if owner is not None and owner.node is not expr and self.tree.contains(expr, owner.node) and owner.node is not self.module:
                continue  # bound inside a lambda/comprehension within expr
            out.append(name)
        return out

    def literal_bool(self, expr: cst.BaseExpression | None) -> bool | None:
        if expr is None:
            return None
        if isinstance(expr, cst.Name) and expr.value in ("True", "False"):
            return expr.value == "True"
        return None

    def decorators_of(self, function: cst.FunctionDef) -> list[str]:
        out = []
        for d in function.decorators:
            expr = d.decorator.func if isinstance(d.decorator, cst.Call) else d.decorator
            q = self.qualified_name(expr)
            if q:
                out.append(q)
        return out

    def in_tf_function(self, node: cst.CSTNode) -> bool:
        """True when ``node`` runs inside a ``tf.function`` (decorated function, or a function later
        wrapped as ``tf.function(f)`` in the same file)."""
        fn = self.function_of(node)
        while fn is not None:
            if isinstance(fn, cst.FunctionDef):
                if N.TF_FUNCTION in self.decorators_of(fn) or self._wrapped_by_tf_function(fn):
                    return True
            fn = self.function_of(fn)
        return False

    @functools.cached_property
    def _tf_function_wrapped(self) -> set[str]:
        out = set()
        for call in self.nodes(cst.Call):
            if self.call_name(call) == N.TF_FUNCTION:
                arg = self.argument(call, 0, "func")
                if isinstance(arg, cst.Name):
                    out.add(arg.value)
                elif isinstance(arg, cst.Attribute):
                    out.add(arg.attr.value)
        return out

    def _wrapped_by_tf_function(self, fn: cst.FunctionDef) -> bool:
        return fn.name.value in self._tf_function_wrapped

    def code(self, node: cst.CSTNode) -> str:
        """Source text of ``node`` (for messages), shortened to one line."""
        text = " ".join(self.module.code_for_node(node).split())
        return text if len(text) <= 60 else text[:57] + "..."

    @functools.cached_property
    def dtypes(self):
        """``DtypeAnalysis``: the dtype family (int, bool, float...) of a value, where the code tells it."""
        from tapelint.semantic.dtypes import DtypeAnalysis

        return DtypeAnalysis(self)

    def loads_of(self, binding: Binding) -> list[cst.Name]:
        """Loads of a name that ``binding`` may reach (in its scope, and free in nested functions)."""
        out = []
        for scope in self.scopes.scopes.values():
            for name in scope.uses.get(binding.name, ()):
                reaching = self.reaching(name)
                if reaching and binding in reaching:
                    out.append(name)
        out.sort(key=self.tree.order.__getitem__)
        return out

    def elements(self, expr: cst.BaseExpression | None, _depth: int = 0) -> list[cst.BaseExpression] | None:
        """The items of a list/tuple literal, nested ones flattened, also through a name whose only
        reaching binding is such a literal (``xs = [a, b]; f(xs)``); ``[expr]`` for anything else;
        None when a starred item hides some."""
        if expr is None or _depth > 8:
            return None
        if isinstance(expr, cst.Name):
            bindings = self.reaching(expr)
            if bindings and len(bindings) == 1 and bindings[0].kind == "assign" \
                    and isinstance(bindings[0].value, (cst.List, cst.Tuple)) \
                    and not self._mutated(bindings[0]):
                return self.elements(bindings[0].value, _depth + 1)
            return [expr]
        if isinstance(expr, (cst.List, cst.Tuple)):
            out: list[cst.BaseExpression] = []
            for element in expr.elements:
                if isinstance(element, cst.StarredElement):
                    return None
                inner = self.elements(element.value, _depth + 1)
                if inner is None:
                    return None
                out.extend(inner)
            return out
        return [expr]

    def upstream_calls(self, expr: cst.BaseExpression, stop=None, limit: int = 300) -> list[cst.Call]:
        """Calls whose result may flow into ``expr``: calls inside it, and, through the bindings that
        may reach the names it loads (assignments, unpacking, augmented assignments, ``for`` and
        ``with`` targets), the calls inside the values bound, transitively, within and across scopes.
        Not through function calls' bodies. A call for which ``stop(call)`` is true is reported but
        not looked into (nor are its arguments followed). Over-approximates data flow."""
        out: list[cst.Call] = []
        seen: set[cst.CSTNode] = set()
        todo: list[cst.CSTNode] = [expr]
        while todo and len(seen) < limit:
            node = todo.pop()
            if node in seen:
                continue
            seen.add(node)
            stopped: list[cst.Call] = []
            for call in self.tree.descendants(node, cst.Call):
                if any(self.contains(s, call) for s in stopped):
                    continue
                out.append(call)
                if stop is not None and stop(call):
                    stopped.append(call)
            for name in self.names_in(node):
                if any(self.contains(s, name) for s in stopped):
                    continue
                for b in self.reaching(name) or ():
                    todo.extend(self._bound_from(b))
        seen_calls: set[cst.Call] = set()
        result = [c for c in out if not (c in seen_calls or seen_calls.add(c))]
        result.sort(key=self.tree.order.__getitem__)
        return result

    def _bound_from(self, binding: Binding) -> list[cst.CSTNode]:
        """The expressions a binding's value is computed from."""
        stmt = binding.statement
        if binding.kind in ("annassign", "walrus", "with"):
            return [binding.value] if binding.value is not None else []
        if binding.kind == "assign":
            if binding.value is not None:
                return [binding.value]
            return [stmt.value] if isinstance(stmt, cst.Assign) else []
        if binding.kind == "augassign" and isinstance(stmt, cst.AugAssign):
            return [stmt.target, stmt.value]
        if binding.kind == "for" and isinstance(stmt, cst.For):
            part = self._iterated_part(binding.node, stmt)
            return [stmt.iter] if part is None else part
        return []

    def _iterated_part(self, name: cst.CSTNode, loop: cst.For) -> list[cst.CSTNode] | None:
        """What a name of a `for` target takes its values from, where that is less than the whole
        iterable: `ys` for `b` in `for a, b in zip(xs, ys)`, nothing for the index `i` of
        `for i, x in enumerate(xs)` and `xs` for `x`. None for any other target or iterable."""
        target, iterable = loop.target, loop.iter
        if not isinstance(target, (cst.Tuple, cst.List)) or not isinstance(iterable, cst.Call):
            return None
        elements = target.elements
        position = next((i for i, e in enumerate(elements) if e.value is name), None)
        if position is None or any(isinstance(e, cst.StarredElement) for e in elements) or \
                any(a.star or a.keyword is not None for a in iterable.args):
            return None
        function = self.call_name(iterable)
        if function == "builtins.zip" and len(iterable.args) == len(elements):
            return [iterable.args[position].value]
        if function == "builtins.enumerate" and len(iterable.args) == 1 and len(elements) == 2:
            return [] if position == 0 else [iterable.args[0].value]
        return None

    def _mutated(self, binding: Binding) -> bool:
        """A load of the binding is the object of a method call or of an item assignment (``xs.append``)."""
        for name in self.loads_of(binding):
            parent = self.parent(name)
            if isinstance(parent, cst.Attribute) and parent.value is name:
                return True
            if isinstance(parent, cst.Subscript) and isinstance(self.parent(parent), (cst.AssignTarget, cst.AugAssign, cst.Del)):
                return True
        return False

    def dominates(self, first: cst.CSTNode, then: cst.CSTNode) -> bool:
        """``first`` certainly runs before ``then`` whenever ``then`` runs (same scope, straight-line
        or enclosing blocks; no branch around ``first`` that ``then`` is outside of)."""
        if not self.before(first, then) or self.scope_of(first) is not self.scope_of(then):
            return False
        return all(self.contains(c, then) for c in self.scopes.conditional_containers(first))
