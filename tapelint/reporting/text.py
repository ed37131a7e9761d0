"""Human formats. ``concise``: one line a finding. ``text`` (the default): the same lines, optionally
the source line under each (``--show-source``), then a summary line unless ``--quiet``."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence, TextIO

from tapelint.diagnostics import Applicability, Diagnostic
from tapelint.reporting.context import ReportContext, plural
from tapelint.reporting.style import BOLD, CYAN, RED, paint
from tapelint.source import SourceError, read_source


def format_line(d: Diagnostic, ctx: ReportContext) -> str:
    c = ctx.color
    where = paint(d.filename, BOLD, enabled=c)
    if d.cell is not None:
        where += f":cell {d.cell}"
    # `[*]` marks a finding that --fix would fix, as ruff marks it.
    mark = f"{paint('[*]', CYAN, enabled=c)} " if fix_applies(d, ctx.unsafe_fixes) else ""
    return f"{where}:{d.location.row}:{d.location.column}: {paint(d.code, BOLD, RED, enabled=c)} {mark}{d.message}"


def fix_applies(d: Diagnostic, unsafe_fixes: bool | None) -> bool:
    return d.fix is not None and (d.fix.applicability is Applicability.SAFE or bool(unsafe_fixes))


def fixable_counts(diagnostics: Sequence[Diagnostic], unsafe_fixes: bool | None) -> tuple[int, int]:
    """(fixes --fix would apply, unsafe fixes it would not)."""
    applicable = sum(1 for d in diagnostics if fix_applies(d, unsafe_fixes))
    hidden = sum(1 for d in diagnostics if d.fix is not None and not fix_applies(d, unsafe_fixes))
    return applicable, hidden


def summary(diagnostics: Sequence[Diagnostic], ctx: ReportContext | None = None) -> str:
    """ruff's summary: the count (with what --fix fixed), then what --fix could still fix."""
    fixed = ctx.fixed if ctx is not None else None
    remaining = len(diagnostics)
    if fixed:
        lines = [f"Found {plural(fixed + remaining, 'error')} ({fixed} fixed, {remaining} remaining)."]
    elif remaining:
        lines = [f"Found {plural(remaining, 'error')}."]
    else:
        lines = ["All checks passed!"]
    if ctx is not None:
        hint = fix_hint(diagnostics, ctx.unsafe_fixes)
        if hint:
            lines.append(hint)
    return "\n".join(lines)


def fix_hint(diagnostics: Sequence[Diagnostic], unsafe_fixes: bool | None) -> str:
    applicable, hidden = fixable_counts(diagnostics, unsafe_fixes)
    if unsafe_fixes is not None:
        hidden = 0  # --unsafe-fixes or --no-unsafe-fixes was given: nothing to hint at
    hidden_text = f"{hidden} hidden fix{'' if hidden == 1 else 'es'} can be enabled with the `--unsafe-fixes` option"
    if applicable and hidden:
        return f"[*] {applicable} fixable with the `--fix` option ({hidden_text})."
    if applicable:
        return f"[*] {applicable} fixable with the `--fix` option."
    if hidden:
        return f"No fixes available ({hidden_text})."
    return ""


def fix_only_summary(fixed: int, hidden: int, *, applied: bool) -> str:
    """``--diff`` (and ``--fix-only``): what was (or would be) fixed, as ruff words it."""
    verb = "Fixed" if applied else "Would fix"
    more = f" ({hidden} additional fix{'' if hidden == 1 else 'es'} available with `--unsafe-fixes`)" if hidden else ""
    if fixed:
        return f"{verb} {plural(fixed, 'error')}{more}."
    if hidden:
        return f"No errors {'fixed' if applied else 'would be fixed'} ({hidden} fix{'' if hidden == 1 else 'es'} " \
               "available with `--unsafe-fixes`)."
    return ""


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
        stream.write(summary(diagnostics, ctx) + "\n")


def snippet(d: Diagnostic, ctx: ReportContext, cache: dict[str, list[str] | None]) -> str:
    """The reported line with carets under the reported span (to the line's end when it spans
    lines). Empty when the line cannot be shown (an unreadable file)."""
    key = d.filename if d.cell is None else f"{d.filename}\0{d.cell}"
    if key not in cache:
        try:
            if d.cell is None:
                cache[key] = read_source(Path(ctx.absolute(d))).splitlines()
            else:
                from tapelint.notebook import read_notebook

                cells = read_notebook(Path(ctx.absolute(d))).cells
                cache[key] = next((c.source.splitlines() for c in cells if c.number == d.cell), None)
        except SourceError:
            cache[key] = None
    lines = cache[key]
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
