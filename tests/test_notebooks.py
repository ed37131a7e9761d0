"""Jupyter notebooks: linted cell by cell as one program, IPython syntax masked, findings with their
cell, and `--fix` rewriting only the code cells it changed."""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path

import jsonschema
import pytest

from tapelint import cli, notebook
from tapelint.registry import all_rules
from tapelint.runner import lint_one

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "fixtures" / "notebooks"
SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())
RULES = [r for r in all_rules().values() if r.origin == "tapelint"]
EXPECT = re.compile(r"#\s*expect:\s*([A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*)")


def expected(path: Path) -> list[tuple[int, int, str]]:
    """(cell, row, code) of every `# expect:` marker in the notebook's code cells."""
    out = []
    for number, cell in enumerate(json.loads(path.read_text())["cells"], start=1):
        if cell["cell_type"] != "code":
            continue
        for row, line in enumerate("".join(cell["source"]).splitlines(), start=1):
            m = EXPECT.search(line)
            if m:
                out.extend((number, row, c.strip()) for c in m.group(1).split(","))
    return sorted(out)


def found(path: Path, rules=RULES) -> list[tuple[int, int, str]]:
    return sorted((d.cell, d.location.row, d.code) for d in lint_one(path, path.name, rules))


def make_notebook(*cells, language="python") -> str:
    """nbformat's layout (indent=1, sorted keys); a cell is source text, or ("markdown", text)."""
    out = []
    for cell in cells:
        kind, text = cell if isinstance(cell, tuple) else ("code", cell)
        entry = {"cell_type": kind, "metadata": {}, "source": text.splitlines(keepends=True)}
        if kind == "code":
            entry.update(execution_count=None, outputs=[])
        out.append(entry)
    meta = {"kernelspec": {"display_name": language, "language": language, "name": language}}
    return json.dumps({"cells": out, "metadata": meta, "nbformat": 4, "nbformat_minor": 5},
                      indent=1, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.fixture
def project(tmp_path, monkeypatch):
    for name in ("NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def tapelint(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- the fixtures ----------------------------------------------------------------------------------------
def test_buggy_notebook_reports_exactly_its_markers():
    path = NOTEBOOKS / "buggy_training.ipynb"
    marks = expected(path)
    assert len(marks) == 4
    assert found(path) == marks


def test_correct_notebook_is_clean():
    assert found(NOTEBOOKS / "correct_training.ipynb") == []


def test_text_output_names_the_cell(project, capsys):
    (project / "nb.ipynb").write_bytes((NOTEBOOKS / "buggy_training.ipynb").read_bytes())
    code, out, _ = tapelint(capsys, "--output-format", "concise")
    lines = out.splitlines()
    assert [line.split(": ")[0] for line in lines] == [
        "nb.ipynb:cell 5:6:27", "nb.ipynb:cell 7:3:29", "nb.ipynb:cell 7:4:9", "nb.ipynb:cell 10:4:1",
    ]
    # Lines a message refers to are named in the cell's terms too.
    assert "(`tf.random.normal([64, 3])` at line 1 of cell 3)" in lines[1]
    assert "(first at line 3)" in lines[2]
    assert code == 1


def test_json_and_sarif_carry_cell_and_line(project, capsys):
    (project / "nb.ipynb").write_bytes((NOTEBOOKS / "buggy_training.ipynb").read_bytes())
    _, out, _ = tapelint(capsys, "--output-format", "json")
    rows = json.loads(out)
    assert [(d["cell"], d["location"]["row"], d["code"]) for d in rows] == [
        (5, 6, "TL001"), (7, 3, "TL005"), (7, 4, "TL002"), (10, 4, "TL007")]
    tl002 = rows[2]
    # The fix's edits are in the same cell: where the tape is created, and after its last use.
    assert tl002["fix"]["edits"] == [
        {"content": "persistent=True", "location": {"row": 1, "column": 22}, "end_location": {"row": 1, "column": 22}},
        {"content": "del tape\n", "location": {"row": 5, "column": 1}, "end_location": {"row": 5, "column": 1}},
    ]
    assert tl002["noqa_row"] == 4
    _, out, _ = tapelint(capsys, "--output-format", "sarif")
    sarif = json.loads(out)
    jsonschema.validate(sarif, SCHEMA)
    result = sarif["runs"][0]["results"][0]
    assert result["properties"] == {"cell": 5}
    assert result["locations"][0]["logicalLocations"] == [{"name": "cell 5", "kind": "notebookCell"}]
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 6
    _, out, _ = tapelint(capsys, "--output-format", "github")
    assert out.splitlines()[0].startswith("::error title=tapelint (TL001),file=nb.ipynb::cell 5, line 6, column 27: TL001 ")
    _, out, _ = tapelint(capsys, "--output-format", "junit")
    assert "cell 5, line 6, col 27, TL001" in out


def test_directory_walk_finds_notebooks(project, capsys):
    (project / "notebooks").mkdir()
    (project / "notebooks" / "nb.ipynb").write_bytes((NOTEBOOKS / "buggy_training.ipynb").read_bytes())
    (project / "notebooks" / ".ipynb_checkpoints").mkdir()
    (project / "notebooks" / ".ipynb_checkpoints" / "nb-checkpoint.ipynb").write_bytes(
        (NOTEBOOKS / "buggy_training.ipynb").read_bytes())
    _, out, _ = tapelint(capsys, "--output-format", "concise")
    assert {line.split(":")[0] for line in out.splitlines()} == {"notebooks/nb.ipynb"}


# -- one program, cell by cell ----------------------------------------------------------------------------
def test_names_from_earlier_cells_are_known(project):
    path = project / "nb.ipynb"
    path.write_text(make_notebook(
        "import tensorflow as tf\nx = tf.Variable(3.0)\n",
        ("markdown", "A tape, then two gradients in the next cell."),
        "with tf.GradientTape() as t:\n    y = x * x\n    z = y * y\n",
        "dz = t.gradient(z, x)\ndy = t.gradient(y, x)\n",
    ))
    assert found(path) == [(4, 2, "TL002")]


def test_magics_and_shell_escapes_are_masked(project):
    path = project / "nb.ipynb"
    path.write_text(make_notebook(
        "!pip install -q tensorflow\n%matplotlib inline\n%load_ext autoreload\nimport tensorflow as tf\n",
        "files = !ls data\nlr = %env LR\ntf.GradientTape?\n??tf.function\n",
        "%%bash\necho 'with tf.GradientTape() as t:'\n",
        "%%time\nx = tf.Variable(3.0)\nwith tf.GradientTape() as t:\n    !echo inside\n    y = x * x\n    z = y * y\n"
        "dz = t.gradient(z, x)\ndy = t.gradient(y, x)\n",
        "!python train.py \\\n    --epochs 3\n",
    ))
    assert found(path) == [(4, 8, "TL002")]


def test_a_cell_that_does_not_parse_is_tl000_and_the_others_are_linted(project):
    path = project / "nb.ipynb"
    path.write_text(make_notebook(
        "import tensorflow as tf\nx = tf.Variable(3.0)\n",
        "def broken(:\n    pass\n",
        "with tf.GradientTape() as t:\n    y = x * x\n    z = y * y\ndz = t.gradient(z, x)\ndy = t.gradient(y, x)\n",
    ))
    assert found(path) == [(2, 1, "TL000"), (3, 5, "TL002")]
    [error] = [d for d in lint_one(path, "nb.ipynb", RULES) if d.code == "TL000"]
    assert (error.cell, error.location.column, error.message) == (2, 12, "SyntaxError: invalid syntax")


def test_a_cell_indented_as_a_whole_runs_dedented_as_ipython_runs_it(project, capsys):
    # IPython removes the first line's indentation from every line that has it (TensorFlow's
    # concrete_function and data guides have such cells): no TL000, findings at the cell's own columns,
    # and no fix in that cell, whose text would come back without its indentation.
    path = project / "nb.ipynb"
    path.write_text(make_notebook(
        "import tensorflow as tf\nx = tf.constant(3.0)\n",
        "  with tf.GradientTape() as tape:\n      y = x * x\n  g = tape.gradient(y, x)\n",
        "z = tf.constant(2.0)\nwith tf.GradientTape() as t2:\n    w = z * z\nh = t2.gradient(w, z)\n",
    ))
    diagnostics = sorted(lint_one(path, "nb.ipynb", RULES), key=lambda d: d.cell)
    assert [(d.cell, d.location.row, d.location.column, d.code) for d in diagnostics] == [
        (2, 3, 24, "TL005"), (3, 4, 20, "TL005")]
    assert diagnostics[0].fix is None and diagnostics[1].fix is not None
    before = path.read_text()
    assert tapelint(capsys, "--fix")[0] == 1
    after = path.read_text()
    assert _changed_lines(before.encode(), after.encode()) == ['+    "    t2.watch(z)\\n",']
    assert notebook.leading_indent(" a\n  b\nc\n") == (" ", frozenset({1, 2}), "a\n b\nc\n")
    assert notebook.leading_indent("a\n b\n") == ("", frozenset(), "a\n b\n")


def test_noqa_in_a_cell(project):
    path = project / "nb.ipynb"
    path.write_text(make_notebook(
        "import tensorflow as tf\nx = tf.Variable(3.0)\nwith tf.GradientTape() as t:\n    y = x * x\n    z = y * y\n",
        "dz = t.gradient(z, x)\ndy = t.gradient(y, x)  # noqa: TL002\n",
    ))
    assert found(path) == []


def test_other_languages_are_skipped_and_bad_json_is_tl000(project):
    r_notebook = project / "r.ipynb"
    r_notebook.write_text(make_notebook("library(tensorflow)\nwith(tf$GradientTape() %as% tape, {})\n", language="R"))
    assert found(r_notebook) == []
    broken = project / "broken.ipynb"
    broken.write_text('{"cells": [\n  {"cell_type": "code",}\n]}\n')
    [d] = lint_one(broken, "broken.ipynb", RULES)
    assert (d.code, d.cell, d.location.row) == ("TL000", None, 2)
    assert d.message.startswith("notebook is not valid JSON")


# -- fixing --------------------------------------------------------------------------------------------------
def _changed_lines(before: bytes, after: bytes) -> list[str]:
    """The lines of the JSON text that differ, as `-old` / `+new`."""
    diff = difflib.unified_diff(before.decode().splitlines(), after.decode().splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and not line.startswith(("---", "+++"))]


def test_fix_rewrites_only_the_changed_cells(project, capsys):
    path = project / "nb.ipynb"
    original = (NOTEBOOKS / "buggy_training.ipynb").read_bytes()
    path.write_bytes(original)
    code, out, _ = tapelint(capsys, "--fix")
    assert "Found 4 errors (3 fixed, 1 remaining).\n" in out and code == 1
    after = path.read_bytes()
    # Outputs (a PNG among them), metadata, markdown and untouched cells are byte-for-byte the same;
    # a cell without a final newline still has none.
    assert _changed_lines(original, after) == [
        '-    "with tf.GradientTape() as tape:\\n",',
        '+    "with tf.GradientTape(persistent=True) as tape:\\n",',
        '+    "    tape.watch(x)\\n",',
        '-    "dl_dw = tape.gradient(loss, w)  # expect: TL002"',
        '+    "dl_dw = tape.gradient(loss, w)  # expect: TL002\\n",',
        '+    "del tape"',
        '-    "w -= 0.1 * dw  # expect: TL007\\n",',
        '+    "w.assign_sub(0.1 * dw)  # expect: TL007\\n",',
    ]
    before_json, after_json = json.loads(original), json.loads(after)
    for old, new in zip(before_json["cells"], after_json["cells"]):
        assert {k: v for k, v in old.items() if k != "source"} == {k: v for k, v in new.items() if k != "source"}
    assert found(path) == [(5, 6, "TL001")]
    # A second --fix changes nothing.
    assert tapelint(capsys, "--fix")[0] == 1
    assert path.read_bytes() == after
    assert tapelint(capsys, "--diff")[:2] == (0, "")


def test_unsafe_fixes_in_a_notebook(project, capsys):
    path = project / "nb.ipynb"
    path.write_bytes((NOTEBOOKS / "buggy_training.ipynb").read_bytes())
    assert tapelint(capsys, "--fix", "--unsafe-fixes") == (0, "Found 4 errors (4 fixed, 0 remaining).\n", "")
    cells = json.loads(path.read_text())["cells"]
    assert "".join(cells[4]["source"]).startswith(
        "%%time\nfor step in range(100):\n    with tf.GradientTape() as tape:\n        y_pred = x @ w + b\n"
        "        loss = tf.reduce_mean((y_pred - y) ** 2)\n    grads = tape.gradient(loss, [w, b])")
    assert found(path) == []


def test_diff_shows_cells(project, capsys):
    path = project / "nb.ipynb"
    path.write_bytes((NOTEBOOKS / "buggy_training.ipynb").read_bytes())
    code, out, err = tapelint(capsys, "--diff")
    assert code == 1 and err == "Would fix 3 errors (1 additional fix available with `--unsafe-fixes`).\n"
    assert out.startswith(
        "--- a/nb.ipynb:cell 7\n+++ b/nb.ipynb:cell 7\n@@ -1,4 +1,6 @@\n"
        "-with tf.GradientTape() as tape:\n+with tf.GradientTape(persistent=True) as tape:\n")
    assert " dl_dw = tape.gradient(loss, w)  # expect: TL002\n+del tape\n" in out
    assert "--- a/nb.ipynb:cell 10\n+++ b/nb.ipynb:cell 10\n" in out
    assert path.read_bytes() == (NOTEBOOKS / "buggy_training.ipynb").read_bytes()


def test_fix_keeps_magics_and_a_cell_without_final_newline(project, capsys):
    path = project / "nb.ipynb"
    path.write_text(make_notebook(
        "%matplotlib inline\nimport tensorflow as tf\nx = tf.Variable(3.0)\n",
        "%%time\nwith tf.GradientTape() as t:\n    %time y = x * x\n    z = y * y\n!echo done\n"
        "dz = t.gradient(z, x)\ndy = t.gradient(y, x)",
    ))
    assert tapelint(capsys, "--fix") == (0, "Found 1 error (1 fixed, 0 remaining).\n", "")
    cells = json.loads(path.read_text())["cells"]
    assert "".join(cells[1]["source"]) == (
        "%%time\nwith tf.GradientTape(persistent=True) as t:\n    %time y = x * x\n    z = y * y\n!echo done\n"
        "dz = t.gradient(z, x)\ndy = t.gradient(y, x)\ndel t")
    assert cells[1]["source"][-1] == "del t"  # still no final newline


def test_a_fix_never_spans_two_cells(project, capsys):
    # TL002's fix edits the cell that creates the tape; the finding is in the next cell.
    path = project / "nb.ipynb"
    path.write_text(make_notebook(
        "import tensorflow as tf\nx = tf.Variable(3.0)\nwith tf.GradientTape() as t:\n    y = x * x\n    z = y * y\n",
        "dz = t.gradient(z, x)\ndy = t.gradient(y, x)\n",
    ))
    assert tapelint(capsys, "--fix") == (0, "Found 1 error (1 fixed, 0 remaining).\n", "")
    cells = json.loads(path.read_text())["cells"]
    assert cells[0]["source"][2] == "with tf.GradientTape(persistent=True) as t:\n"
    assert cells[1]["source"] == ["dz = t.gradient(z, x)\n", "dy = t.gradient(y, x)\n", "del t\n"]


# -- the pieces ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("source, masked", [
    ("import os\n", "import os\n"),
    ("%matplotlib inline\nimport os", "pass  # tapelint-magic:0\nimport os\n"),
    ("files = !ls\n", "files = ...  # tapelint-magic:0\n"),
    ("for i in range(3):\n    !echo $i\n", "for i in range(3):\n    pass  # tapelint-magic:0\n"),
    ("!pip install \\\n   tensorflow\nx = 1\n", "pass  # tapelint-magic:0\npass  # tapelint-magic:1\nx = 1\n"),
    ("%%time\nx = 1\n", "pass  # tapelint-magic:0\nx = 1\n"),
    ("%%bash\nls\n", None),
    ("x = 5 % 3\ny = (1\n%2)\n", "x = 5 % 3\ny = (1\n%2)\n"),  # valid Python is never touched
])
def test_mask_magics(source, masked):
    python, magics = notebook.mask_magics(source)
    assert python == masked
    if python is not None:
        restored = notebook.unmask_magics(python, magics)
        assert restored == (source if source.endswith("\n") else source + "\n")


def test_unmask_reindents_a_moved_magic_and_notices_a_lost_one():
    python, magics = notebook.mask_magics("%time f()\nx = 1 +\n")
    assert notebook.unmask_magics("    pass  # tapelint-magic:0\n", magics) == "    %time f()\n"
    assert notebook.unmask_magics("x = 1\n", magics) is None


def test_source_layouts_are_kept():
    text = '{"cells": [{"cell_type": "code", "source": "x = 1\\ny = 2"}]}'
    [span] = notebook._source_spans(text)
    assert text[span[0]:span[1]] == '"x = 1\\ny = 2"'
    assert notebook.render_source("x = 3\ny = 2", text[span[0]:span[1]], text, span[0]) == '"x = 3\\ny = 2"'
    old = '[\n    "a = \\u00e9\\n",\n    "b"\n   ]'
    assert notebook.render_source("a = é\nc", old, old, 0) == '[\n    "a = \\u00e9\\n",\n    "c"\n   ]'
    old = '[\n    "a = é\\n",\n    "b"\n   ]'
    assert notebook.render_source("a = é\nc", old, old, 0) == '[\n    "a = é\\n",\n    "c"\n   ]'


def test_show_source_shows_the_cell_line(project, capsys):
    (project / "nb.ipynb").write_bytes((NOTEBOOKS / "buggy_training.ipynb").read_bytes())
    _, out, _ = tapelint(capsys, "--show-source", "--select", "TL007")
    assert out == (
        "nb.ipynb:cell 10:4:1: TL007 [*] " + out.split("[*] ", 1)[1].split("\n", 1)[0] + "\n"
        "  |\n"
        "4 | w -= 0.1 * dw  # expect: TL007\n"
        "  | ^^^^^^^^^^^^^\n"
        "\n"
        "Found 1 error.\n"
        "[*] 1 fixable with the `--fix` option.\n"
    )


def test_empty_cells_and_windows_line_endings(project, capsys):
    path = project / "nb.ipynb"
    path.write_text(make_notebook(
        "import tensorflow as tf\r\n%matplotlib inline\r\nx = tf.Variable(3.0)\r\n",
        "",
        "\n\n",
        "with tf.GradientTape() as t:\r\n    y = x * x\r\n    z = y * y\r\n",
        "dz = t.gradient(z, x)\r\n!ls\r\ndy = t.gradient(y, x)",
    ))
    assert found(path) == [(5, 3, "TL002")]
    assert tapelint(capsys, "--fix")[:2] == (0, "Found 1 error (1 fixed, 0 remaining).\n")
    cells = json.loads(path.read_text())["cells"]
    assert cells[3]["source"][0] == "with tf.GradientTape(persistent=True) as t:\r\n"
    assert cells[4]["source"] == ["dz = t.gradient(z, x)\r\n", "!ls\r\n", "dy = t.gradient(y, x)\r\n", "del t"]
    assert [c["source"] for c in cells[1:3]] == [[], ["\n", "\n"]]
