"""Line and column of every node, as libcst's ``PositionProvider`` computes them, at a fraction of its cost.

Positions come from generating the module's code and counting lines and columns as tokens are added.
libcst's provider does that with a regular-expression split of every token, a ``CodePosition`` and a
``CodeRange`` object for every node and a generator-based context manager for every syntactic
position: about nine times the cost of generating the code. This state keeps the same rules (a node's
range is its syntactic position where its ``_codegen_impl`` records one, else the span of its tokens;
``\\r\\n``, ``\\r`` and ``\\n`` are newlines) with plain tuples, and only rules that report something pay
for it (:meth:`tapelint.semantic.model.SemanticModel.span`).

``CodegenState`` and ``Module._codegen`` are libcst internals (stable since libcst 0.3): where a libcst
release changes them, :func:`node_ranges` falls back to ``PositionProvider`` itself, slower but right.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

import libcst as cst

try:
    from libcst._nodes.internal import CodegenState
except ImportError:  # pragma: no cover - a libcst that moved it: the provider does the work
    CodegenState = None

_NEWLINE = re.compile(r"\r\n?|\n")
Range = tuple[tuple[int, int], tuple[int, int]]  # ((line, column), (line, column)); 1-based line, 0-based column


class _Syntactic:
    """``with state.record_syntactic_position(node, start_node=..., end_node=...)``, without contextlib."""

    __slots__ = ("state", "node", "start_node", "end_node", "start")

    def __init__(self, state: "_PositionState", node: cst.CSTNode, start_node, end_node) -> None:
        self.state, self.node, self.start_node, self.end_node = state, node, start_node, end_node

    def __enter__(self) -> None:
        self.start = (self.state.line, self.state.column)

    def __exit__(self, *exc: object) -> None:
        state, computed = self.state, self.state.computed
        start = computed[self.start_node][0] if self.start_node is not None else self.start
        end = computed[self.end_node][1] if self.end_node is not None else (state.line, state.column)
        computed[self.node] = (start, end)


if CodegenState is not None:
    @dataclass
    class _PositionState(CodegenState):
        computed: dict = field(default_factory=dict)
        line: int = 1
        column: int = 0
        stack: list = field(default_factory=list)

        def add_indent_tokens(self) -> None:
            for token in self.indent_tokens:
                self.add_token(token)

        def add_token(self, value: str) -> None:
            self.tokens.append(value)
            if "\n" in value or "\r" in value:
                segments = _NEWLINE.split(value)
                self.line += len(segments) - 1
                self.column = len(segments[-1])
            else:
                self.column += len(value)

        def before_codegen(self, node: cst.CSTNode) -> None:
            self.stack.append((self.line, self.column))

        def after_codegen(self, node: cst.CSTNode) -> None:
            start = self.stack.pop()
            if node not in self.computed:
                self.computed[node] = (start, (self.line, self.column))

        def record_syntactic_position(self, node: cst.CSTNode, *, start_node: Optional[cst.CSTNode] = None,
                                      end_node: Optional[cst.CSTNode] = None) -> _Syntactic:
            return _Syntactic(self, node, start_node, end_node)
else:  # pragma: no cover
    _PositionState = None


def node_ranges(module: cst.Module) -> dict[cst.CSTNode, Range]:
    """The range of every node of ``module``: the same lines and columns as libcst's PositionProvider."""
    if _PositionState is not None:
        state = _PositionState(default_indent=module.default_indent, default_newline=module.default_newline)
        try:
            module._codegen(state)
        except (AttributeError, TypeError):  # libcst's code generation changed its protocol
            pass
        else:
            return state.computed
    return provider_ranges(module)


def provider_ranges(module: cst.Module) -> dict[cst.CSTNode, Range]:
    """The same, from libcst's own ``PositionProvider`` (the reference, and the fallback)."""
    from libcst.metadata import MetadataWrapper, PositionProvider

    positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    return {node: ((r.start.line, r.start.column), (r.end.line, r.end.column)) for node, r in positions.items()}
