"""Huge pure data literals (generated tables) are replaced by a placeholder before libcst parses them.

No rule looks inside a literal of thousands of constants, yet parsing and indexing one dominates
the cost of a generated file (a 10 MB table: minutes). The placeholder keeps every row and column of
the rest of the file, and any code generated from the module (fixes) gets the original text back.
"""

from __future__ import annotations

import ast
import re
from collections import OrderedDict

MIN_SOURCE = 500_000  # only large files pay the extra CPython parse
MIN_NODES = 5_000
_LITERALS = (ast.List, ast.Tuple, ast.Set, ast.Dict)
_LEAVES = (ast.Constant, ast.Load)
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")
# libcst modules cannot be weakly referenced: keep the few most recent (one per large file in flight).
_registry: "OrderedDict[int, tuple[object, list[tuple[str, str]]]]" = OrderedDict()
_KEEP = 8


def _pure_size(node: ast.AST) -> int | None:
    count, stack = 0, [node]
    while stack:
        n = stack.pop()
        count += 1
        if isinstance(n, _LITERALS) or isinstance(n, _LEAVES) or (
            isinstance(n, ast.UnaryOp) and isinstance(n.op, (ast.USub, ast.UAdd))
        ) or isinstance(n, (ast.USub, ast.UAdd)):
            stack.extend(ast.iter_child_nodes(n))
        else:
            return None
    return count


def elide(source: str) -> tuple[str, list[tuple[str, str]]]:
    """(text to parse, [(placeholder, original)])."""
    if len(source) < MIN_SOURCE:
        return source, []
    try:
        tree = ast.parse(source)
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return source, []
    found, stack = [], [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, _LITERALS):
            size = _pure_size(node)
            if size is not None and size >= MIN_NODES:
                found.append(node)
                continue
        stack.extend(ast.iter_child_nodes(node))
    if not found:
        return source, []
    lines = _LINE.findall(source)
    starts, offset = [], 0
    for line in lines:
        starts.append(offset)
        offset += len(line)

    def char_offset(row: int, byte_col: int) -> int:
        line = lines[row - 1]
        return starts[row - 1] + len(line.encode("utf-8")[:byte_col].decode("utf-8", "replace"))

    spans = sorted((char_offset(n.lineno, n.col_offset), char_offset(n.end_lineno, n.end_col_offset)) for n in found)
    out, pairs, last = [], [], 0
    for i, (start, end) in enumerate(spans):
        original = source[start:end]
        pieces = _LINE.findall(original) or [original]
        head = f"(__tapelint_elided_{i}__"
        if len(pieces) == 1:
            placeholder = head.ljust(len(original) - 1) + ")"
        else:
            newlines = [re.search(r"(\r\n|\r|\n)$", p).group(1) for p in pieces[:-1]]
            placeholder = head + newlines[0] + "".join(newlines[1:]) + " " * (len(pieces[-1]) - 1) + ")"
        out.append(source[last:start])
        out.append(placeholder)
        pairs.append((placeholder, original))
        last = end
    out.append(source[last:])
    return "".join(out), pairs


def remember(module: object, pairs: list[tuple[str, str]]) -> None:
    if pairs:
        _registry[id(module)] = (module, pairs)
        while len(_registry) > _KEEP:
            _registry.popitem(last=False)


def restore(module: object, code: str) -> str:
    """Code generated from ``module`` with the elided literals put back. Raises ValueError when a
    placeholder did not survive unchanged (the caller then drops the fix)."""
    entry = _registry.get(id(module))
    for placeholder, original in (entry[1] if entry and entry[0] is module else ()):
        if code.count(placeholder) != 1:
            raise ValueError("a fix touched an elided data literal")
        code = code.replace(placeholder, original, 1)
    return code
