"""The command line: exact output, exit statuses, rule selection, the `rules`/`rule` commands.

Most tests run `tapelint.cli.main` in-process with the marker rules of the test plugin
(tests/data/plugin), so they do not depend on what the real rules consider a bug; the end-to-end
tests at the bottom run the real console entry point in a subprocess.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tapelint import __version__, cli, engine, registry

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_DIR = Path(__file__).resolve().parent / "data" / "plugin"


def _load_plugin():
    # By file path, not sys.path: a plugin directory on sys.path would also be picked up by the
    # real registry's entry-point scan and leak into other tests.
    spec = importlib.util.spec_from_file_location("tapelint_fake_plugin_cli", PLUGIN_DIR / "tapelint_fake_plugin.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


plugin = _load_plugin()


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A temporary project directory as the current directory, with the marker rules as catalog."""
    monkeypatch.setattr(registry, "all_rules", lambda: dict(plugin.CATALOG))
    monkeypatch.setattr(registry, "plugin_output_formats", lambda: {})
    for name in ("NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def tapelint(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


SAMPLE = {
    "a.py": "x = bug_one\ny = bug_two\n",
    "b.py": "bug_one()\n",
    "sub/c.py": "z = 1\n",
}


# -- text output and exit status ------------------------------------------------------------------------
def test_text_output_lists_findings_sorted_then_a_summary(project, capsys):
    write(project, SAMPLE)
    assert tapelint(capsys) == (1, (
        "a.py:1:5: TX001 first marker found\n"
        "a.py:2:5: TX002 second marker found\n"
        "b.py:1:1: TX001 first marker found\n"
        "Found 3 errors.\n"
    ), "")


def test_check_subcommand_is_the_default(project, capsys):
    write(project, SAMPLE)
    assert tapelint(capsys, "check", ".") == tapelint(capsys)


def test_clean_run_exits_zero_with_all_checks_passed(project, capsys):
    write(project, {"ok.py": "x = 1\n"})
    assert tapelint(capsys) == (0, "All checks passed!\n", "")


def test_one_finding_is_singular(project, capsys):
    write(project, {"a.py": "bug_two\n"})
    assert tapelint(capsys) == (1, "a.py:1:1: TX002 second marker found\nFound 1 error.\n", "")


def test_quiet_prints_findings_only(project, capsys):
    write(project, SAMPLE)
    code, out, _ = tapelint(capsys, "-q")
    assert code == 1
    assert out.splitlines() == [
        "a.py:1:5: TX001 first marker found",
        "a.py:2:5: TX002 second marker found",
        "b.py:1:1: TX001 first marker found",
    ]
    (project / "a.py").unlink()
    (project / "b.py").unlink()
    assert tapelint(capsys, "--quiet") == (0, "", "")


def test_exit_zero_keeps_output_but_exits_zero(project, capsys):
    write(project, SAMPLE)
    code, out, _ = tapelint(capsys, "--exit-zero")
    assert code == 0
    assert out.endswith("Found 3 errors.\n")
    assert tapelint(capsys, "-e")[0] == 0


def test_concise_format_has_no_summary(project, capsys):
    write(project, SAMPLE)
    assert tapelint(capsys, "--output-format", "concise", "b.py") == (1, "b.py:1:1: TX001 first marker found\n", "")


def test_paths_restrict_the_run_and_output_stays_sorted(project, capsys):
    write(project, SAMPLE)
    code, out, _ = tapelint(capsys, "b.py", "a.py", "--output-format", "concise")
    assert [line.split(":")[0] for line in out.splitlines()] == ["a.py", "a.py", "b.py"]


def test_files_outside_the_current_directory_are_shown_absolute(project, capsys, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    write(elsewhere, {"e.py": "bug_one\n"})
    code, out, _ = tapelint(capsys, str(elsewhere), "--output-format", "concise")
    assert out == f"{elsewhere / 'e.py'}:1:1: TX001 first marker found\n"


def test_statistics_counts_per_code_most_frequent_first(project, capsys):
    write(project, SAMPLE)
    assert tapelint(capsys, "--statistics") == (1, (
        "2\tTX001\tfirst-marker\n"
        "1\tTX002\tsecond-marker\n"
        "Found 3 errors.\n"
    ), "")


def test_statistics_as_json(project, capsys):
    write(project, SAMPLE)
    code, out, _ = tapelint(capsys, "--statistics", "--output-format", "json")
    assert json.loads(out) == [
        {"code": "TX001", "name": "first-marker", "count": 2, "fixable": False},
        {"code": "TX002", "name": "second-marker", "count": 1, "fixable": False},
    ]


def test_statistics_rejects_formats_it_cannot_serve(project, capsys):
    write(project, SAMPLE)
    code, out, err = tapelint(capsys, "--statistics", "--output-format", "sarif")
    assert (code, out) == (2, "")
    assert err == ("tapelint: error: --statistics works with the text, concise, json and json-lines formats, "
                   "not 'sarif'\n")


def test_show_source_prints_the_line_and_carets(project, capsys):
    write(project, {"a.py": "value = bug_one + 1\n"})
    assert tapelint(capsys, "--show-source") == (1, (
        "a.py:1:9: TX001 first marker found\n"
        "  |\n"
        "1 | value = bug_one + 1\n"
        "  |         ^^^^^^^\n"
        "\n"
        "Found 1 error.\n"
    ), "")


def test_output_file_receives_the_report(project, capsys):
    write(project, SAMPLE)
    code, out, err = tapelint(capsys, "--output-format", "json", "-o", "report.json")
    assert (code, out, err) == (1, "", "")
    assert [d["code"] for d in json.loads((project / "report.json").read_text())] == ["TX001", "TX002", "TX001"]


def test_color_when_forced(project, capsys, monkeypatch):
    write(project, {"b.py": "bug_one()\n"})
    monkeypatch.setenv("FORCE_COLOR", "1")
    code, out, _ = tapelint(capsys, "-q")
    assert out == "\x1b[1mb.py\x1b[0m:1:1: \x1b[1;31mTX001\x1b[0m first marker found\n"
    # Machine formats never carry colour codes.
    assert "\x1b" not in tapelint(capsys, "--output-format", "json")[1]


def test_json_fix_carries_its_text_edit(project, capsys):
    write(project, {"a.py": "x = bug_fix\n"})
    code, out, _ = tapelint(capsys, "--output-format", "json")
    [d] = json.loads(out)
    assert d["fix"] == {
        "applicability": "safe",
        "message": "Rename to `fixed`",
        "edits": [{"content": "fixed", "location": {"row": 1, "column": 5}, "end_location": {"row": 1, "column": 12}}],
    }
    assert tapelint(capsys, "--statistics", "--output-format", "json")[1].count('"fixable": true') == 1


def test_plugin_output_format(project, capsys, monkeypatch):
    monkeypatch.setattr(registry, "plugin_output_formats", lambda: {"count": plugin.report_count})
    write(project, SAMPLE)
    assert tapelint(capsys, "--output-format", "count") == (1, "3 findings\n", "")


def test_plugin_output_format_may_not_replace_a_builtin(project, capsys, monkeypatch):
    monkeypatch.setattr(registry, "plugin_output_formats", lambda: {"json": plugin.report_count})
    assert tapelint(capsys) == (
        2, "", "tapelint: error: a plugin's output format 'json' clashes with the built-in format\n")


# -- rule selection -------------------------------------------------------------------------------------
SELECT_SAMPLE = {"s.py": "bug_one\nbug_two\nbug_ten\n"}


def codes_for(capsys, *argv):
    code, out, err = tapelint(capsys, "--output-format", "json", *argv)
    assert err == "", err
    return [d["code"] for d in json.loads(out)]


@pytest.mark.parametrize("argv, expected", [
    ((), ["TX001", "TX002"]),                                     # defaults: TX010 is off
    (("--select", "TX002"), ["TX002"]),
    (("--select", "TX001,TX002"), ["TX001", "TX002"]),
    (("--select", "TX001", "--select", "TX010"), ["TX001", "TX010"]),
    (("--select", "ALL"), ["TX001", "TX002", "TX010"]),
    (("--select", "TX01"), ["TX010"]),                            # a prefix
    (("--select", "tx001"), ["TX001"]),                           # case does not matter
    (("--extend-select", "TX010"), ["TX001", "TX002", "TX010"]),
    (("--ignore", "TX002"), ["TX001"]),
    (("--ignore", "TX0"), []),
    (("--select", "TX0", "--ignore", "TX002"), ["TX001", "TX010"]),
    (("--select", "TX001", "--ignore", "TX0"), ["TX001"]),         # more specific wins
    (("--ignore", "ALL", "--extend-select", "TX002"), ["TX002"]),
    (("--select", "TX001", "--ignore", "TX001"), []),              # a tie: ignore wins
])
def test_select_ignore_extend_select(project, capsys, argv, expected):
    write(project, SELECT_SAMPLE)
    assert codes_for(capsys, *argv) == expected


@pytest.mark.parametrize("argv, message", [
    (("--select", "TX9"), "--select: unknown rule code or prefix 'TX9'"),
    (("--ignore", "TX0,XYZ"), "--ignore: unknown rule code or prefix 'XYZ'"),
    (("--extend-select", "TX0011"), "--extend-select: unknown rule code or prefix 'TX0011' (did you mean 'TX001'?)"),
    (("--ignore", "TL000"), "--ignore: TL000 is always reported and cannot be selected or ignored "
                            "(exclude the file instead)"),
])
def test_unknown_selectors_are_usage_errors(project, capsys, argv, message):
    write(project, SELECT_SAMPLE)
    assert tapelint(capsys, *argv) == (2, "", f"tapelint: error: {message}\n")


# -- errors: exit 2, one line, no traceback ------------------------------------------------------------------
def test_version(capsys):
    assert tapelint(capsys, "--version") == (0, f"tapelint {__version__}\n", "")


def test_unknown_option(project, capsys):
    assert tapelint(capsys, "--bogus") == (2, "", "tapelint: error: unrecognized arguments: --bogus\n")


def test_unknown_output_format(project, capsys):
    code, out, err = tapelint(capsys, "--output-format", "xml")
    assert (code, out) == (2, "")
    assert err == ("tapelint: error: unknown output format 'xml' "
                   "(choose from text, concise, json, json-lines, sarif, github, junit)\n")


def test_missing_path(project, capsys):
    write(project, SAMPLE)
    assert tapelint(capsys, "a.py", "nope.py") == (2, "", "tapelint: error: nope.py: no such file or directory\n")


def test_no_python_files_warns_and_passes(project, capsys):
    (project / "notes.txt").write_text("bug_one\n")
    assert tapelint(capsys) == (0, "All checks passed!\n",
                                "tapelint: warning: no Python files found under the given paths\n")


def test_quiet_silences_warnings_too(project, capsys):
    (project / "notes.txt").write_text("bug_one\n")
    assert tapelint(capsys, "-q") == (0, "", "")


def test_no_respect_gitignore(project, capsys):
    write(project, {".gitignore": "b.py\n", **SAMPLE})
    assert [line.split(":")[0] for line in tapelint(capsys, "--output-format", "concise")[1].splitlines()] == [
        "a.py", "a.py"]
    out = tapelint(capsys, "--output-format", "concise", "--no-respect-gitignore")[1]
    assert [line.split(":")[0] for line in out.splitlines()] == ["a.py", "a.py", "b.py"]


def test_pre_commit_hook_entry(project, capsys):
    """pre-commit runs the hook's entry with the staged file names appended."""
    hook = (ROOT / ".pre-commit-hooks.yaml").read_text()
    assert re.search(r"^- id: tapelint$", hook, re.M)
    assert re.search(r"^  language: python$", hook, re.M)
    entry = re.search(r"^  entry: (.+)$", hook, re.M).group(1).split()
    assert entry[0] == "tapelint"
    write(project, {**SAMPLE, "build/gen.py": "bug_one\n"})
    # An excluded file passed by name is skipped, as it would be in a walk.
    assert tapelint(capsys, *entry[1:], "build/gen.py", "b.py") == (
        1, "b.py:1:1: TX001 first marker found\nFound 1 error.\n", "")


def test_a_bug_in_tapelint_is_one_line_not_a_traceback(project, capsys, monkeypatch):
    def explode(files, settings, options=None):
        raise RuntimeError("kaboom\nsecond line")

    monkeypatch.setattr(engine, "run", explode)
    write(project, SAMPLE)
    assert tapelint(capsys) == (
        2, "", "tapelint: error: internal error: RuntimeError: kaboom second line "
               "(run with --verbose for a traceback)\n")
    code, _, err = tapelint(capsys, "--verbose")
    assert code == 2 and "Traceback (most recent call last)" in err


# -- TL000 / TL999: reported like findings, the run goes on ------------------------------------------------------
def test_syntax_error_is_tl000_and_other_files_are_still_checked(project, capsys):
    write(project, {"a.py": "bug_one(\n", "b.py": "bug_one\n"})
    code, out, _ = tapelint(capsys, "--output-format", "concise")
    lines = out.splitlines()
    assert code == 1
    assert re.fullmatch(r"a\.py:\d+:\d+: TL000 SyntaxError: .+", lines[0])
    assert lines[1:] == ["b.py:1:1: TX001 first marker found"]


def test_undecodable_file_is_tl000(project, capsys):
    (project / "a.py").write_bytes(b"# -*- coding: no-such-codec -*-\nbug_one\n")
    code, out, _ = tapelint(capsys, "--output-format", "concise")
    assert code == 1
    assert out.startswith("a.py:1:1: TL000 cannot decode")


def test_syntax_error_cannot_be_hidden_by_the_selection(project, capsys):
    write(project, {"a.py": "bug_one(\n"})
    assert codes_for(capsys, "--select", "TX001") == ["TL000"]


def test_crashing_rule_is_tl999_and_other_rules_still_report(project, capsys):
    write(project, {"a.py": "crash_here = bug_one\n"})
    code, out, _ = tapelint(capsys, "--output-format", "concise")
    assert out == ("a.py:1:1: TL999 rule TX020 (crashing) crashed on this file: ValueError: boom\n"
                   "a.py:1:14: TX001 first marker found\n")
    code, out, _ = tapelint(capsys, "--output-format", "json", "--verbose")
    [crash] = [d for d in json.loads(out) if d["code"] == "TL999"]
    assert "Traceback" in crash["message"] and "ValueError: boom" in crash["message"]


# -- rules / rule -------------------------------------------------------------------------------------------
def test_rules_lists_the_catalog_with_pseudo_rules(project, capsys):
    code, out, err = tapelint(capsys, "rules")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "CODE   NAME            ORIGIN    DEFAULT  SUMMARY",
        "TL000  syntax-error    tapelint  always   A file could not be read, decoded or parsed, so no rule checked it",
        "TL999  internal-error  tapelint  always   A rule (or libcst's parse) failed on a file; its findings for that file are missing",
        "TX001  first-marker    tapelint  on       The name bug_one is used",
        "TX002  second-marker   tapelint  on       The name bug_two is used",
        "TX003  fixable-marker  tapelint  on       The name bug_fix is used",
        "TX010  off-by-default  tapelint  off      The name bug_ten is used",
        "TX020  crashing        tapelint  on       Raises on any file that mentions crash_here",
    ]


def test_rules_as_json(project, capsys):
    code, out, _ = tapelint(capsys, "rules", "--output-format", "json")
    rows = {row["code"]: row for row in json.loads(out)}
    assert rows["TX010"] == {
        "code": "TX010", "name": "off-by-default", "origin": "tapelint", "summary": "The name bug_ten is used",
        "default": "off", "url": "https://github.com/tapelint/tapelint/blob/main/docs/rules.md#tx010",
    }
    assert rows["TL000"]["default"] == "always"


@pytest.mark.parametrize("query", ["TX010", "tx010", "off-by-default"])
def test_rule_prints_its_docs(project, capsys, query):
    assert tapelint(capsys, "rule", query) == (0, (
        "# off-by-default (TX010)\n"
        "\n"
        "Provided by the `tapelint` package. Not enabled by default: turn it on with `--extend-select TX010`.\n"
        "\n"
        "## What it does\n"
        "Reports the name `bug_ten`; off unless selected.\n"
    ), "")


def test_rule_documents_the_pseudo_rules(project, capsys):
    code, out, _ = tapelint(capsys, "rule", "TL000")
    assert code == 0
    assert out.startswith("# syntax-error (TL000)\n\nProvided by the `tapelint` package. Always reported; "
                          "cannot be selected or ignored.\n\n## What it does\n")
    assert "## Why is this bad?" in out
    assert tapelint(capsys, "rule", "TL999")[1].startswith("# internal-error (TL999)\n")


def test_unknown_rule(project, capsys):
    assert tapelint(capsys, "rule", "TX011") == (
        2, "", "tapelint: error: unknown rule 'TX011' (did you mean 'TX010'?); `tapelint rules` lists them\n")


# -- end to end: the real entry point in a subprocess ------------------------------------------------------
def run_tapelint(*argv, cwd, with_plugin=False, env=None):
    paths = [str(ROOT)] + ([str(PLUGIN_DIR)] if with_plugin else [])
    environ = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    environ["PYTHONPATH"] = os.pathsep.join(paths + [environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "tapelint", *argv], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=120)


def test_e2e_syntax_error_in_a_gradient_tape_file(tmp_path):
    write(tmp_path, {
        "train.py": "import tensorflow as tf\nwith tf.GradientTape() as tape:\n    y = (\n",
        # No rule trigger word: not parsed, by design, so its syntax error goes unreported.
        "unrelated.py": "def broken(:\n",
        "ok.py": "import tensorflow as tf\nwith tf.GradientTape() as tape:\n    y = 1\n",
    })
    proc = run_tapelint(cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2
    assert re.fullmatch(r"train\.py:\d+:\d+: TL000 SyntaxError: .+", lines[0])
    assert lines[1] == "Found 1 error."
    assert proc.stderr == ""


def test_e2e_clean_tree_and_version(tmp_path):
    write(tmp_path, {"ok.py": "import tensorflow as tf\nwith tf.GradientTape() as tape:\n    y = 1\n"})
    proc = run_tapelint(cwd=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "All checks passed!\n", "")
    proc = run_tapelint("--version", cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (0, f"tapelint {__version__}\n")


@pytest.mark.parametrize("argv, files, message", [
    (("missing.py",), {}, "missing.py: no such file or directory"),
    ((), {"pyproject.toml": "[tool.tapelint]\nselect = [\n"}, None),
    ((), {"pyproject.toml": "[tool.tapelint]\nselct = ['TL001']\n"},
     "pyproject.toml: unknown key 'selct' in [tool.tapelint] (did you mean 'select'?)"),
    (("--select", "ZZ9"), {}, "--select: unknown rule code or prefix 'ZZ9'"),
    (("rule", "TL998"), {}, None),
])
def test_e2e_errors_exit_2_with_one_line(tmp_path, argv, files, message):
    write(tmp_path, files)
    proc = run_tapelint(*argv, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("tapelint: error: ")
    assert "Traceback" not in proc.stderr
    if message:
        assert proc.stderr == f"tapelint: error: {message}\n"


def test_e2e_plugin_rules_and_output_format(tmp_path):
    write(tmp_path, {"a.py": "bug_one = bug_two\n"})
    proc = run_tapelint("rules", cwd=tmp_path, with_plugin=True)
    assert proc.returncode == 0
    row = next(line for line in proc.stdout.splitlines() if line.startswith("TX001"))
    assert row.split()[:5] == ["TX001", "first-marker", "tapelint-fake-plugin", "1.0", "on"]
    proc = run_tapelint("--output-format", "count", cwd=tmp_path, with_plugin=True)
    assert (proc.returncode, proc.stdout) == (1, "2 findings\n")
    proc = run_tapelint("--select", "TX002", "--output-format", "concise", cwd=tmp_path, with_plugin=True)
    assert (proc.returncode, proc.stdout) == (1, "a.py:1:11: TX002 second marker found\n")
