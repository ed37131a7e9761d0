"""GitHub Actions workflow commands: each finding becomes an annotation on the pull request."""

from __future__ import annotations

from typing import Sequence, TextIO

from tapelint.diagnostics import Diagnostic
from tapelint.reporting.context import ReportContext


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    # Property values are also cut at ':' and ',' by the runner.
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def format_annotation(d: Diagnostic) -> str:
    props = {
        "title": f"tapelint ({d.code})",
        "file": d.filename,
        "line": d.location.row,
        "col": d.location.column,
        "endLine": d.end_location.row,
        "endColumn": d.end_location.column,
    }
    text = f"{d.code} {d.message}"
    if d.cell is not None:
        # A notebook's rows count from the top of a cell, not of the .ipynb file GitHub shows: annotate
        # the file, and say where in the message.
        props = {"title": props["title"], "file": d.filename}
        text = f"cell {d.cell}, line {d.location.row}, column {d.location.column}: {text}"
    head = ",".join(f"{key}={escape_property(str(value))}" for key, value in props.items())
    return f"::error {head}::{escape_data(text)}"


def report_github(diagnostics: Sequence[Diagnostic], stream: TextIO, ctx: ReportContext) -> None:
    for d in diagnostics:
        stream.write(format_annotation(d) + "\n")
