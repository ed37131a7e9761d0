"""JUnit XML (what GitLab and Jenkins show as test results): a testsuite per file, a failing
testcase per finding; a clean run is one passing testcase, as ruff does, so CI shows a green test."""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING, Sequence, TextIO

from tapelint.diagnostics import Diagnostic
from tapelint.reporting.context import ReportContext

if TYPE_CHECKING:  # imported where used: every run imports this module, few write JUnit
    import xml.etree.ElementTree as ET

# Characters XML 1.0 cannot carry even escaped; a message quoting broken source may hold them.
_INVALID_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: str) -> str:
    return _INVALID_XML.sub("\ufffd", text)


def _counts(element: ET.Element, tests: int, failures: int) -> None:
    element.set("tests", str(tests))
    element.set("failures", str(failures))
    element.set("errors", "0")


def to_junit(diagnostics: Sequence[Diagnostic]) -> ET.Element:
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites", name="tapelint")
    _counts(root, max(1, len(diagnostics)), len(diagnostics))
    if not diagnostics:
        suite = ET.SubElement(root, "testsuite", name="tapelint")
        _counts(suite, 1, 0)
        ET.SubElement(suite, "testcase", name="org.tapelint", classname="tapelint")
        return root
    for filename, group in itertools.groupby(diagnostics, key=lambda d: d.filename):
        group = list(group)
        suite = ET.SubElement(root, "testsuite", name=_clean(filename))
        _counts(suite, len(group), len(group))
        for d in group:
            case = ET.SubElement(suite, "testcase", name=f"org.tapelint.{d.code}", classname=_clean(filename),
                                 file=_clean(filename), line=str(d.location.row))
            failure = ET.SubElement(case, "failure", message=_clean(d.message), type=d.code)
            where = f"cell {d.cell}, " if d.cell is not None else ""
            failure.text = _clean(f"{where}line {d.location.row}, col {d.location.column}, {d.code} {d.message}")
    return root


def report_junit(diagnostics: Sequence[Diagnostic], stream: TextIO, ctx: ReportContext) -> None:
    import xml.etree.ElementTree as ET

    root = to_junit(diagnostics)
    ET.indent(root)
    stream.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    stream.write(ET.tostring(root, encoding="unicode"))
    stream.write("\n")
