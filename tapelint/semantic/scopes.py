"""Scopes, bindings and uses of names, and which bindings may reach a use.

Reaching bindings are computed structurally, which is exact for straight-line code and conservative
elsewhere: a use is reached by the last binding before it that *dominates* it (every conditional block
around the binding also contains the use), by every conditional binding after that one, and, inside a
loop, by bindings later in the loop body (from the previous iteration). Rules that need "the value
is certainly X" require all reaching bindings to agree, so branches never produce false alarms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from tapelint.semantic.tree import TreeIndex

SCOPE_NODES = (cst.Module, cst.FunctionDef, cst.ClassDef, cst.Lambda, cst.ListComp, cst.SetComp,
               cst.DictComp, cst.GeneratorExp)
_SCOPE_TYPES = frozenset(SCOPE_NODES)  # exact types: libcst's node classes are final
COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)
LOOPS = (cst.For, cst.While)
_LOOP_TYPES = frozenset(LOOPS)


@dataclass(eq=False)
class Scope:
    node: cst.CSTNode
    parent: "Scope | None"
    bindings: dict[str, list["Binding"]] = field(default_factory=dict)
    uses: dict[str, list[cst.Name]] = field(default_factory=dict)
    globals: set[str] = field(default_factory=set)
    nonlocals: set[str] = field(default_factory=set)

    @property
    def kind(self) -> str:
        return {
            cst.Module: "module", cst.FunctionDef: "function", cst.ClassDef: "class", cst.Lambda: "lambda",
        }.get(type(self.node), "comprehension")

    def __repr__(self) -> str:
        name = getattr(getattr(self.node, "name", None), "value", "")
        return f"<Scope {self.kind} {name}>"


@dataclass(eq=False)
class Binding:
    name: str
    kind: str  # assign, augassign, annassign, for, with, param, import, def, class, walrus, except, del, comprehension, match
    node: cst.CSTNode  # the bound Name (or the ImportAlias)
    scope: Scope
    statement: cst.CSTNode
    at: int  # pre-order index after which the binding holds
    value: cst.BaseExpression | None = None  # the value bound, when it can be told
    qualified_name: str | None = None  # for imports
    definition: cst.CSTNode | None = None  # FunctionDef/ClassDef for def/class bindings
    containers: tuple[cst.CSTNode, ...] = ()  # conditional blocks around the binding

    def __repr__(self) -> str:
        return f"<Binding {self.kind} {self.name} @{self.at}>"


_DESTRUCTURING = frozenset({cst.Element, cst.StarredElement, cst.Tuple, cst.List})
_NOT_A_USE_PARENTS = frozenset({cst.ImportAlias, cst.AsName, cst.ImportFrom, cst.Global, cst.Nonlocal})

# The tests below compare exact types (libcst's node classes are final): `isinstance` against them goes
# through ABCMeta.__instancecheck__, and these run for every name of the file.


def _is_name_target(tree: TreeIndex, name: cst.Name) -> tuple[str, cst.CSTNode] | None:
    """If ``name`` is bound by its context, (kind, owning node)."""
    node: cst.CSTNode = name
    parent = tree.parent.get(node)
    # climb through tuple/list/starred destructuring
    while type(parent) in _DESTRUCTURING:
        node, parent = parent, tree.parent.get(parent)
    t = type(parent)
    if t is cst.AssignTarget:
        return ("assign", tree.parent[parent]) if parent.target is node else None
    if t is cst.AugAssign:
        return ("augassign", parent) if parent.target is node else None
    if t is cst.AnnAssign:
        return ("annassign", parent) if parent.target is node and parent.value is not None else None
    if t is cst.For:
        return ("for", parent) if parent.target is node else None
    if t is cst.CompFor:
        return ("comprehension", parent) if parent.target is node else None
    if t is cst.AsName:
        if parent.name is not node:
            return None
        grand = type(tree.parent.get(parent))
        if grand is cst.WithItem:
            return "with", tree.parent[parent]
        if grand is cst.ExceptHandler:
            return "except", tree.parent[parent]
        return None  # import aliases are handled with the import
    if t is cst.NamedExpr:
        return ("walrus", parent) if parent.target is node else None
    if t is cst.Param:
        return ("param", parent) if parent.name is node else None
    if t is cst.FunctionDef or t is cst.ClassDef:
        return (("def" if t is cst.FunctionDef else "class"), parent) if parent.name is node else None
    if t is cst.Del:
        return "del", parent
    if t is cst.MatchAs or t is cst.MatchStar:
        return ("match", parent) if parent.name is node else None
    return None


def _is_not_a_use(tree: TreeIndex, name: cst.Name) -> bool:
    parent = tree.parent.get(name)
    t = type(parent)
    if t is cst.Attribute:
        return parent.attr is name or tree.enclosing(name, cst.Import, cst.ImportFrom) is not None
    if t is cst.Arg:
        return parent.keyword is name
    if t in _NOT_A_USE_PARENTS:
        return True
    if t is cst.MatchKeywordElement:
        return parent.key is name
    return False


class ScopeIndex:
    def __init__(self, tree: TreeIndex) -> None:
        self.tree = tree
        self.scopes: dict[cst.CSTNode, Scope] = {}
        self.module_scope = self._scope_for(tree.module, None)
        self._name_scope: dict[cst.CSTNode, Scope] = {}
        self._memo: dict[cst.CSTNode, Scope] = {}
        self._build()

    # -- construction ------------------------------------------------------------------------------
    def _scope_for(self, node: cst.CSTNode, parent: Scope | None) -> Scope:
        scope = self.scopes.get(node)
        if scope is None:
            scope = self.scopes[node] = Scope(node, parent)
        return scope

    def scope_of(self, node: cst.CSTNode) -> Scope:
        """The scope in which ``node`` is evaluated (a function's name, decorators and defaults are
        evaluated in the enclosing scope; its parameters and body in its own)."""
        # A node whose three nearest ancestors are not scope nodes is in its parent's scope (the walk
        # below looks at most three levels under a scope node), so answers are shared up the tree.
        memo, parent = self._memo, self.tree.parent
        pending: list[cst.CSTNode] = []
        current = node
        while True:
            found = memo.get(current)
            if found is not None:
                break
            a1 = parent.get(current)
            a2 = parent.get(a1) if a1 is not None else None
            a3 = parent.get(a2) if a2 is not None else None
            if a1 is None or type(a1) in _SCOPE_TYPES or type(a2) in _SCOPE_TYPES or type(a3) in _SCOPE_TYPES:
                found = memo[current] = self._walk_to_scope(current)
                break
            pending.append(current)
            current = a1
        for n in pending:
            memo[n] = found
        return found

    def _walk_to_scope(self, node: cst.CSTNode) -> Scope:
        child = node
        path: list[cst.CSTNode] = [node]
        for anc in self.tree.ancestors(node):
            if type(anc) in _SCOPE_TYPES:
                if self._inside(anc, child, path):
                    return self._scope_for(anc, self._outer(anc))
            path.append(anc)
            child = anc
        return self.module_scope

    def _outer(self, scope_node: cst.CSTNode) -> Scope | None:
        if isinstance(scope_node, cst.Module):
            return None
        return self.scope_of(scope_node)

    def _inside(self, scope_node: cst.CSTNode, child: cst.CSTNode, path: list[cst.CSTNode]) -> bool:
        if isinstance(scope_node, cst.Module):
            return True
        if isinstance(scope_node, cst.FunctionDef):
            if child is scope_node.body:
                return True
            if child is scope_node.params:
                # parameter names are local; annotations and defaults are not
                return len(path) >= 3 and isinstance(path[-2], cst.Param) and path[-3] is path[-2].name
            return False
        if isinstance(scope_node, cst.Lambda):
            if child is scope_node.body:
                return True
            if child is scope_node.params:
                return len(path) >= 3 and isinstance(path[-2], cst.Param) and path[-3] is path[-2].name
            return False
        if isinstance(scope_node, cst.ClassDef):
            return child is scope_node.body
        if isinstance(scope_node, COMPREHENSIONS):
            # the first iterable is evaluated outside
            return not (child is scope_node.for_in and path[-2] is scope_node.for_in.iter) if len(path) >= 2 else True
        return True

    def _build(self) -> None:
        tree = self.tree
        for name in tree.nodes(cst.Name):
            target = _is_name_target(tree, name)
            if target is None:
                if _is_not_a_use(tree, name):
                    continue
                scope = self.scope_of(name)
                self._name_scope[name] = scope
                scope.uses.setdefault(name.value, []).append(name)
                continue
            kind, owner = target
            scope = self.scope_of(name)
            if kind == "walrus":  # PEP 572: binds in the enclosing non-comprehension scope
                while isinstance(scope.node, COMPREHENSIONS) and scope.parent is not None:
                    scope = scope.parent
            if kind in ("def", "class"):
                scope = self.scope_of(owner)
            self._name_scope[name] = scope
            if kind == "augassign":  # also a use of the old value
                scope.uses.setdefault(name.value, []).append(name)
            self._add(Binding(
                name=name.value, kind=kind, node=name, scope=scope, statement=tree.statement_of(name),
                at=self._binding_point(kind, name, owner),
                value=self._bound_value(kind, name, owner),
                definition=owner if kind in ("def", "class") else None,
                containers=self._binding_containers(kind, name, owner),
            ))
        for imp in tree.nodes(cst.Import, cst.ImportFrom):
            self._add_import(imp)
        for decl in tree.nodes(cst.Global, cst.Nonlocal):
            scope = self.scope_of(decl)
            names = {n.name.value for n in decl.names}
            (scope.globals if isinstance(decl, cst.Global) else scope.nonlocals).update(names)
        for scope in self.scopes.values():
            for bs in scope.bindings.values():
                bs.sort(key=lambda b: b.at)

    def _add(self, binding: Binding) -> None:
        binding.scope.bindings.setdefault(binding.name, []).append(binding)

    def _add_import(self, imp: cst.CSTNode) -> None:
        scope = self.scope_of(imp)
        at = self.tree.end[imp]
        containers = self.conditional_containers(imp)
        if isinstance(imp, cst.Import):
            for alias in imp.names:
                full = _dotted(alias.name)
                if alias.asname is not None:
                    bound, qname = alias.asname.name.value, full
                else:
                    bound = full.split(".")[0]
                    qname = bound
                self._add(Binding(bound, "import", alias, scope, imp, at, qualified_name=qname, containers=containers))
            return
        if isinstance(imp.names, cst.ImportStar) or imp.module is None and not imp.relative:
            return
        base = ("." * len(imp.relative)) + (_dotted(imp.module) if imp.module is not None else "")
        for alias in imp.names:
            name = _dotted(alias.name)
            bound = alias.asname.name.value if alias.asname is not None else name
            qname = f"{base}.{name}" if not base.endswith(".") else base + name
            self._add(Binding(bound, "import", alias, scope, imp, at, qualified_name=qname, containers=containers))

    def _binding_point(self, kind: str, name: cst.Name, owner: cst.CSTNode) -> int:
        tree = self.tree
        if kind in ("assign", "augassign", "annassign"):
            return tree.end[owner]
        if kind == "for":
            return tree.end[owner.iter]
        if kind == "with":
            return tree.end[owner.item]
        if kind == "comprehension":
            return tree.end[owner.iter]
        if kind == "walrus":
            return tree.end[owner]
        if kind == "param":
            return tree.order[owner]
        if kind in ("def", "class"):
            return tree.end[owner]
        return tree.end[tree.statement_of(name)]

    def _bound_value(self, kind: str, name: cst.Name, owner: cst.CSTNode) -> cst.BaseExpression | None:
        tree = self.tree
        if kind == "assign":
            target = tree.parent[name]
            if isinstance(target, cst.AssignTarget):
                return owner.value
            return _element_value(tree, name, owner.value)
        if kind in ("augassign",):
            return None
        if kind == "annassign":
            return owner.value
        if kind == "walrus":
            return owner.value
        if kind == "with":
            return owner.item
        return None

    def _binding_containers(self, kind: str, name: cst.Name, owner: cst.CSTNode) -> tuple[cst.CSTNode, ...]:
        if kind == "for":
            return self.conditional_containers(owner) + (owner.body,)
        if kind == "param":
            return ()
        return self.conditional_containers(name)

    # -- queries -------------------------------------------------------------------------------------
    def conditional_containers(self, node: cst.CSTNode) -> tuple[cst.CSTNode, ...]:
        """The blocks around ``node`` (within its scope) that may not run: if/else branches, loop
        bodies, except handlers, match cases, the arms of a conditional expression."""
        out: list[cst.CSTNode] = []
        child = node
        for parent in self.tree.ancestors(node):
            t = type(parent)
            if t in _SCOPE_TYPES:
                break
            if t is cst.If or t is cst.IfExp or t in _LOOP_TYPES:
                if child is parent.body or child is parent.orelse:
                    out.append(child)
            elif t is cst.Try or t is cst.TryStar:
                if child in parent.handlers or child is parent.orelse:
                    out.append(child)
            elif t is cst.Match:
                if child in parent.cases:
                    out.append(child)
            elif t is cst.BooleanOperation and child is parent.right:
                out.append(child)
            child = parent
        return tuple(out)

    def dominates(self, binding: Binding, node: cst.CSTNode) -> bool:
        contains = self.tree.contains
        return all(contains(c, node) for c in binding.containers)

    def enclosing_loops(self, node: cst.CSTNode) -> list[cst.CSTNode]:
        """Loops around ``node`` within its scope, innermost first (only when ``node`` is in the body)."""
        loops = []
        child = node
        for parent in self.tree.ancestors(node):
            t = type(parent)
            if t in _SCOPE_TYPES:  # comprehensions included: their loop runs in their own scope
                break
            if t in _LOOP_TYPES and child is parent.body:
                loops.append(parent)
            child = parent
        return loops

    def resolve_scope(self, name: str, scope: Scope) -> Scope | None:
        """LEGB: the scope whose binding of ``name`` a load in ``scope`` sees (None: builtin/unknown)."""
        if name in scope.globals:
            return self.module_scope if name in self.module_scope.bindings else None
        current: Scope | None = scope
        first = True
        while current is not None:
            if (first or current.kind != "class") and name in current.bindings and name not in current.nonlocals:
                return current
            first = False
            current = current.parent
        return None

    def reaching(self, name_node: cst.Name) -> list[Binding] | None:
        """Bindings that may reach this load of a name; ``None`` when it may be unbound in its scope
        (a builtin, a global defined elsewhere, or a free variable read when the closure runs)."""
        scope = self._name_scope.get(name_node) or self.scope_of(name_node)
        owner = self.resolve_scope(name_node.value, scope)
        if owner is None:
            return None
        bindings = owner.bindings[name_node.value]
        if owner is not scope:
            # a free variable: its value is whatever the enclosing scope holds when the code runs
            return list(bindings)
        if isinstance(owner.node, COMPREHENSIONS) and all(b.kind == "comprehension" for b in bindings):
            # `f(w) for w in ws`: the element is written before the `for` clause that binds it
            return list(bindings)
        pos = self.tree.order[name_node]
        before = [b for b in bindings if b.at < pos]
        dominator = None
        for b in reversed(before):
            if self.dominates(b, name_node):
                dominator = b
                break
        if dominator is None:
            result = list(before)
            may_be_unbound = True
        else:
            result = [dominator] + [b for b in before if b.at > dominator.at]
            may_be_unbound = False
        for loop in self.enclosing_loops(name_node):
            if dominator is not None and self.tree.contains(loop, dominator.node):
                break
            later = [b for b in bindings if b.at >= pos and self.tree.contains(loop, b.node)]
            result.extend(b for b in later if b not in result)
        if may_be_unbound and not result:
            return None
        return [b for b in result if b.kind != "del"] if result else result


def _dotted(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return ""


def _element_value(tree: TreeIndex, name: cst.Name, value: cst.BaseExpression) -> cst.BaseExpression | None:
    """For ``a, b = x, y``: the element of the right side that ``name`` receives, when it can be told."""
    path = []
    node: cst.CSTNode = name
    while True:
        parent = tree.parent.get(node)
        if isinstance(parent, cst.Element):
            node = parent
            continue
        if isinstance(parent, (cst.Tuple, cst.List)):
            path.append(parent.elements.index(node))
            node = parent
            continue
        break
    for index in reversed(path):
        if not isinstance(value, (cst.Tuple, cst.List)) or any(isinstance(e, cst.StarredElement) for e in value.elements):
            return None
        if index >= len(value.elements):
            return None
        value = value.elements[index].value
    return value
