"""`# noqa` suppression: the directive parser, the pipeline with marker rules, and every real rule
through the command line."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tapelint import cli, registry
from tapelint.noqa import noqa_directives
from tapelint.registry import all_rules
from tapelint.rules.base import strip_expect_markers

PLUGIN = Path(__file__).resolve().parent / "data" / "plugin" / "tapelint_fake_plugin.py"
_spec = importlib.util.spec_from_file_location("tapelint_fake_plugin_noqa", PLUGIN)
plugin = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(plugin)


def run_json(capsys, source: str, *argv) -> list[dict]:
    """The JSON diagnostics of `tapelint --isolated ARGV m.py` on ``source``, in the current directory."""
    Path("m.py").write_text(source)
    code = cli.main(["--isolated", "--output-format", "json", *argv, "m.py"])
    out, err = capsys.readouterr()
    assert err == "", err
    diagnostics = json.loads(out)
    assert code == (1 if diagnostics else 0)
    return diagnostics


def findings(capsys, source: str, *argv) -> list[tuple[int, str]]:
    return [(d["location"]["row"], d["code"]) for d in run_json(capsys, source, *argv)]


# -- the parser -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("line, expected", [
    ("x = 1  # noqa", None),
    ("x = 1  # NOQA", None),
    ("x = 1  #noqa", None),
    ("x = 1  # noqa: TL001", frozenset({"TL001"})),
    ("x = 1  # noqa: TL001, TL002", frozenset({"TL001", "TL002"})),
    ("x = 1  # noqa:TL001,TL002", frozenset({"TL001", "TL002"})),
    ("x = 1  # noqa: tl001", frozenset({"TL001"})),
    ("x = 1  # type: ignore  # noqa: TL003", frozenset({"TL003"})),
])
def test_directives(line, expected):
    assert noqa_directives(["pass", line]) == {2: expected}


def test_lines_without_directive():
    assert noqa_directives(["x = 1", "# no qa here", "y = 'noqa'"]) == {}


# -- through the pipeline, with marker rules ---------------------------------------------------------------------
@pytest.fixture
def marker_rules(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "all_rules", lambda: dict(plugin.CATALOG))
    monkeypatch.setattr(registry, "plugin_output_formats", lambda: {})
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("source, expected", [
    ("x = bug_one + bug_two\n", [(1, "TX001"), (1, "TX002")]),
    ("x = bug_one + bug_two  # noqa\n", []),
    ("x = bug_one + bug_two  # noqa: TX001\n", [(1, "TX002")]),
    ("x = bug_one + bug_two  # noqa: TX002, TX001\n", []),
    ("x = bug_one  # noqa: TX002, TX010\n", [(1, "TX001")]),    # other codes do not suppress
    ("x = bug_one  # noqa: TX00\n", [(1, "TX001")]),            # codes, not prefixes
    ("# noqa\nx = bug_one\n", [(2, "TX001")]),                  # only the reported line counts
    ("x = f(  # noqa\n    bug_one)\n", [(2, "TX001")]),
    ("x = bug_one\ny = bug_two  # noqa: TX002\n", [(1, "TX001")]),
])
def test_noqa_in_the_pipeline(marker_rules, capsys, source, expected):
    assert findings(capsys, source) == expected


def test_noqa_also_suppresses_a_rule_crash(marker_rules, capsys):
    assert findings(capsys, "crash_here = 1  # noqa: TL999\n") == []
    assert findings(capsys, "crash_here = 1  # noqa: TX001\n") == [(1, "TL999")]


# -- every built-in rule: it fires through the CLI, and `# noqa` silences exactly it -------------------------------------
def _example(rule) -> str | None:
    example, _ = rule.doc_examples()
    if example is None and rule.invalid:
        example = rule.invalid[0].code
    return None if example is None else strip_expect_markers(example)


BUILTIN = [rule for rule in all_rules().values() if rule.origin == "tapelint"]


def _with_comment(source: str, rows: set[int], comment: str) -> str:
    lines = source.splitlines()
    for row in rows:
        lines[row - 1] += f"  {comment}"
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("rule", BUILTIN, ids=lambda r: r.code)
def test_every_rule_fires_and_honours_noqa(tmp_path, monkeypatch, capsys, rule):
    source = _example(rule)
    assert source is not None, f"{rule.code} has no example to run"
    monkeypatch.chdir(tmp_path)
    diagnostics = run_json(capsys, source, "--select", rule.code)
    found = [(d["location"]["row"], d["code"]) for d in diagnostics]
    assert found and {code for _, code in found} == {rule.code}
    rows = {d["noqa_row"] for d in diagnostics}

    assert findings(capsys, _with_comment(source, rows, f"# noqa: {rule.code}"), "--select", rule.code) == []
    assert findings(capsys, _with_comment(source, rows, "# noqa"), "--select", rule.code) == []
    assert findings(capsys, _with_comment(source, rows, "# noqa: TL999"), "--select", rule.code) == found
