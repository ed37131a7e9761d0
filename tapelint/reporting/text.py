"""Human formats. ``concise``: one line a finding. ``text`` (the default): the same lines, optionally
the source line under each (``--show-source``), then a summary line unless ``--quiet``."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence, TextIO

from tapelint.diagnostics import Diagnostic
from tapelint.reporting.context import ReportContext, plural
from tapelint.reporting.style import BOLD, CYAN, RED, paint
from tapelint.source import SourceError, read_source


def format_line(d: Diagnostic, ctx: ReportContext) -> str:
    c = ctx.color
    where = paint(d.filename, BOLD, enabled=c)
    if d.cell is not None:
        where += f":cell {d.cell}"
    return f"{where}:{d.location.row}:{d.location.column}: {paint(d.code, BOLD, RED, enabled=c)} {d.message}"


def summary(diagnostics: Sequence[Diagnostic]) -> str:
    if not diagnostics:
        return "All checks passed!"
    return f"Found {plural(len(diagnostics), 'error')}."


def report_concise(diagnostics: Sequence[Diagnostic], stream: TextIO, ctx: ReportContext) -> None:
    for d in diagnostics:
        stream.write(format_line(d, ctx) + "\n")


def report_text(diagnostics: Sequence[Diagnostic], stream: TextIO, ctx: ReportContext) -> None:
    sources: dict[str, list[str] | None] = {}
    for d in diagnostics:
        stream.write(format_line(d, ctx) + "\n")
        if ctx.show_source:
            stream.write(snippet(d, ctx, sources))
    if not ctx.quiet:
        if diagnostics and ctx.show_source:
            stream.write("\n")
        stream.write(summary(diagnostics) + "\n")


def snippet(d: Diagnostic, ctx: ReportContext, cache: dict[str, list[str] | None]) -> str:
    """The reported line with carets under the reported span (to the line's end when it spans
    lines). Empty when the line cannot be shown (unreadable file, notebook cell)."""
    if d.cell is not None:
        return ""
    if d.filename not in cache:
        try:
            cache[d.filename] = read_source(Path(ctx.absolute(d))).splitlines()
        except SourceError:
            cache[d.filename] = None
    lines = cache[d.filename]
    row = d.location.row
    if not lines or not 1 <= row <= len(lines):
        return ""
    line = lines[row - 1]
    start = len(line[: d.location.column - 1].expandtabs(4))
    end_col = d.end_location.column if d.end_location.row == row else len(line) + 1
    end = len(line[: end_col - 1].expandtabs(4))
    gutter = " " * len(str(row))
    bar = paint("|", CYAN, enabled=ctx.color)
    carets = paint("^" * max(1, end - start), BOLD, RED, enabled=ctx.color)
    return (
        f"{gutter} {bar}\n"
        f"{paint(str(row), CYAN, enabled=ctx.color)} {bar} {line.expandtabs(4)}\n"
        f"{gutter} {bar} {' ' * start}{carets}\n"
    )
