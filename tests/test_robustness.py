"""Bad input gets a clear finding or error and the run goes on (issue: never crashes, never loses code).

Every case runs the real command line in a subprocess, next to a good file with a real finding, so a
crash (including a segfault in the native parser) would lose that finding and fail the test.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tapelint import linter, registry

ROOT = Path(__file__).resolve().parent.parent
GOOD = """import tensorflow as tf

x = tf.Variable(3.0)
with tf.GradientTape() as tape:
    y = x * x
    z = y * y
dz = tape.gradient(z, x)
dy = tape.gradient(y, x)
"""
GOOD_FINDING = {"filename": "good.py", "code": "TL002", "row": 8}


def run_tapelint(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", "tapelint", "check", "--isolated", "--output-format", "json", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )


def findings(proc: subprocess.CompletedProcess) -> list[dict]:
    assert "Traceback" not in proc.stderr, proc.stderr
    return [
        {"filename": Path(d["filename"]).name, "code": d["code"], "row": d["location"]["row"], "message": d["message"]}
        for d in json.loads(proc.stdout)
    ]


def lint_with_good(tmp_path: Path, name: str, data: bytes) -> list[dict]:
    (tmp_path / "good.py").write_text(GOOD)
    (tmp_path / name).write_bytes(data)
    proc = run_tapelint(tmp_path, ".")
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    found = findings(proc)
    assert {k: v for k, v in found[-1].items() if k != "message"} == GOOD_FINDING or any(
        {k: v for k, v in f.items() if k != "message"} == GOOD_FINDING for f in found
    ), found
    return [f for f in found if f["filename"] == name]


# A file that makes a tape: a syntax error in it is reported whatever the rules' screens say.
HEADER = b"import tensorflow as tf; tape = tf.GradientTape()\n"


@pytest.mark.parametrize(
    ("data", "row", "message"),
    [
        (HEADER + b'print "hello"\n', 2, "SyntaxError: Missing parentheses in call to 'print'. Did you mean print(...)?"),
        (HEADER + b"exec 'x = 1'\n", 2, "SyntaxError: Missing parentheses in call to 'exec'. Did you mean exec(...)?"),
        (HEADER + b"def f(:\n    pass\n", 2, "SyntaxError: invalid syntax"),
        (HEADER + b"x = " + b"(" * 2000 + b"1" + b")" * 2000 + b"\n", 2, "SyntaxError: too many nested parentheses"),
        (HEADER + b"x = 1" + b" + 1" * 20000 + b"\n", 1, "SyntaxError: too deeply nested to parse"),
        (HEADER + b"x = 1\x00\n", 2, "source contains a NUL byte"),
        (b"# -*- coding: klingon -*-\n" + HEADER, 1, "cannot decode: unknown encoding: klingon"),
    ],
    ids=["python2-print", "python2-exec", "syntax-error", "nested-parens", "operator-chain", "nul-byte", "bad-cookie"],
)
def test_unparsable_files_are_tl000_and_the_run_goes_on(tmp_path, data, row, message):
    assert lint_with_good(tmp_path, "bad.py", data) == [
        {"filename": "bad.py", "code": "TL000", "row": row, "message": message}
    ]


def test_undecodable_bytes_are_tl000(tmp_path):
    found = lint_with_good(tmp_path, "bad.py", HEADER + b"x = '\xff\xfe'\n")
    assert [(f["code"], f["row"]) for f in found] == [("TL000", 2)]
    assert found[0]["message"].startswith("cannot decode as utf-8: invalid start byte")


@pytest.mark.parametrize(
    "data",
    [
        b"\xef\xbb\xbf" + GOOD.encode(),  # BOM
        GOOD.replace("\n", "\r\n").encode(),  # CRLF
        GOOD.replace("\n", "\r\n", 3).encode(),  # mixed line endings
        "# -*- coding: latin-1 -*-\n# caf\xe9\n".encode("latin-1") + GOOD.encode(),  # coding cookie
    ],
    ids=["bom", "crlf", "mixed-eol", "latin-1"],
)
def test_odd_but_valid_encodings_are_linted_normally(tmp_path, data):
    found = lint_with_good(tmp_path, "odd.py", data)
    offset = 2 if data.startswith(b"# -*- coding: latin-1") else 0
    assert [(f["code"], f["row"]) for f in found] == [("TL002", 8 + offset)]


def test_empty_file_and_directory_named_like_a_module(tmp_path):
    (tmp_path / "pkg.py").mkdir()
    (tmp_path / "pkg.py" / "inner.py").write_text(GOOD)
    assert lint_with_good(tmp_path, "empty.py", b"") == []
    proc = run_tapelint(tmp_path, ".")
    assert {(Path(d["filename"]).name, d["code"]) for d in json.loads(proc.stdout)} == {("good.py", "TL002"), ("inner.py", "TL002")}


def test_broken_symlinks_and_symlink_loops_are_skipped(tmp_path):
    (tmp_path / "good.py").write_text(GOOD)
    os.symlink(tmp_path / "missing.py", tmp_path / "broken.py")
    os.symlink(tmp_path / "loop_b", tmp_path / "loop_a")
    os.symlink(tmp_path / "loop_a", tmp_path / "loop_b")
    os.symlink(tmp_path, tmp_path / "self_dir")  # a directory cycle
    proc = run_tapelint(tmp_path, ".")
    assert proc.returncode == 1, proc.stderr
    assert [(Path(d["filename"]).name, d["code"]) for d in findings_json(proc)] == [("good.py", "TL002")]


def findings_json(proc):
    assert "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


def test_nonexistent_path_is_exit_2_with_one_line(tmp_path):
    proc = run_tapelint(tmp_path, "does_not_exist.py")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "does_not_exist.py" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unreadable_file_is_tl000(tmp_path, monkeypatch):
    # As root, chmod 000 does not stop reading, so the OS error is injected.
    path = tmp_path / "secret.py"
    path.write_text(GOOD)
    real = Path.read_bytes

    def read_bytes(self):
        if self.name == "secret.py":
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    diags = linter.lint_file(path, list(registry.all_rules().values()))
    assert [(d.code, d.location.row, d.message) for d in diags] == [("TL000", 1, "cannot read file: Permission denied")]


def test_ten_megabyte_generated_file(tmp_path):
    lines = ["import tensorflow as tf", "TABLE = ["]
    lines += [f"    ({i}, {i * 0.5}, 'row {i}')," for i in range(330_000)]
    lines += ["]", GOOD]
    data = "\n".join(lines).encode()
    assert len(data) > 10_000_000
    found = lint_with_good(tmp_path, "generated.py", data)
    assert [(f["code"], f["row"]) for f in found] == [("TL002", len(lines) - 1 + 8)]


def test_deep_but_valid_nesting_is_analysed(tmp_path):
    data = HEADER + b"x = " + b"-" * 900 + b"1\n" + GOOD.encode()
    found = lint_with_good(tmp_path, "deep.py", data)
    assert [(f["code"], f["row"]) for f in found] == [("TL002", 10)]


def test_a_crashing_rule_is_isolated(monkeypatch):
    from tapelint.rules.base import Rule

    class Boom(Rule):
        code, name, summary, message = "TL998", "boom", "crashes", "boom"
        triggers = ("GradientTape",)

        def check(self, model):
            raise ValueError("kaboom")

    rules = [Boom] + list(registry.all_rules().values())
    diags = linter.lint_source(GOOD, "good.py", rules)
    assert [(d.code, d.location.row) for d in diags] == [("TL999", 1), ("TL002", 8)]
    assert diags[0].message == "rule TL998 (boom) crashed on this file: ValueError: kaboom"


@pytest.mark.parametrize("source", [
    "x = 1\n",
    "return 1\n",  # the compiler's error, not the parser's: no TL000, as whole-file analysis
    "def f(a, a):\n    pass\n",  # the symbol table's errors: not the parser's either
    "nonlocal x\n",
    "def f():\n    global x\n    x: int = 1\n",
    "x = (\n",
    "f(**x, *y)\n",
    "x = 1\x00\n",
    "def f(:\n",
    "with tf.GradientTape() as t\n    pass\n",
])
def test_tl000_is_reported_exactly_where_cpythons_parser_rejects_the_text(source):
    # The parse is first checked without building a syntax tree (the symbol table); where that fails,
    # the tree decides: the verdict is always ast.parse's.
    try:
        ast.parse(source)
        rejected = False
    except (SyntaxError, ValueError):
        rejected = True
    error = linter.syntax_error(source, "t.py")
    assert (error is not None) == rejected
    if rejected:
        assert error.code == "TL000"


@pytest.mark.parametrize("tail,expected", [
    ("def f(:\n    pass\n", ["TL000"]),
    ("def g(a, a):\n    return a\n", []),  # parsed by CPython (its symbol table objects): not TL000
    ("def g(a):\n    return a\n", []),
])
def test_a_file_that_makes_a_tape_but_passes_no_screen_is_still_checked_for_syntax(tail, expected):
    # No rule can report here (a tape never differentiated), so nothing is parsed: the text is only
    # checked, as a whole-file analysis would find it.
    source = "import tensorflow as tf\n\ntape = tf.GradientTape()\n\n" + tail
    rules = list(registry.all_rules().values())
    partial = [d.code for d in linter.analyse(source, "t.py", rules)[1]]
    whole = [d.code for d in linter.analyse(source, "t.py", rules, partial=False)[1]]
    assert partial == whole == expected


# Valid Python that libcst's check of the nodes it builds rejects (LibCST issue #1061: TypeError from
# `IfExp._validate` in libcst 1.8); until stop 17 such a file was reported as "TL000 too deeply nested
# to parse" and its findings were lost.
LIBCST_REJECTS = "z = () if 0 else(lambda:())\n"
CHECKED_BY_LIBCST = GOOD.replace("    z = y * y\n", "    z = y * y\n    " + LIBCST_REJECTS)
# The same with a plain conditional expression, for the tests that make libcst's check of `IfExp`
# reject every one (`rejecting_checks`): what they show does not depend on libcst's version.
WITH_CONDITIONAL = GOOD.replace("    z = y * y\n", "    z = y * y\n    z = z if z is not None else y\n")


@pytest.fixture
def rejecting_checks(monkeypatch):
    import libcst as cst

    def reject(self):
        raise TypeError("IfExp rejected")

    monkeypatch.setattr(cst.IfExp, "_validate", reject)
    with pytest.raises(TypeError, match="IfExp rejected"):
        cst.parse_module(WITH_CONDITIONAL)


@pytest.mark.parametrize("partial", [True, False], ids=["partial", "whole-file"])
def test_valid_code_libcsts_node_checks_reject_is_analysed(partial):
    ast.parse(CHECKED_BY_LIBCST)
    diags = linter.analyse(CHECKED_BY_LIBCST, "t.py", list(registry.all_rules().values()), partial=partial)[1]
    assert [(d.code, d.location.row) for d in diags] == [("TL002", 9)]


@pytest.mark.parametrize("partial", [True, False], ids=["partial", "whole-file"])
def test_code_rejected_by_libcsts_node_checks_is_analysed(rejecting_checks, partial):
    diags = linter.analyse(WITH_CONDITIONAL, "t.py", list(registry.all_rules().values()), partial=partial)[1]
    assert [(d.code, d.location.row) for d in diags] == [("TL002", 9)]


def test_fix_that_libcst_cannot_render_is_dropped_and_the_finding_kept(rejecting_checks):
    from tapelint import fixer

    # Applying the fix rebuilds every node, the conditional expression included, with the checks on.
    outcome = fixer.fix_source(WITH_CONDITIONAL, "train.py", list(registry.all_rules().values()))
    assert outcome.source == WITH_CONDITIONAL
    assert outcome.applied == []
    assert [(d.code, d.location.row) for d in outcome.remaining] == [("TL002", 9)]
    assert outcome.errors == ["train.py:9:6: TL002 fix dropped: libcst cannot apply it (TypeError: IfExp rejected)"]


def test_nodes_built_outside_the_parse_are_still_checked():
    import threading

    import libcst as cst

    linter.parse_unchecked("x = 1\n")  # the switch is installed
    with pytest.raises(cst.CSTValidationError):
        cst.Name("")
    # Another thread parsing meanwhile changes nothing here.
    inside, done = threading.Event(), threading.Event()

    def parsing():
        linter._UNCHECKED.on = True
        inside.set()
        done.wait(10)
        linter._UNCHECKED.on = False

    thread = threading.Thread(target=parsing)
    thread.start()
    try:
        assert inside.wait(10)
        with pytest.raises(cst.CSTValidationError):
            cst.Name("")
    finally:
        done.set()
        thread.join()


def test_a_libcst_failure_on_code_cpython_accepts_is_tl999_not_a_syntax_error(monkeypatch):
    def fails(text):
        raise TypeError("libcst bug")

    monkeypatch.setattr(linter, "parse_unchecked", fails)
    diags = linter.lint_source(GOOD, "good.py", list(registry.all_rules().values()))
    assert [(d.code, d.location.row, d.message) for d in diags] == [
        ("TL999", 1, "libcst could not parse this file, which CPython's parser accepts (TypeError: libcst bug); "
                     "no rule ran on it")]
