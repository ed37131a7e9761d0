"""`--fix`, `--unsafe-fixes`, `--diff` and `--fix-only` through the command line.

The first half uses small rules defined here (a safe fix, an unsafe fix, a fix that breaks the code) so
the engine's contract is tested independently of what the real rules consider a bug; the second half
runs the real rules on real code, in process and through the console entry point.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import libcst as cst
import pytest

from tapelint import cli, registry
from tapelint.diagnostics import Applicability
from tapelint.rules.base import CstFix, Finding, Replacement, Rule

ROOT = Path(__file__).resolve().parent.parent


class _Rename(Rule):
    old = new = ""
    applicability = Applicability.SAFE

    def check(self, model):
        for node in model.nodes(cst.Name):
            if node.value == self.old:
                fix = CstFix(f"Rename to `{self.new}`", (Replacement(node, cst.Name(self.new)),), self.applicability)
                yield Finding(node, fix=fix)


class SafeFix(_Rename):
    code, name, summary, message, triggers = "TX101", "safe-fix", "s", "safe marker", ("bug_safe",)
    old, new = "bug_safe", "fixed_safe"


class UnsafeFix(_Rename):
    code, name, summary, message, triggers = "TX102", "unsafe-fix", "u", "unsafe marker", ("bug_unsafe",)
    old, new, applicability = "bug_unsafe", "fixed_unsafe", Applicability.UNSAFE


class BrokenFix(_Rename):
    code, name, summary, message, triggers = "TX103", "broken-fix", "b", "broken marker", ("bug_broken",)
    old, new = "bug_broken", "import"  # `x = import` does not parse


class NoFix(Rule):
    code, name, summary, message, triggers = "TX104", "no-fix", "n", "unfixable marker", ("bug_nofix",)

    def check(self, model):
        for node in model.nodes(cst.Name):
            if node.value == "bug_nofix":
                yield Finding(node)


CATALOG = {r.code: r for r in (SafeFix, UnsafeFix, BrokenFix, NoFix)}


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "all_rules", lambda: dict(CATALOG))
    monkeypatch.setattr(registry, "plugin_output_formats", lambda: {})
    for name in ("NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def tapelint(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- the fix engine through the CLI ----------------------------------------------------------------------
def test_fix_applies_safe_fixes_and_reports_what_is_left(project, capsys):
    (project / "a.py").write_text("x = bug_safe\ny = bug_unsafe  # keep me\nz = bug_nofix\n")
    code, out, err = tapelint(capsys, "--fix")
    assert (project / "a.py").read_text() == "x = fixed_safe\ny = bug_unsafe  # keep me\nz = bug_nofix\n"
    assert out == (
        "a.py:2:5: TX102 unsafe marker\n"
        "a.py:3:5: TX104 unfixable marker\n"
        "Found 3 errors (1 fixed, 2 remaining).\n"
        "No fixes available (1 hidden fix can be enabled with the `--unsafe-fixes` option).\n"
    )
    assert (code, err) == (1, "")


def test_without_fix_the_summary_says_what_fix_would_do(project, capsys):
    (project / "a.py").write_text("x = bug_safe\ny = bug_unsafe\nz = bug_nofix\n")
    code, out, _ = tapelint(capsys)
    assert out == (
        "a.py:1:5: TX101 [*] safe marker\n"
        "a.py:2:5: TX102 unsafe marker\n"
        "a.py:3:5: TX104 unfixable marker\n"
        "Found 3 errors.\n"
        "[*] 1 fixable with the `--fix` option (1 hidden fix can be enabled with the `--unsafe-fixes` option).\n"
    )
    assert code == 1
    _, out, _ = tapelint(capsys, "--unsafe-fixes")
    assert "a.py:2:5: TX102 [*] unsafe marker\n" in out
    assert out.endswith("Found 3 errors.\n[*] 2 fixable with the `--fix` option.\n")


def test_unsafe_fixes_applies_both_and_all_fixed_exits_zero(project, capsys):
    (project / "a.py").write_text("x = bug_safe\ny = bug_unsafe  # keep me\n")
    assert tapelint(capsys, "--fix", "--unsafe-fixes") == (0, "Found 2 errors (2 fixed, 0 remaining).\n", "")
    assert (project / "a.py").read_text() == "x = fixed_safe\ny = fixed_unsafe  # keep me\n"
    # A second run changes nothing.
    assert tapelint(capsys, "--fix", "--unsafe-fixes") == (0, "All checks passed!\n", "")


def test_diff_prints_the_change_writes_nothing_and_exits_1(project, capsys):
    (project / "a.py").write_text("x = bug_safe\ny = bug_unsafe\n")
    (project / "b.py").write_text("clean = 1\n")
    code, out, err = tapelint(capsys, "--diff")
    assert out == (
        "--- a/a.py\n"
        "+++ b/a.py\n"
        "@@ -1,2 +1,2 @@\n"
        "-x = bug_safe\n"
        "+x = fixed_safe\n"
        " y = bug_unsafe\n"
    )
    assert err == "Would fix 1 error (1 additional fix available with `--unsafe-fixes`).\n"
    assert code == 1
    assert (project / "a.py").read_text() == "x = bug_safe\ny = bug_unsafe\n"
    code, out, err = tapelint(capsys, "--diff", "--unsafe-fixes")
    assert "+y = fixed_unsafe\n" in out and err == "Would fix 2 errors.\n" and code == 1


def test_diff_with_nothing_to_fix_is_silent_and_exits_0(project, capsys):
    (project / "a.py").write_text("z = bug_nofix\n")
    assert tapelint(capsys, "--diff") == (0, "", "")
    (project / "a.py").write_text("z = bug_unsafe\n")
    assert tapelint(capsys, "--diff") == (0, "", "No errors would be fixed (1 fix available with `--unsafe-fixes`).\n")


def test_diff_marks_a_missing_final_newline(project, capsys):
    (project / "a.py").write_text("x = bug_safe")
    _, out, _ = tapelint(capsys, "--diff")
    assert out.endswith("-x = bug_safe\n\\ No newline at end of file\n+x = fixed_safe\n\\ No newline at end of file\n")


def test_fix_only_reports_the_count_and_exits_0(project, capsys):
    (project / "a.py").write_text("x = bug_safe\nz = bug_nofix\n")
    assert tapelint(capsys, "--fix-only") == (0, "Fixed 1 error.\n", "")
    assert (project / "a.py").read_text() == "x = fixed_safe\nz = bug_nofix\n"


def test_a_fix_that_breaks_the_code_is_dropped_and_reported(project, capsys):
    source = "x = bug_broken\ny = bug_safe\n"
    (project / "a.py").write_text(source)
    code, out, err = tapelint(capsys, "--fix")
    assert (project / "a.py").read_text() == "x = bug_broken\ny = fixed_safe\n"  # the good fix still applies
    assert out == "a.py:1:5: TX103 [*] broken marker\nFound 2 errors (1 fixed, 1 remaining).\n[*] 1 fixable with the `--fix` option.\n"
    assert err.startswith("tapelint: warning: a.py:1:5: TX103 fix dropped: it would produce invalid code")
    assert code == 1


def test_json_output_after_fix_lists_the_remaining_fixes_with_edits(project, capsys):
    (project / "a.py").write_text("x = bug_safe\ny = bug_unsafe\n")
    code, out, _ = tapelint(capsys, "--fix", "--output-format", "json")
    [d] = json.loads(out)
    assert d["code"] == "TX102"
    assert d["fix"] == {
        "applicability": "unsafe", "message": "Rename to `fixed_unsafe`",
        # The minimal text edit: `bug` -> `fixed` (the `_unsafe` suffix stays).
        "edits": [{"content": "fixed", "location": {"row": 2, "column": 5}, "end_location": {"row": 2, "column": 8}}],
    }
    assert code == 1


def test_fix_keeps_permissions_encoding_bom_and_line_endings(project, capsys):
    path = project / "script.py"
    data = b"\xef\xbb\xbfx = bug_safe\r\ns = '\xc3\xa9t\xc3\xa9'\r\n"
    path.write_bytes(data)
    path.chmod(0o754)
    latin = project / "latin.py"
    latin.write_bytes(b"# -*- coding: latin-1 -*-\nx = bug_safe\ns = '\xe9t\xe9'\n")
    assert tapelint(capsys, "--fix")[0] == 0
    assert path.read_bytes() == b"\xef\xbb\xbfx = fixed_safe\r\ns = '\xc3\xa9t\xc3\xa9'\r\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o754
    assert latin.read_bytes() == b"# -*- coding: latin-1 -*-\nx = fixed_safe\ns = '\xe9t\xe9'\n"
    assert not [p.name for p in project.iterdir() if "tapelint-tmp" in p.name]  # no temporary file left


def test_a_file_that_cannot_be_written_is_reported_and_left_as_it_was(project, capsys, monkeypatch):
    path = project / "a.py"
    path.write_text("x = bug_safe\n")

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("tapelint.fixer.os.replace", refuse)
    code, out, err = tapelint(capsys, "--fix")
    assert path.read_text() == "x = bug_safe\n"
    assert err == "tapelint: warning: " + str(path) + ": could not write the fix: Permission denied; the file is unchanged\n"
    assert out.startswith("a.py:1:5: TX101 [*] safe marker\nFound 1 error.") and code == 1
    assert [p.name for p in project.iterdir()] == ["a.py"]  # the temporary file is gone


def test_fix_and_diff_report_syntax_errors_and_leave_the_file(project, capsys):
    (project / "a.py").write_text("x = bug_safe(\n")
    code, out, _ = tapelint(capsys, "--fix")
    assert "TL000" in out and code == 1
    assert (project / "a.py").read_text() == "x = bug_safe(\n"


# -- the real rules ----------------------------------------------------------------------------------------
BUGGY = '''\
import tensorflow as tf

w = tf.Variable(2.0)
for step in range(100):
    with tf.GradientTape() as tape:
        loss = (w - 5.0) ** 2  # the loss
    dw = tape.gradient(loss, w)
    w -= 0.1 * dw  # update


def gan_step(gen, disc, noise, real):
    with tf.GradientTape() as tape:
        fake = gen(noise)
        g_loss = -tf.reduce_mean(disc(fake))
        d_loss = tf.reduce_mean(disc(fake)) - tf.reduce_mean(disc(real))
    g_grads = tape.gradient(g_loss, gen.trainable_variables)
    d_grads = tape.gradient(d_loss, disc.trainable_variables)
    return g_grads, d_grads
'''


@pytest.fixture
def real_project(tmp_path, monkeypatch):
    for name in ("NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_real_rules_fix_then_diff_is_empty(real_project, capsys):
    path = real_project / "train.py"
    path.write_text(BUGGY)
    code, out, _ = tapelint(capsys, "--select", "TL002,TL007", "--diff")
    assert code == 1
    assert "-    w -= 0.1 * dw  # update\n+    w.assign_sub(0.1 * dw)  # update\n" in out
    assert "+    with tf.GradientTape(persistent=True) as tape:\n" in out
    code, out, _ = tapelint(capsys, "--select", "TL002,TL007", "--fix")
    assert code == 0 and out.endswith("(2 fixed, 0 remaining).\n")
    fixed = path.read_text()
    assert "w.assign_sub(0.1 * dw)  # update" in fixed and "tf.GradientTape(persistent=True) as tape" in fixed
    assert "loss = (w - 5.0) ** 2  # the loss" in fixed  # comments and layout kept
    assert tapelint(capsys, "--select", "TL002,TL007", "--diff") == (0, "", "")
    assert tapelint(capsys, "--select", "TL002,TL007", "--fix")[:2] == (0, "All checks passed!\n")
    assert path.read_text() == fixed


def test_console_script_fix_and_diff(tmp_path):
    (tmp_path / "train.py").write_text(BUGGY)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}

    def run(*argv):
        return subprocess.run([sys.executable, "-m", "tapelint", *argv], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)

    diff = run("check", "--select", "TL002,TL007", "--diff", ".")
    assert diff.returncode == 1 and diff.stdout.startswith("--- a/train.py\n+++ b/train.py\n")
    assert diff.stderr == "Would fix 2 errors.\n"
    assert (tmp_path / "train.py").read_text() == BUGGY
    fix = run("check", "--select", "TL002,TL007", "--fix", ".")
    assert (fix.returncode, fix.stdout) == (0, "Found 2 errors (2 fixed, 0 remaining).\n")
    again = run("check", "--select", "TL002,TL007", "--diff", ".")
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")


def test_fix_only_with_nothing_to_fix_is_silent(project, capsys):
    (project / "a.py").write_text("z = bug_nofix\n")
    assert tapelint(capsys, "--fix-only") == (0, "", "")
