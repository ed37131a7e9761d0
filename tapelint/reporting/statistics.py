"""``--statistics``: how many findings of each code, most frequent first, as ruff prints them."""

from __future__ import annotations

import json
from collections import Counter
from typing import Sequence, TextIO

from tapelint.diagnostics import Diagnostic
from tapelint.reporting.context import ReportContext
from tapelint.reporting.style import BOLD, RED, paint
from tapelint.reporting.text import summary


def rows(diagnostics: Sequence[Diagnostic]) -> list[dict]:
    counts = Counter(d.code for d in diagnostics)
    names = {d.code: d.name for d in diagnostics}
    fixable = {d.code for d in diagnostics if d.fix is not None}
    order = sorted(counts, key=lambda code: (-counts[code], code))
    return [{"code": c, "name": names[c], "count": counts[c], "fixable": c in fixable} for c in order]


def report_statistics(diagnostics: Sequence[Diagnostic], stream: TextIO, ctx: ReportContext) -> None:
    table = rows(diagnostics)
    if table:
        count_width = max(len(str(r["count"])) for r in table)
        code_width = max(len(r["code"]) for r in table)
        for r in table:
            code = paint(r["code"].ljust(code_width), BOLD, RED, enabled=ctx.color)
            stream.write(f"{str(r['count']).rjust(count_width)}\t{code}\t{r['name']}\n")
    if not ctx.quiet:
        stream.write(summary(diagnostics) + "\n")


def report_statistics_json(diagnostics: Sequence[Diagnostic], stream: TextIO, ctx: ReportContext) -> None:
    json.dump(rows(diagnostics), stream, indent=2)
    stream.write("\n")
