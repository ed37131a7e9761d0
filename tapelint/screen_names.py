"""What a name may hold where it is read, on CPython's tree, for the screens (TL005, TL017): the
values the assignments the semantic model resolves the read to bind it to, and where it can be told,
the one binding that reaches the read (as the model's ``ScopeIndex``). See :class:`NameValues`."""

from __future__ import annotations

import ast
from typing import NamedTuple

from tapelint.screen_tapes import COMPREHENSIONS, TRIES, contains, end_of, parameters, start_of

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_SCOPE_BOUNDS = (*_SCOPES, ast.Module, *COMPREHENSIONS)


class _Bound(NamedTuple):
    """One binding of a name, as the semantic model's ``Binding`` tells it."""

    point: tuple[int, int] | None  # where it takes effect (``Binding.at``): a read that starts after sees it
    node: ast.AST | None  # the name (or parameter) bound, where its blocks tell whether it dominates a read
    value: ast.expr | None  # the value bound (``Binding.value``)
    kind: str  # param, assign, annassign, walrus, augassign, or other


class NameValues:
    """What a name read in a scope may hold, for the screens: the values that assignments (and, with
    ``augmented``, augmented assignments) in the scope the semantic model resolves the read to bind it
    to (``ScopeIndex.resolve_scope``: the function, lambda or class itself, then the functions around
    it, then the module), every one of them, as if any could reach the read; and, where it can be told
    (``last_binding``), the one binding that reaches a read. A name that a `global` or `nonlocal`
    declares may hold what any assignment of the module binds it to. A destructuring target receives
    the element of a tuple or list literal, as the model's ``Binding.value`` (the whole value for a
    starred target). Comprehensions are no scopes here: their targets are bound nowhere, since no read
    outside one sees them. Each scope is read when a question first needs it."""

    def __init__(self, facts, sites, augmented: bool = False) -> None:
        self._facts = facts
        self._sites = sites
        self._augmented = augmented
        self._scopes: dict[ast.AST, dict[str, list[_Bound]]] = {}
        self._declared: set[str] = set()  # names a `global` or `nonlocal` declares
        if "global" in facts.text or "nonlocal" in facts.text:
            self._declared.update(n for stmt in facts.statements if isinstance(stmt, (ast.Global, ast.Nonlocal))
                                  for n in stmt.names)

    def scope_at(self, node: ast.AST) -> ast.AST:
        """The function, lambda or class whose own code ``node`` is, or the module; past a class body
        where ``node`` is in a comprehension there (but its first iterable), whose reads do not see the
        class's names."""
        parent_of = self._sites.parent
        child, parent, comprehended = node, parent_of(node), False
        while parent is not None:
            if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef)) and child in parent.body or \
                    isinstance(parent, ast.ClassDef) and child in parent.body and not comprehended or \
                    isinstance(parent, ast.Lambda) and child is parent.body:
                return parent
            if isinstance(parent, COMPREHENSIONS) and not contains(parent.generators[0].iter, node):
                comprehended = True
            child, parent = parent, parent_of(parent)
        return self._sites.tree

    def resolve(self, name: str, scope: ast.AST) -> ast.AST | None:
        """The scope whose bindings of ``name`` a read in ``scope`` sees (the module where none binds
        it); None where a `global` or `nonlocal` declares the name."""
        if name in self._declared:
            return None
        module, first = self._sites.tree, True
        while scope is not module:
            if (first or not isinstance(scope, ast.ClassDef)) and name in self._scope(scope):
                break  # (a class body's names are seen by its own code only)
            scope, first = self.scope_at(scope), False
        return scope

    def own_read(self, read: ast.Name, owner: ast.AST) -> bool:
        """The model reads ``read`` in ``owner``'s own scope: not in a nested function, lambda or class,
        nor in a comprehension (but in its first iterable, which runs outside it)."""
        if self.scope_at(read) is not owner:
            return False
        node = self._sites.parent(read)
        while node is not None and node is not owner:
            if isinstance(node, COMPREHENSIONS) and not contains(node.generators[0].iter, read):
                return False
            node = self._sites.parent(node)
        return True

    def builtin(self, name: str, scope: ast.AST) -> bool:
        """A read of ``name`` in ``scope`` is the builtin's: no scope it could resolve to binds it."""
        owner = self.resolve(name, scope)
        return owner is self._sites.tree and name not in self._scope(owner)

    def points(self, name: str, scope: ast.AST) -> list[tuple[int, int] | None]:
        """Where each binding of ``name`` in ``scope`` itself takes effect (see ``_Bound``); None where
        not told (`except`, `match`)."""
        return [b.point for b in self._scope(scope).get(name, ())]

    def values(self, name: str, scope: ast.AST) -> list[tuple[ast.expr, ast.AST]]:
        """(value, its scope) for each value ``name``, read in ``scope``, may hold."""
        owner = self.resolve(name, scope)
        if owner is None:
            return [(value, self.scope_at(store)) for store in self._facts.stores
                    for target, value in self._assigned(store) if target.id == name]
        return [(b.value, owner) for b in self._scope(owner).get(name, ()) if b.value is not None]

    def last_binding(self, read: ast.Name, scope: ast.AST) -> _Bound | None:
        """The one binding that reaches ``read`` (``ScopeIndex.reaching``), where that can be told: a read
        in the own code of the scope the name resolves to, where the binding that takes effect last
        before it dominates it (no block of that binding's that may not run leaves it out) and is
        inside every loop around it (no later binding comes around)."""
        owner = self.resolve(read.id, scope)
        if owner is None or not self.own_read(read, owner):
            return None
        bindings = self._scope(owner).get(read.id, [])
        if any(b.point is None for b in bindings):
            return None
        before = sorted((b for b in bindings if b.point < start_of(read)), key=lambda b: b.point)
        if not before or len(before) > 1 and before[-1].point == before[-2].point or before[-1].node is None:
            return None
        last, loops = before[-1], self._sites.context(read).loops
        if loops and not contains(loops[-1], last.node):
            return None
        if last.kind != "param" and \
                not all(any(contains(n, read) for n in block) for block in self._conditional_blocks(last.node)):
            return None  # (a parameter's binding dominates its function)
        return last

    def elements(self, expr: ast.expr | None, scope: ast.AST) -> list[tuple[ast.expr, ast.AST]]:
        """``expr`` and what the semantic model's ``elements`` may split it into: the items of tuple and
        list literals, also through names assigned one; each with its scope."""
        out = []
        todo = [(expr, scope)] if expr is not None else []
        seen: set[tuple[str, ast.AST]] = set()
        while todo:
            e, s = todo.pop()
            out.append((e, s))
            if isinstance(e, (ast.Tuple, ast.List)):
                todo += [(x, s) for x in e.elts if not isinstance(x, ast.Starred)]
            elif isinstance(e, ast.Name) and (e.id, s) not in seen:
                seen.add((e.id, s))
                todo += [(v, vs) for v, vs in self.values(e.id, s) if isinstance(v, (ast.Tuple, ast.List))]
        return out

    # -- reading a scope ---------------------------------------------------------------------------------------
    def _scope(self, scope: ast.AST) -> dict[str, list[_Bound]]:
        """The bindings of each name ``scope`` binds, in any way (the semantic model's kinds of binding)."""
        known = self._scopes.get(scope)
        if known is not None:
            return known
        bound: dict[str, list[_Bound]] = {}
        made: dict[ast.Name, _Bound] = {}  # target -> its binding, from the statement that binds it
        if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            for a in parameters(scope.args):
                bound.setdefault(a.arg, []).append(_Bound((a.lineno, a.col_offset), a, None, "param"))
        todo: list[ast.AST] = [scope.body] if isinstance(scope, ast.Lambda) else list(scope.body)
        walrus = ":=" in self._facts.text
        while todo:
            node = todo.pop()
            if isinstance(node, _SCOPES):  # its name binds here, its header is read here; not its body
                if not isinstance(node, ast.Lambda):
                    bound.setdefault(node.name, []).append(_Bound(end_of(node), None, None, "other"))
                    todo += node.decorator_list
                if isinstance(node, ast.ClassDef):
                    todo += [*node.bases, *node.keywords]
                else:
                    args = node.args
                    todo += [e for e in (*args.defaults, *args.kw_defaults) if e is not None]
                    todo += [a.annotation for a in parameters(args) if a.annotation is not None]
                    todo += [node.returns] if getattr(node, "returns", None) is not None else []
                continue
            if isinstance(node, ast.Name):
                if not isinstance(node.ctx, ast.Load):
                    bound.setdefault(node.id, []).append(made.get(node, _Bound(None, None, None, "other")))
                continue
            if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
                if isinstance(node, ast.AnnAssign) and node.value is None:
                    todo.append(node.annotation)
                    continue  # `x: T` binds nothing
                kind = _STORE_KINDS[type(node)]
                values = dict(self._assigned(node))
                for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    made.update((t, _Bound(end_of(node), t, values.get(t), kind))
                                for t in ast.walk(target) if isinstance(t, ast.Name))
            elif isinstance(node, (ast.For, ast.AsyncFor)):  # (bound where the loop's body runs only)
                made.update((t, _Bound(end_of(node.iter), None, None, "other"))
                            for t in ast.walk(node.target) if isinstance(t, ast.Name))
            elif isinstance(node, ast.Delete):  # (a `del` reaches a read as no value)
                made.update((t, _Bound(end_of(node), t, None, "other")) for t in node.targets if isinstance(t, ast.Name))
            elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                made.update((t, _Bound(end_of(node.context_expr), t, None, "other"))
                            for t in ast.walk(node.optional_vars) if isinstance(t, ast.Name))
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for a in node.names:
                    if a.name != "*":
                        bound.setdefault(a.asname or a.name.split(".", 1)[0], []).append(
                            _Bound(end_of(node), None, None, "other"))
            elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
                bound.setdefault(node.name, []).append(_Bound(None, None, None, "other"))
            elif isinstance(node, ast.MatchMapping) and node.rest:
                bound.setdefault(node.rest, []).append(_Bound(None, None, None, "other"))
            elif isinstance(node, ast.comprehension):
                todo += [node.iter, *node.ifs]
                continue  # (its target: see the class)
            if walrus:
                todo += ast.iter_child_nodes(node)
            else:  # only a walrus binds a name inside an expression that is not itself a target
                todo += [c for c in ast.iter_child_nodes(node)
                         if not isinstance(c, ast.expr) or isinstance(getattr(c, "ctx", None), (ast.Store, ast.Del))]
        self._scopes[scope] = bound
        return bound

    def _assigned(self, store: ast.AST) -> list[tuple[ast.Name, ast.expr]]:
        """(target, value) for each name ``store`` assigns a value that can be told."""
        if isinstance(store, ast.AugAssign):
            return [(store.target, store.value)] if self._augmented and isinstance(store.target, ast.Name) else []
        if store.value is None:
            return []
        out = []
        todo = [(t, store.value) for t in (store.targets if isinstance(store, ast.Assign) else [store.target])]
        while todo:
            target, value = todo.pop()
            if isinstance(target, ast.Name):
                out.append((target, value))
            elif isinstance(target, ast.Starred):
                todo.append((target.value, store.value))
            elif isinstance(target, (ast.Tuple, ast.List)):
                for i, t in enumerate(target.elts):
                    if isinstance(t, ast.Starred):
                        todo.append((t.value, store.value))
                    elif isinstance(value, (ast.Tuple, ast.List)) and i < len(value.elts) and \
                            not any(isinstance(e, ast.Starred) for e in value.elts):
                        todo.append((t, value.elts[i]))
        return out

    def _conditional_blocks(self, node: ast.AST) -> list[list[ast.AST]]:
        """The blocks around ``node``, within its scope, that may not run (``conditional_containers``): a
        branch of an `if` or a conditional expression, a loop's body or `else`, an `except` clause or a
        `try`'s `else`, a `match` case, an operand of `and`/`or` after the first."""
        out: list[list[ast.AST]] = []
        child, parent = node, self._sites.parent(node)
        while parent is not None and not isinstance(parent, _SCOPE_BOUNDS):
            if isinstance(parent, (ast.If, ast.For, ast.AsyncFor, ast.While)):
                out += [block for block in (parent.body, parent.orelse) if child in block]
            elif isinstance(parent, ast.IfExp) and child is not parent.test or \
                    isinstance(parent, ast.BoolOp) and child is not parent.values[0]:
                out.append([child])
            elif isinstance(parent, TRIES):  # (a clause, or what it holds, may be the child)
                handler = next((h for h in parent.handlers if h is child or contains(h, child)), None)
                out += [[handler]] if handler is not None else [parent.orelse] if child in parent.orelse else []
            elif isinstance(parent, ast.Match):
                for case in parent.cases:
                    parts = [case.pattern, *case.body, *([case.guard] if case.guard else [])]
                    if child is case or any(p is child or contains(p, child) for p in parts):
                        out.append(parts)
            child, parent = parent, self._sites.parent(parent)
        return out


_STORE_KINDS = {ast.Assign: "assign", ast.AnnAssign: "annassign", ast.NamedExpr: "walrus", ast.AugAssign: "augassign"}
