"""One pass over a libcst tree: parents, source order and subtree extents of every node.

``order[n]`` is the pre-order index of ``n`` (source order for nodes that do not overlap) and
``end[n]`` the largest pre-order index in its subtree, so containment is an interval test. This replaces
libcst's ParentNodeProvider at a fraction of its cost.

Whitespace, comments and punctuation (``_LAYOUT``: two thirds of a typical tree's nodes) are left out:
no rule asks where they are or what holds them, and a node's order relative to the others is the same
without them.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_left, bisect_right
from typing import Iterator

import libcst as cst


_FIELDS: dict[type, tuple[str, ...]] = {}
# Types whose dataclass field order is not their source order.
_SOURCE_ORDER = {
    cst.Arg: ("star", "keyword", "value"),
    cst.FunctionDef: ("decorators", "asynchronous", "name", "type_parameters", "params", "returns", "body"),
    cst.ClassDef: ("decorators", "name", "type_parameters", "bases", "keywords", "body"),
    cst.IfExp: ("body", "test", "orelse"),
    cst.ExceptHandler: ("type", "name", "body"),
    cst.ExceptStarHandler: ("type", "name", "body"),
    cst.Parameters: ("posonly_params", "posonly_ind", "params", "star_arg", "kwonly_params", "star_kwarg"),
    cst.MatchCase: ("pattern", "guard", "body"),
    cst.For: ("asynchronous", "target", "iter", "body", "orelse"),
    cst.With: ("asynchronous", "items", "body"),
    cst.CompFor: ("asynchronous", "target", "iter", "ifs", "inner_for_in"),
}


def children(node: cst.CSTNode) -> list[cst.CSTNode]:
    """Child nodes in source order, layout (whitespace, commas, brackets: ``_LAYOUT``) left out, read
    from the dataclass fields. (libcst's ``node.children`` rebuilds the node through its visitor
    machinery, checks included: it costs several times more, and raises on some valid code.)"""
    names = _FIELDS.get(type(node))
    if names is None:
        first = _SOURCE_ORDER.get(type(node), ())
        names = first + tuple(f.name for f in dataclasses.fields(node) if f.name not in first)
        _FIELDS[type(node)] = names
    out: list[cst.CSTNode] = []
    for name in names:
        value = getattr(node, name)
        kind = _KIND[type(value)]
        if kind is _NODE:
            out.append(value)
        elif kind is _SEQUENCE:
            for v in value:
                if _KIND[type(v)] is _NODE:
                    out.append(v)
    return out


_NODE, _SEQUENCE, _OTHER = "node", "sequence", "other"

_LAYOUT = (
    cst.BaseParenthesizableWhitespace, cst.TrailingWhitespace, cst.Newline, cst.EmptyLine, cst.Comment,
    cst.Comma, cst.Dot, cst.Colon, cst.Semicolon, cst.AssignEqual, cst.LeftParen, cst.RightParen,
    cst.LeftSquareBracket, cst.RightSquareBracket, cst.LeftCurlyBrace, cst.RightCurlyBrace,
)


class _Kinds(dict):
    """What a field's value is, by its type, worked out once per type (a node to index, a sequence of
    them, or anything else, layout included): `isinstance` against libcst's abstract base classes goes
    through ABCMeta.__instancecheck__, which costs more than the rest of the walk."""

    def __missing__(self, t: type) -> str:
        if issubclass(t, cst.CSTNode):
            kind = _OTHER if issubclass(t, _LAYOUT) else _NODE
        else:
            kind = _SEQUENCE if issubclass(t, (list, tuple)) else _OTHER
        self[t] = kind
        return kind


_KIND = _Kinds()


class _Subclass(dict):
    """type -> whether it derives from ``bases``, worked out once per type (for the same reason)."""

    def __init__(self, bases: tuple[type, ...]) -> None:
        super().__init__()
        self.bases = bases

    def __missing__(self, t: type) -> bool:
        answer = self[t] = issubclass(t, self.bases)
        return answer


_SUBCLASS: dict[tuple[type, ...], _Subclass] = {}


def subclass_test(bases: tuple[type, ...]) -> _Subclass:
    """``subclass_test(bases)[type(x)]`` is ``isinstance(x, bases)``, without ABCMeta's cost."""
    test = _SUBCLASS.get(bases)
    if test is None:
        test = _SUBCLASS[bases] = _Subclass(bases)
    return test


_STATEMENT = subclass_test((cst.BaseSmallStatement, cst.BaseCompoundStatement))


class TreeIndex:
    def __init__(self, module: cst.Module) -> None:
        self.module = module
        self.parent: dict[cst.CSTNode, cst.CSTNode] = {}
        self.order: dict[cst.CSTNode, int] = {}
        self.end: dict[cst.CSTNode, int] = {}
        self.by_type: dict[type, list[cst.CSTNode]] = {}
        self._index()

    def _index(self) -> None:
        # Iterative walk: deep expressions must not exhaust Python's recursion limit here.
        counter = 0
        stack: list[tuple[cst.CSTNode, bool]] = [(self.module, False)]
        order, end, parent, by_type = self.order, self.end, self.parent, self.by_type
        while stack:
            node, done = stack.pop()
            if done:
                end[node] = counter - 1
                continue
            order[node] = counter
            counter += 1
            by_type.setdefault(type(node), []).append(node)
            stack.append((node, True))
            for child in reversed(children(node)):
                parent[child] = node
                stack.append((child, False))

    # -- queries ---------------------------------------------------------------------------------
    def contains(self, outer: cst.CSTNode, inner: cst.CSTNode) -> bool:
        o = self.order[inner]
        return self.order[outer] <= o <= self.end[outer]

    def ancestors(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        node = self.parent.get(node)
        while node is not None:
            yield node
            node = self.parent.get(node)

    def nodes(self, *types: type) -> list[cst.CSTNode]:
        out: list[cst.CSTNode] = []
        for t in types:
            out.extend(self.by_type.get(t, ()))
        if len(types) > 1:
            out.sort(key=self.order.__getitem__)
        return out

    def descendants(self, node: cst.CSTNode, *types: type) -> list[cst.CSTNode]:
        """The nodes of ``types`` (exact types) in ``node``'s subtree, itself included, in source order."""
        lo, hi = self.order[node], self.end[node]
        key = self.order.__getitem__
        out: list[cst.CSTNode] = []
        for t in types:  # each list is in pre-order: the subtree is a slice of it
            found = self.by_type.get(t, ())
            out += found[bisect_left(found, lo, key=key):bisect_right(found, hi, key=key)]
        if len(types) > 1:
            out.sort(key=key)
        return out

    def statement_of(self, node: cst.CSTNode) -> cst.CSTNode:
        """The innermost statement (small statement, or compound statement header) holding ``node``."""
        current = node
        while current is not None and not _STATEMENT[type(current)]:
            current = self.parent.get(current)
        return current if current is not None else node

    def enclosing(self, node: cst.CSTNode, *types: type) -> cst.CSTNode | None:
        test = subclass_test(types)
        for a in self.ancestors(node):
            if test[type(a)]:
                return a
        return None
