"""`# noqa` suppression, as flake8 and ruff read it: on the reported physical line,
``# noqa`` suppresses everything, ``# noqa: TL001, TL002`` only those codes."""

from __future__ import annotations

import re
from typing import Iterable

from tapelint.diagnostics import Diagnostic

NOQA = re.compile(
    r"#\s*noqa(?::[\s]?(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?",
    re.IGNORECASE,
)
ALL = None


def noqa_directives(lines: list[str]) -> dict[int, frozenset[str] | None]:
    """Row (1-based) -> the codes suppressed there, or None for a bare ``# noqa``."""
    out: dict[int, frozenset[str] | None] = {}
    for row, line in enumerate(lines, start=1):
        if "noqa" not in line.lower():
            continue
        m = NOQA.search(line)
        if not m:
            continue
        codes = m.group("codes")
        out[row] = ALL if codes is None else frozenset(c.upper() for c in re.split(r"[,\s]+", codes) if c)
    return out


def filter_suppressed(diagnostics: Iterable[Diagnostic], lines: list[str]) -> list[Diagnostic]:
    directives = noqa_directives(lines)
    kept = []
    for d in diagnostics:
        row = d.noqa_row or d.location.row
        if row in directives:
            codes = directives[row]
            if codes is ALL or d.code in codes:
                continue
        kept.append(d)
    return kept
