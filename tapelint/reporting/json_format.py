"""``json`` (one array) and ``json-lines`` (one object a line), with ruff's field names, so tools
that read ruff's JSON read ours. ``filename`` is absolute, as in ruff."""

from __future__ import annotations

import json
from typing import Any, Sequence, TextIO

from tapelint.diagnostics import PARSE_ERROR_CODE, Diagnostic, Location
from tapelint.reporting.context import ReportContext


def _location(loc: Location) -> dict[str, int]:
    return {"row": loc.row, "column": loc.column}


def to_dict(d: Diagnostic, ctx: ReportContext) -> dict[str, Any]:
    fix = None
    if d.fix is not None:
        fix = {
            "applicability": d.fix.applicability.value,
            "message": d.fix.message,
            "edits": [
                {"content": e.content, "location": _location(e.location), "end_location": _location(e.end_location)}
                for e in d.fix.edits
            ],
        }
    return {
        "cell": d.cell,
        "code": d.code,
        "end_location": _location(d.end_location),
        "filename": ctx.absolute(d),
        "fix": fix,
        "location": _location(d.location),
        "message": d.message,
        "name": d.name,
        # A file that does not parse has no comments to read, so `# noqa` cannot apply (ruff: null).
        "noqa_row": None if d.code == PARSE_ERROR_CODE else d.noqa_row or d.location.row,
        "url": d.url,
    }


def report_json(diagnostics: Sequence[Diagnostic], stream: TextIO, ctx: ReportContext) -> None:
    json.dump([to_dict(d, ctx) for d in diagnostics], stream, indent=2, ensure_ascii=False)
    stream.write("\n")


def report_json_lines(diagnostics: Sequence[Diagnostic], stream: TextIO, ctx: ReportContext) -> None:
    for d in diagnostics:
        stream.write(json.dumps(to_dict(d, ctx), ensure_ascii=False) + "\n")
