"""Shared pieces of rule fixes: where a statement sits in its block, and statements to insert.

Fixes are :class:`tapelint.rules.base.CstFix` replacements of libcst nodes, so comments and formatting
survive; these helpers only find the nodes to replace and build the few new ones.
"""

from __future__ import annotations

import functools
from typing import Sequence

from tapelint.lazy_libcst import cst


@functools.cache
def _blocks() -> tuple[type, ...]:  # (libcst imported on first use: tapelint/lazy_libcst.py)
    return (cst.IndentedBlock, cst.Module)


def block_statement(model, node: cst.CSTNode) -> cst.CSTNode | None:
    """The statement that holds ``node`` and sits directly in a block (a module or an indented body)."""
    current = node
    while current is not None:
        parent = model.parent(current)
        if isinstance(parent, _blocks()):
            return current
        current = parent
    return None


def block_of(model, statement: cst.CSTNode) -> cst.CSTNode | None:
    """The block (module or indented body) ``statement`` sits directly in."""
    parent = model.parent(statement)
    return parent if isinstance(parent, _blocks()) else None


def siblings_after(model, statement: cst.CSTNode) -> Sequence[cst.CSTNode]:
    block = block_of(model, statement)
    if block is None:
        return ()
    body = list(block.body)
    return body[body.index(statement) + 1:]


def ends_flow(statement: cst.CSTNode) -> bool:
    """A simple statement line that returns, raises, breaks or continues: nothing after it runs."""
    return isinstance(statement, cst.SimpleStatementLine) and any(
        isinstance(s, (cst.Return, cst.Raise, cst.Break, cst.Continue)) for s in statement.body)


def del_statement(name: str) -> cst.SimpleStatementLine:
    return cst.SimpleStatementLine([cst.Del(target=cst.Name(name))])


def call_statement(func: str, method: str, argument: cst.BaseExpression) -> cst.SimpleStatementLine:
    """``func.method(argument)`` as a statement of its own."""
    call = cst.Call(func=cst.Attribute(value=cst.Name(func), attr=cst.Name(method)), args=[cst.Arg(value=argument)])
    return cst.SimpleStatementLine([cst.Expr(call)])


def bound_names(model, statement: cst.CSTNode) -> set[str]:
    """Names a statement binds (assignment targets, for targets, with ... as, def/class, imports)."""
    out: set[str] = set()
    for target_type in (cst.AssignTarget, cst.AugAssign, cst.AnnAssign, cst.For, cst.AsName, cst.NamedExpr):
        for node in model.tree.descendants(statement, target_type):
            target = getattr(node, "target", None) or getattr(node, "name", None)
            if target is not None:
                out.update(n.value for n in _names(target))
    if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
        out.add(statement.name.value)
    return out


def loaded_names(statement: cst.CSTNode) -> set[str]:
    """Every name mentioned in ``statement`` (loads and stores alike: a conservative superset)."""
    return {n.value for n in _names(statement)}


def _names(node: cst.CSTNode) -> list[cst.Name]:
    from tapelint.semantic.tree import children

    out: list[cst.Name] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Name):
            out.append(current)
        elif isinstance(current, cst.Attribute):
            stack.append(current.value)  # `a.b`: only `a` is a name
            continue
        else:
            stack.extend(children(current))
    return out
