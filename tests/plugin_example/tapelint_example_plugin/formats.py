"""The ``markdown`` output format: a table of findings, for a pull-request comment."""

from __future__ import annotations


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def report_markdown(diagnostics, stream) -> None:
    if not diagnostics:
        stream.write("No tapelint findings.\n")
        return
    stream.write("| File | Line | Code | Message |\n| --- | ---: | --- | --- |\n")
    for d in diagnostics:
        where = f"{d.filename} (cell {d.cell})" if d.cell is not None else d.filename
        stream.write(f"| {_cell(where)} | {d.location.row} | {d.code} | {_cell(d.message)} |\n")
    stream.write(f"\n{len(diagnostics)} finding{'s' if len(diagnostics) != 1 else ''}.\n")
