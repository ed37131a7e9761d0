"""Output formats, from hand-made diagnostics: exact fields, escaping, and validity (SARIF against the
official schema, JUnit as XML)."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from tapelint.diagnostics import Applicability, Diagnostic, Edit, Fix, Location
from tapelint.errors import ConfigError
from tapelint.pseudo_rules import PSEUDO_RULES
from tapelint.reporting import FORMATS, ReportContext, available_formats, report_statistics
from tapelint.reporting.github import format_annotation
from tapelint.reporting.sarif import to_sarif
from tapelint.reporting.style import color_enabled
from tapelint.rules.base import Rule

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())
CWD = Path("/work/project")


class GradientOutsideTape(Rule):
    """## What it does
    Checks that the loss is computed inside the tape.

    ## Why is this bad?
    The gradient is `None`.
    """

    code = "TL001"
    name = "target-outside-tape"
    summary = "The loss is computed outside the tape"
    message = "loss computed outside the tape"


CATALOG = {**PSEUDO_RULES, "TL001": GradientOutsideTape}


def diag(code="TL001", filename="src/train.py", row=3, col=5, end=(3, 12), message="loss computed outside the tape",
         **kw) -> Diagnostic:
    return Diagnostic(code, kw.pop("name", "target-outside-tape"), message, filename, Location(row, col),
                      Location(*end), url=f"https://example.test/{code.lower()}", **kw)


FIX = Fix(Applicability.UNSAFE, "Move the loss into the tape",
          (Edit("    loss = f(x)\n", Location(3, 1), Location(4, 1)),))


def render(name: str, diagnostics, **ctx) -> str:
    stream = io.StringIO()
    FORMATS[name](diagnostics, stream, ReportContext(cwd=CWD, catalog=CATALOG, version="9.9.9", **ctx))
    return stream.getvalue()


# -- json / json-lines ---------------------------------------------------------------------------------------
def test_json_has_ruffs_fields():
    diagnostics = [diag(fix=FIX, noqa_row=4), diag("TL000", "other.py", 1, 1, (1, 1), "SyntaxError: bad",
                                                     name="syntax-error", cell=2)]
    assert json.loads(render("json", diagnostics)) == [
        {
            "cell": None,
            "code": "TL001",
            "end_location": {"row": 3, "column": 12},
            "filename": "/work/project/src/train.py",
            "fix": {
                "applicability": "unsafe",
                "message": "Move the loss into the tape",
                "edits": [{"content": "    loss = f(x)\n", "location": {"row": 3, "column": 1},
                           "end_location": {"row": 4, "column": 1}}],
            },
            "location": {"row": 3, "column": 5},
            "message": "loss computed outside the tape",
            "name": "target-outside-tape",
            "noqa_row": 4,
            "url": "https://example.test/tl001",
        },
        {
            "cell": 2,
            "code": "TL000",
            "end_location": {"row": 1, "column": 1},
            "filename": "/work/project/other.py",
            "fix": None,
            "location": {"row": 1, "column": 1},
            "message": "SyntaxError: bad",
            "name": "syntax-error",
            "noqa_row": None,  # a file that does not parse has no `# noqa` to honour
            "url": "https://example.test/tl000",
        },
    ]


def test_json_empty_and_json_lines():
    assert render("json", []) == "[]\n"
    diagnostics = [diag(), diag(row=7, end=(7, 9))]
    lines = render("json-lines", diagnostics).splitlines()
    assert [json.loads(line) for line in lines] == json.loads(render("json", diagnostics))
    assert render("json-lines", []) == ""


def test_json_keeps_non_ascii():
    assert '"message": "λ is not watched"' in render("json", [diag(message="λ is not watched")])


# -- sarif ------------------------------------------------------------------------------------------------
def test_sarif_validates_against_the_official_schema():
    diagnostics = [diag(), diag("TL000", "dir with space/ü.py", 2, 1, (2, 1), "SyntaxError: x", name="syntax-error"),
                   diag("XP001", "/elsewhere/x.py", name="plugin-rule")]
    log = json.loads(render("sarif", diagnostics))
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    jsonschema.Draft4Validator(SCHEMA).validate(json.loads(render("sarif", [])))


def test_sarif_fields():
    log = to_sarif([diag(), diag("TL000", "dir with space/ü.py", 2, 1, (2, 1), "SyntaxError: x", name="syntax-error"),
                    diag("XP001", "/elsewhere/x.py", name="plugin-rule")],
                   ReportContext(cwd=CWD, catalog=CATALOG, version="9.9.9"))
    assert log["version"] == "2.1.0"
    [run] = log["runs"]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("tapelint", "9.9.9")
    assert driver["informationUri"].startswith("https://")
    assert [r["id"] for r in driver["rules"]] == ["TL000", "TL001", "TL999", "XP001"]
    tl001 = driver["rules"][1]
    assert tl001["name"] == "target-outside-tape"
    assert tl001["shortDescription"] == {"text": "The loss is computed outside the tape"}
    assert tl001["fullDescription"] == {"text": "Checks that the loss is computed inside the tape."}
    assert tl001["help"]["markdown"] == GradientOutsideTape.docs()
    assert tl001["help"]["text"] == GradientOutsideTape.docs()
    assert tl001["helpUri"].endswith("#tl001")
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": "file:///work/project/"}}
    first, second, third = run["results"]
    assert first == {
        "ruleId": "TL001",
        "ruleIndex": 1,
        "level": "error",
        "message": {"text": "loss computed outside the tape"},
        "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": "src/train.py", "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": 3, "startColumn": 5, "endLine": 3, "endColumn": 12},
        }}],
    }
    assert second["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "dir%20with%20space/%C3%BC.py", "uriBaseId": "%SRCROOT%"}
    # A rule the catalog does not know (a plugin's) still gets a descriptor for its ruleIndex.
    assert third["ruleIndex"] == 3 and driver["rules"][3]["name"] == "plugin-rule"
    assert third["locations"][0]["physicalLocation"]["artifactLocation"] == {"uri": "file:///elsewhere/x.py"}


# -- github -----------------------------------------------------------------------------------------------
def test_github_annotation():
    assert render("github", [diag()]) == (
        "::error title=tapelint (TL001),file=src/train.py,line=3,col=5,endLine=3,endColumn=12::"
        "TL001 loss computed outside the tape\n"
    )


def test_github_escapes_data_and_properties():
    d = diag(filename="a,b:c%.py", message="100% wrong\r\nsecond: line, really")
    assert format_annotation(d) == (
        "::error title=tapelint (TL001),file=a%2Cb%3Ac%25.py,line=3,col=5,endLine=3,endColumn=12::"
        "TL001 100%25 wrong%0D%0Asecond: line, really"
    )


# -- junit --------------------------------------------------------------------------------------------------
def test_junit_groups_by_file_and_parses():
    diagnostics = [diag(), diag(row=9, end=(9, 2), message="bad \x00 byte & <tag>"), diag(filename="z.py")]
    root = ET.fromstring(render("junit", diagnostics))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "3", "0")
    suites = root.findall("testsuite")
    assert [(s.get("name"), s.get("tests"), s.get("failures")) for s in suites] == [
        ("src/train.py", "2", "2"), ("z.py", "1", "1")]
    case = suites[0].findall("testcase")[1]
    assert case.attrib == {"name": "org.tapelint.TL001", "classname": "src/train.py", "file": "src/train.py",
                           "line": "9"}
    failure = case.find("failure")
    assert failure.get("message") == "bad \ufffd byte & <tag>"
    assert failure.text == "line 9, col 5, TL001 bad \ufffd byte & <tag>"


def test_junit_clean_run_is_one_passing_test():
    root = ET.fromstring(render("junit", []))
    assert (root.get("tests"), root.get("failures")) == ("1", "0")
    [suite] = root.findall("testsuite")
    [case] = suite.findall("testcase")
    assert case.find("failure") is None


# -- text / concise -------------------------------------------------------------------------------------------
def test_text_and_concise():
    diagnostics = [diag(), diag(filename="nb.ipynb", cell=3, row=1, col=2, end=(1, 4))]
    lines = ["src/train.py:3:5: TL001 loss computed outside the tape",
             "nb.ipynb:cell 3:1:2: TL001 loss computed outside the tape"]
    assert render("concise", diagnostics) == "\n".join(lines) + "\n"
    assert render("text", diagnostics) == "\n".join(lines) + "\nFound 2 errors.\n"
    assert render("text", diagnostics, quiet=True) == "\n".join(lines) + "\n"
    assert render("text", []) == "All checks passed!\n"
    assert render("text", [], quiet=True) == ""


def test_show_source_spans_tabs_and_multiple_lines(tmp_path):
    (tmp_path / "m.py").write_text("def f():\n\treturn g(\n\t\tx)\n")
    stream = io.StringIO()
    ctx = ReportContext(cwd=tmp_path, catalog=CATALOG, show_source=True)
    FORMATS["text"]([diag(filename="m.py", row=2, col=9, end=(3, 5))], stream, ctx)
    assert stream.getvalue() == (
        "m.py:2:9: TL001 loss computed outside the tape\n"
        "  |\n"
        "2 |     return g(\n"
        "  |            ^^\n"
        "\n"
        "Found 1 error.\n"
    )


def test_show_source_skips_unreadable_files(tmp_path):
    stream = io.StringIO()
    FORMATS["text"]([diag(filename="gone.py")], stream, ReportContext(cwd=tmp_path, show_source=True))
    assert stream.getvalue() == "gone.py:3:5: TL001 loss computed outside the tape\n\nFound 1 error.\n"


def test_statistics_order_and_fixable():
    diagnostics = [diag("TL003", name="c"), diag("TL001", fix=FIX), diag("TL003", name="c"), diag("TL002", name="b")]
    stream = io.StringIO()
    report_statistics(diagnostics, stream, ReportContext(cwd=CWD))
    assert stream.getvalue() == "2\tTL003\tc\n1\tTL001\ttarget-outside-tape\n1\tTL002\tb\nFound 4 errors.\n"


# -- colour -------------------------------------------------------------------------------------------------
class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("env, tty, expected", [
    ({}, True, True),
    ({}, False, False),
    ({"NO_COLOR": "1"}, True, False),
    ({"NO_COLOR": ""}, True, True),           # set but empty does not count (no-color.org)
    ({"TERM": "dumb"}, True, False),
    ({"FORCE_COLOR": "1"}, False, True),
    ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False, True),
    ({"FORCE_COLOR": "0"}, True, True),       # "0" does not force, nor forbid
    ({"FORCE_COLOR": "0"}, False, False),
])
def test_color_enabled(env, tty, expected):
    stream = FakeTerminal() if tty else io.StringIO()
    assert color_enabled(stream, env) is expected


# -- the format registry -------------------------------------------------------------------------------------
def test_plugin_formats_slot_in_and_get_two_arguments():
    calls = []
    formats = available_formats({"count": lambda diagnostics, stream: calls.append((list(diagnostics), stream))})
    assert list(formats) == ["text", "concise", "json", "json-lines", "sarif", "github", "junit", "count"]
    stream = io.StringIO()
    formats["count"]([diag()], stream, ReportContext(cwd=CWD))
    assert calls == [([diag()], stream)]


@pytest.mark.parametrize("plugin_formats, message", [
    ({"sarif": print}, "a plugin's output format 'sarif' clashes with the built-in format"),
    ({"mine": "not a function"}, "a plugin's output format 'mine' is not callable"),
])
def test_bad_plugin_formats(plugin_formats, message):
    with pytest.raises(ConfigError, match=f"^{message}$"):
        available_formats(plugin_formats)
