"""Jupyter notebooks (``.ipynb``): linted cell by cell, as one program, and fixed in place.

How a notebook is read, as ruff does it:

- Only code cells of a Python notebook are linted (a notebook whose kernel language is not Python is
  skipped). Cells are joined in order into one module, so a name defined in an earlier cell is known
  in later ones; a line holding a boundary marker separates them.
- IPython syntax is masked line by line before parsing: line magics (``%matplotlib inline``), shell
  escapes (``!pip install ...``), assignments from them (``files = !ls``), help (``tf.GradientTape?``).
  A masked line becomes ``pass`` (or ``name = ...``) carrying a marker comment, so rows stay where they
  were and the original line can be put back. A cell that starts with a cell magic is skipped, except
  the magics whose body is Python (``%%time``, ``%%capture``, ...).
- A cell that does not parse on its own is reported (TL000, in that cell) and left out of the module.
- Diagnostics carry ``cell`` (the cell's 1-based position in the notebook, markdown cells included, as
  Jupyter lists them) and rows relative to that cell.
- Fixes never span two cells. ``--fix`` rewrites the ``source`` of the changed code cells only: every
  other byte of the file (outputs, metadata, other cells, the JSON layout) is kept as it was.
"""

from __future__ import annotations

import ast
import difflib
import json
import re
from dataclasses import dataclass, field
from json.decoder import scanstring
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

from tapelint.diagnostics import Diagnostic, Edit, Fix, Location
from tapelint.rules.base import Rule
from tapelint.source import SourceError

if TYPE_CHECKING:  # (libcst is imported where a cell is parsed: a notebook the screens rule out needs none)
    import libcst as cst

SUFFIX = ".ipynb"
# The line that separates two cells in the joined module. A comment: it never changes the program.
BOUNDARY = "# tapelint: ---- cell boundary ----"
MAGIC_MARK = "# tapelint-magic:"
_MAGIC_LINE = re.compile(r"^(?P<indent>[ \t]*).*" + re.escape(MAGIC_MARK) + r"(?P<id>\d+)[ \t]*$")
# Cell magics whose body is Python: the first line is masked and the body linted.
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})
_ASSIGN_MAGIC = re.compile(r"^(?P<target>[A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*)\s*=\s*[%!]")
_LINE_REFERENCE = re.compile(r"\bline (\d+)\b")
_HELP = re.compile(r"^(?:\?{1,2}[\w.]+|[\w.]+(?:\(\))?\?{1,2})$")


def is_notebook(path: Path | str) -> bool:
    return str(path).endswith(SUFFIX)


# -- reading ---------------------------------------------------------------------------------------------
@dataclass
class CodeCell:
    index: int  # 0-based position in the notebook's ``cells`` list
    source: str  # as the notebook holds it
    python: str | None  # the text linted (magics masked, ends with a newline); None: not Python
    magics: dict[int, tuple[str, str]]  # marker id -> (original line, indentation of the masked line)
    span: tuple[int, int]  # where the ``source`` value lies in the notebook's JSON text
    # IPython's leading-indent cleanup: the indentation of the cell's first line, removed from every
    # line that starts with it before the cell runs; those lines' (1-based) rows. Empty: none removed.
    dedent: str = ""
    dedented_rows: frozenset[int] = frozenset()

    @property
    def number(self) -> int:
        return self.index + 1


@dataclass
class Notebook:
    path: Path
    data: bytes
    text: str  # the JSON text
    bom: bool
    python: bool  # False: the kernel is not Python, nothing to lint
    cells: list[CodeCell] = field(default_factory=list)


def read_notebook(path: Path) -> Notebook:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read file: {exc.strerror or exc}") from None
    return parse_notebook(path, data)


def parse_notebook(path: Path, data: bytes) -> Notebook:
    bom = data.startswith(b"\xef\xbb\xbf")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(f"notebook is not valid UTF-8: {exc.reason}",
                          data[: exc.start].count(b"\n") + 1) from None
    try:
        content = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(f"notebook is not valid JSON: {exc.msg}", exc.lineno, exc.colno) from None
    if not isinstance(content, dict) or not isinstance(content.get("cells"), list):
        raise SourceError("not a Jupyter notebook in nbformat 4 (no `cells` list)")
    nb = Notebook(path, data, text, bom, _is_python(content))
    if not nb.python:
        return nb
    spans = _source_spans(text)
    for index, cell in enumerate(content["cells"]):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code" or spans[index] is None:
            continue
        raw = cell.get("source", "")
        source = "".join(raw) if isinstance(raw, list) else str(raw)
        dedent, rows, cleaned = leading_indent(source)
        python, magics = mask_magics(cleaned)
        nb.cells.append(CodeCell(index, source, python, magics, spans[index], dedent, rows))
    return nb


def _is_python(content: dict) -> bool:
    metadata = content.get("metadata") or {}
    language = (metadata.get("kernelspec") or {}).get("language") or (metadata.get("language_info") or {}).get("name")
    return language is None or str(language).lower() == "python"


# -- IPython syntax ---------------------------------------------------------------------------------------
def _parses(text: str) -> bool:
    try:
        ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


_LEADING_INDENT = re.compile(r"[ \t]+(?=\S)")


def leading_indent(source: str) -> tuple[str, frozenset[int], str]:
    """IPython's cleanup of a cell whose first line is indented (`leading_indent` in
    IPython.core.inputtransformer2): that indentation is removed from every line that starts with it,
    and the cell runs. Returns the indentation removed, the (1-based) rows it was removed from, and
    the cell as it runs; ("", empty, source) for a cell whose first line is not indented."""
    m = _LEADING_INDENT.match(source)
    if m is None:
        return "", frozenset(), source
    prefix = m.group()
    lines = source.splitlines(keepends=True)
    rows = frozenset(i for i, line in enumerate(lines, start=1) if line.startswith(prefix))
    cleaned = "".join(line[len(prefix):] if i in rows else line for i, line in enumerate(lines, start=1))
    return prefix, rows, cleaned


def mask_magics(source: str) -> tuple[str | None, dict[int, tuple[str, str]]]:
    """The cell as Python (magics masked, a final newline), and the masked lines; None when the cell
    is not Python at all (``%%bash``, ``%%writefile``...)."""
    newline = "\r\n" if "\r\n" in source else "\n"
    text = source if source.endswith(("\n", "\r")) or not source else source + newline
    lines = text.splitlines(keepends=True)
    magics: dict[int, tuple[str, str]] = {}
    first = 0
    if lines and lines[0].lstrip().startswith("%%"):
        name = (lines[0].lstrip()[2:].split() or [""])[0]
        if name not in PYTHON_CELL_MAGICS:
            return None, {}
        lines[0] = _mask(lines[0], "", magics)
        first = 1
    elif _parses(text):
        return text, {}
    continued: str | None = None  # the indentation of a masked line continued with a backslash
    for i in range(first, len(lines)):
        line = lines[i]
        stripped = line.strip()
        if continued is not None:
            lines[i] = _mask(line, continued, magics)
            continued = continued if stripped.endswith("\\") else None
            continue
        indent = line[: len(line) - len(line.lstrip(" \t"))]
        if stripped.startswith(("%", "!")) or _HELP.match(stripped):
            lines[i] = _mask(line, indent, magics)
        elif (m := _ASSIGN_MAGIC.match(stripped)) is not None:
            lines[i] = _mask(line, indent, magics, target=m.group("target"))
        else:
            continue
        continued = indent if stripped.endswith("\\") else None
    return "".join(lines), magics


def _mask(line: str, indent: str, magics: dict[int, tuple[str, str]], target: str | None = None) -> str:
    key = len(magics)
    magics[key] = (line.rstrip("\r\n"), indent)
    statement = f"{target} = ..." if target else "pass"
    ending = line[len(line.rstrip("\r\n")):] or "\n"
    return f"{indent}{statement}  {MAGIC_MARK}{key}{ending}"


def _drop_final_newline(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith(("\n", "\r")) else text


def unmask_magics(python: str, magics: dict[int, tuple[str, str]]) -> str | None:
    """Put the masked lines back (re-indented where a fix moved them); None when one was lost."""
    if not magics:
        return python
    seen = set()
    out = []
    for line in python.splitlines(keepends=True):
        m = _MAGIC_LINE.match(line.rstrip("\r\n"))
        if m is None or int(m.group("id")) not in magics:
            out.append(line)
            continue
        key = int(m.group("id"))
        seen.add(key)
        original, indent = magics[key]
        new_indent = m.group("indent")
        if original.startswith(indent):
            original = new_indent + original[len(indent):]
        out.append(original + line[len(line.rstrip("\r\n")):])
    return "".join(out) if seen == set(magics) else None


# -- the joined module -------------------------------------------------------------------------------------
@dataclass
class Joined:
    """Code cells joined into one module, with the map from its rows back to (cell, row)."""

    text: str
    rows: list[tuple[int, int] | None]  # 0-based module row -> (cell number, 1-based row); None: a boundary
    last: dict[int, tuple[int, int]]  # cell number -> (its last row, that row's length)
    # cell number -> (width, rows) of the indentation IPython removed (``leading_indent``): columns on
    # those rows are that much further right in the cell, and no fix is offered in such a cell (its
    # text would come back without the indentation).
    dedented: dict[int, tuple[int, frozenset[int]]] = field(default_factory=dict)

    @classmethod
    def of(cls, cells: Sequence[tuple[int, str]],
           dedented: dict[int, tuple[int, frozenset[int]]] | None = None) -> "Joined":
        parts: list[str] = []
        rows: list[tuple[int, int] | None] = []
        last: dict[int, tuple[int, int]] = {}
        for number, python in cells:
            if parts:
                parts.append(BOUNDARY + "\n")
                rows.append(None)
            lines = python.splitlines()
            parts.append(python)
            rows.extend((number, r) for r in range(1, len(lines) + 1))
            last[number] = (len(lines), len(lines[-1]) if lines else 0)
        return cls("".join(parts), rows, last, dedented or {})

    def _column(self, number: int, row: int, column: int) -> int:
        width, rows = self.dedented.get(number, (0, frozenset()))
        return column + width if row in rows else column

    def split(self, text: str) -> list[str] | None:
        """Cut a (fixed) module back into cell texts; None when the boundaries did not survive."""
        cells: list[list[str]] = [[]]
        for line in text.splitlines(keepends=True):
            if line.rstrip("\r\n") == BOUNDARY:
                cells.append([])
            else:
                cells[-1].append(line)
        if len(cells) != len(self.last):
            return None
        return ["".join(c) for c in cells]

    def where(self, loc: Location) -> tuple[int, Location] | None:
        index = min(max(loc.row, 1), len(self.rows)) - 1 if self.rows else None
        if index is None:
            return None
        spot = self.rows[index]
        if spot is None:  # on a boundary line: the end of the cell before it (after its final newline)
            before = self.rows[index - 1] if index else None
            if before is None:
                return None
            number = before[0]
            row, length = self.last[number]
            return number, Location(row + 1, 1) if loc.column == 1 else \
                Location(row, self._column(number, row, length + 1))
        number, row = spot
        return number, Location(row, self._column(number, row, loc.column))

    def to_cells(self, d: Diagnostic) -> Diagnostic | None:
        """``d`` with its cell and cell-relative rows; its fix dropped when it would span cells."""
        start = self.where(d.location)
        if start is None:
            return d
        number, location = start
        end = self.where(d.end_location)
        if end is None or end[0] != number:
            row, length = self.last[number]
            end_location = Location(row, self._column(number, row, length + 1))
        else:
            end_location = end[1]
        d.cell, d.location, d.end_location = number, location, end_location
        d.message = self._relative_lines(d.message, number)
        if d.noqa_row is not None:
            spot = self.rows[d.noqa_row - 1] if 0 < d.noqa_row <= len(self.rows) else None
            d.noqa_row = spot[1] if spot and spot[0] == number else None
        if number in self.dedented:
            d.fix, d.cst_fix = None, None
        if d.fix is not None and d.fix.edits:
            edits = []
            for e in d.fix.edits:
                a, b = self.where(e.location), self.where(e.end_location)
                if a is None or b is None or a[0] != b[0]:  # --fix refuses it too (within_one_cell)
                    d.fix, d.cst_fix = None, None
                    break
                if a[0] == number:  # an edit in another cell cannot be expressed (edits carry no cell)
                    edits.append(Edit(e.content, a[1], b[1]))
            else:
                d.fix = Fix(d.fix.applicability, d.fix.message, tuple(edits))
        return d

    def _relative_lines(self, message: str, cell: int) -> str:
        """Rules name other lines as module rows ("first at line 13"): say which cell they are in."""
        def repl(m: re.Match) -> str:
            row = int(m.group(1))
            spot = self.rows[row - 1] if 0 < row <= len(self.rows) else None
            if spot is None:
                return m.group(0)
            return f"line {spot[1]}" if spot[0] == cell else f"line {spot[1]} of cell {spot[0]}"

        return _LINE_REFERENCE.sub(repl, message)

    def within_one_cell(self, d: Diagnostic, module: cst.Module, text: str) -> bool:
        """Each change the fix of ``d`` makes stays inside one cell (a veto for ``fixer.fix_source``):
        a fix may touch two cells (a tape made in one, used in the next), never move code across."""
        from tapelint.fixer import apply_cst_fixes
        from tapelint.rules.base import CstFix

        for replacement in d.cst_fix.replacements:
            try:
                new = apply_cst_fixes(module, [CstFix(d.cst_fix.message, (replacement,))])
            except Exception:
                return False
            start = 0
            limit = min(len(text), len(new))
            while start < limit and text[start] == new[start]:
                start += 1
            end_old, end_new = len(text), len(new)
            while end_old > start and end_new > start and text[end_old - 1] == new[end_new - 1]:
                end_old -= 1
                end_new -= 1
            if BOUNDARY in text[start:end_old] or BOUNDARY in new[start:end_new]:
                return False
            for row in range(text.count("\n", 0, start), text.count("\n", 0, end_old) + 1):
                spot = self.rows[row] if row < len(self.rows) else None
                if spot is not None and spot[0] in self.dedented:
                    return False  # a cell IPython dedents: its text would come back dedented
        return True


# -- linting and fixing ---------------------------------------------------------------------------------------
def _prepare(nb: Notebook, display_name: str) -> tuple[list[CodeCell], list[Diagnostic]]:
    """The cells to join, and TL000 for the cells that do not parse on their own."""
    from tapelint.linter import parse_error

    good, errors = [], []
    for cell in nb.cells:
        if cell.python is None:
            continue
        try:
            ast.parse(cell.python)
        except SyntaxError as exc:  # Python's own message and position: what Jupyter would show
            found = parse_error(display_name, f"SyntaxError: {exc.msg}", exc.lineno or 1, exc.offset or 1)
        except (ValueError, RecursionError, MemoryError) as exc:
            found = parse_error(display_name, f"SyntaxError: {exc}")
        else:
            good.append(cell)
            continue
        found.cell = cell.number
        errors.append(found)
    return good, errors


def lint_notebook(path: Path, display_name: str, rules: Sequence[type[Rule]], *,
                  verbose: bool = False) -> list[Diagnostic]:
    """A notebook's diagnostics, cell by cell, each fix with its (cell-relative) text edits."""
    from tapelint.fixer import with_edits
    from tapelint.linter import analyse

    try:
        nb = read_notebook(path)
    except SourceError as exc:
        from tapelint.linter import parse_error

        return [parse_error(display_name, str(exc), exc.row, exc.column)]
    cells, out = _prepare(nb, display_name)
    if not cells:
        return out
    joined = Joined.of([(c.number, c.python) for c in cells], _dedented(cells))
    module, diagnostics = analyse(joined.text, display_name, rules, verbose=verbose)
    diagnostics = with_edits(diagnostics, joined.text, module)
    out.extend(d for d in (joined.to_cells(d) for d in diagnostics) if d is not None)
    out.sort(key=Diagnostic.sort_key)
    return out


@dataclass
class NotebookFix:
    remaining: list[Diagnostic]
    applied: list[Diagnostic]
    errors: list[str]
    new_text: str | None  # the notebook's new JSON text; None when nothing changed (or cannot be written)
    cells: list[tuple[int, str, str]]  # (cell number, old source, new source) of the changed cells

    def diff(self, display_name: str) -> str:
        out = []
        for number, old, new in self.cells:
            name = f"{display_name}:cell {number}"
            old_lines = (old if old.endswith("\n") else old + "\n").splitlines(keepends=True)
            new_lines = (new if new.endswith("\n") else new + "\n").splitlines(keepends=True)
            out.extend(difflib.unified_diff(old_lines, new_lines, f"a/{name}", f"b/{name}"))
        return "".join(out)


def fix_notebook(nb: Notebook, display_name: str, rules: Sequence[type[Rule]], *, unsafe: bool = False,
                 verbose: bool = False) -> NotebookFix:
    from tapelint.fixer import fix_source, with_edits

    cells, syntax_errors = _prepare(nb, display_name)
    if not cells:
        return NotebookFix(syntax_errors, [], [], None, [])
    joined = Joined.of([(c.number, c.python) for c in cells], _dedented(cells))
    outcome = fix_source(joined.text, display_name, rules, unsafe=unsafe, accept=joined.within_one_cell)
    errors = list(outcome.errors)
    final = joined
    changed: list[tuple[CodeCell, str]] = []
    if outcome.source != joined.text:
        texts = joined.split(outcome.source)
        problem = None
        if texts is None:
            problem = "the fixes moved code across cells"
        else:
            for cell, python in zip(cells, texts):
                if python == cell.python:
                    continue
                restored = unmask_magics(python, cell.magics)
                if restored is None:
                    problem = f"the fixes would remove an IPython magic from cell {cell.number}"
                    break
                if not _parses(python):
                    problem = f"cell {cell.number} would no longer parse on its own"
                    break
                if not cell.source.endswith(("\n", "\r")):  # the cell had no final newline: none again
                    restored = _drop_final_newline(restored)
                changed.append((cell, restored))
        if problem is not None:
            errors.append(f"{display_name}: fixes not applied: {problem}")
            module, diagnostics = _analyse(joined.text, display_name, rules, verbose)
            diagnostics = with_edits(diagnostics, joined.text, module)
            return NotebookFix(_sorted(syntax_errors + [joined.to_cells(d) for d in diagnostics]), [], errors, None, [])
        final = Joined.of([(c.number, t) for c, t in zip(cells, texts)], _dedented(cells))
    remaining = with_edits(outcome.remaining, outcome.source, outcome.module)
    remaining = [final.to_cells(d) for d in remaining]
    applied = [joined.to_cells(d) for d in outcome.applied]
    if not changed:
        return NotebookFix(_sorted(syntax_errors + remaining), applied, errors, None, [])
    new_text = _splice(nb.text, [(c.span, new) for c, new in changed])
    return NotebookFix(_sorted(syntax_errors + remaining), applied, errors, new_text,
                       [(c.number, c.source, new) for c, new in changed])


def _dedented(cells: Sequence[CodeCell]) -> dict[int, tuple[int, frozenset[int]]]:
    return {c.number: (len(c.dedent), c.dedented_rows) for c in cells if c.dedent}


def _analyse(text, display_name, rules, verbose):
    from tapelint.linter import analyse

    return analyse(text, display_name, rules, verbose=verbose)


def _sorted(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    return sorted(diagnostics, key=Diagnostic.sort_key)


# -- the JSON text ---------------------------------------------------------------------------------------
_WS = re.compile(r"[ \t\n\r]*")
_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null")


def _ws(s: str, i: int) -> int:
    return _WS.match(s, i).end()


def _value_end(s: str, i: int) -> int:
    """The end of the JSON value starting at ``i`` (the text is known to be valid JSON)."""
    c = s[i]
    if c == '"':
        return scanstring(s, i + 1)[1]
    if c == "{":
        end = None
        for _, _, end in _members(s, i):
            pass
        return _ws(s, end) + 1 if end is not None else _ws(s, i + 1) + 1
    if c == "[":
        end = None
        for _, end in _elements(s, i):
            pass
        return _ws(s, end) + 1 if end is not None else _ws(s, i + 1) + 1
    return _SCALAR.match(s, i).end()


def _members(s: str, i: int) -> Iterator[tuple[str, int, int]]:
    """(key, value start, value end) of the object at ``i``."""
    i = _ws(s, i + 1)
    if s[i] == "}":
        return
    while True:
        key, i = scanstring(s, i + 1)
        i = _ws(s, _ws(s, i) + 1)  # past the colon
        end = _value_end(s, i)
        yield key, i, end
        i = _ws(s, end)
        if s[i] != ",":
            return
        i = _ws(s, i + 1)


def _elements(s: str, i: int) -> Iterator[tuple[int, int]]:
    i = _ws(s, i + 1)
    if s[i] == "]":
        return
    while True:
        end = _value_end(s, i)
        yield i, end
        i = _ws(s, end)
        if s[i] != ",":
            return
        i = _ws(s, i + 1)


def _source_spans(text: str) -> list[tuple[int, int] | None]:
    """For each cell, where its ``source`` value lies in the JSON text."""
    spans: list[tuple[int, int] | None] = []
    start = _ws(text, 0)
    for key, value_start, _ in _members(text, start):
        if key != "cells":
            continue
        spans = []
        for cell_start, _ in _elements(text, value_start):
            span = None
            if text[cell_start] == "{":
                for ckey, s, e in _members(text, cell_start):
                    if ckey == "source":
                        span = (s, e)
            spans.append(span)
    return spans


def render_source(new: str, raw_old: str, text: str, start: int) -> str:
    """``new`` as a JSON ``source`` value laid out like the one it replaces (``raw_old``)."""
    ensure_ascii = bool(re.search(r"(?<!\\)\\u[0-9a-fA-F]{4}", raw_old)) and not re.search(r"[^\x00-\x7f]", raw_old)
    if not raw_old.startswith("["):
        return json.dumps(new, ensure_ascii=ensure_ascii)
    lines = new.splitlines(keepends=True)
    if not lines:
        return "[]"
    m = re.match(r"\[(\s*)\"", raw_old)
    if m is not None:
        separator = m.group(1)
        closing = re.search(r"(\s*)\]\Z", raw_old).group(1)
    else:  # was empty: lay it out as nbformat does (indent=1)
        line_start = text.rfind("\n", 0, start) + 1
        indent = re.match(r"[ \t]*", text[line_start:]).group(0)
        separator, closing = "\n" + indent + " ", "\n" + indent
    items = [json.dumps(line, ensure_ascii=ensure_ascii) for line in lines]
    return "[" + separator + ("," + separator).join(items) + closing + "]"


def _splice(text: str, changes: list[tuple[tuple[int, int], str]]) -> str:
    out, position = [], 0
    for (start, end), new in sorted(changes, key=lambda c: c[0]):
        out.append(text[position:start])
        out.append(render_source(new, text[start:end], text, start))
        position = end
    out.append(text[position:])
    return "".join(out)
