"""Lint a list of files under given settings. Knows nothing of argv or output formats.

The unit of work is :func:`lint_one` (a module-level function of picklable arguments), so parallel
workers (``--jobs``) and a result cache can wrap it without changing the command line.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from tapelint.config import Settings, display_path
from tapelint.diagnostics import Diagnostic
from tapelint import notebook
from tapelint.linter import analyse, error_detail, internal_error, parse_error
from tapelint.rules.base import Rule
from tapelint.source import SourceError, decode, read_source, read_source_file


def run(files: Sequence[Path], settings: Settings) -> list[Diagnostic]:
    """Every diagnostic for ``files``, in a stable order (file, cell, row, column, code)."""
    diagnostics: list[Diagnostic] = []
    for path in files:
        rules = settings.rules_for(path)
        if rules:
            diagnostics.extend(lint_one(path, display_path(path, settings.cwd), rules, settings.verbose))
    diagnostics.sort(key=Diagnostic.sort_key)
    return diagnostics


def lint_one(path: Path, display_name: str, rules: Sequence[type[Rule]], verbose: bool = False, *,
             data: bytes | None = None, prefiltered: bool = False) -> list[Diagnostic]:
    """One file's diagnostics, each fix with its text edits (what JSON output shows).

    ``data``: the file's bytes, where the caller has read them already; ``prefiltered``: ``rules``
    are those whose trigger words the file holds (:mod:`tapelint.prefilter`).

    This is ``linter.lint_file`` plus ``fixer.with_edits``, which needs the parsed module that
    ``lint_file`` does not return. The pipeline reports its own failures; anything that still escapes
    (a bug) becomes TL999 for this file, and the run goes on with the others."""
    try:
        if notebook.is_notebook(path):
            return notebook.lint_notebook(path, display_name, rules, verbose=verbose)
        try:
            source = read_source(path) if data is None else decode(data)
        except SourceError as exc:
            return [parse_error(display_name, str(exc), exc.row, exc.column)]
        module, diagnostics = analyse(source, display_name, rules, verbose=verbose, prefiltered=prefiltered)
        if module is None:  # nothing parsed (every screen ruled the file out): no fix to render, no libcst
            return diagnostics
        from tapelint.fixer import with_edits

        return with_edits(diagnostics, source, module)
    except Exception as exc:  # one broken file must not end the run
        return [_internal_error(display_name, exc, verbose)]


def _internal_error(display_name: str, exc: Exception, verbose: bool) -> Diagnostic:
    return internal_error(display_name, f"internal error while linting this file: {error_detail(exc, verbose)}")


# -- --fix / --diff -------------------------------------------------------------------------------------
@dataclass
class FileFix:
    """What fixing one file did."""

    diagnostics: list[Diagnostic]  # what is left to report (of the fixed text)
    fixed: int = 0  # fixes applied (or, with --diff, that would be)
    diff: str = ""  # the unified diff of the change ("" when nothing changed)
    errors: list[str] = field(default_factory=list)  # fixes dropped or a file not written, one line each


@dataclass
class FixResult:
    diagnostics: list[Diagnostic]
    fixed: int
    diffs: list[str]
    errors: list[str]


def fix(files: Sequence[Path], settings: Settings, *, unsafe: bool = False, write: bool = True) -> FixResult:
    """Fix every file (``write=False``: only compute the diffs, as ``--diff`` does)."""
    result = FixResult([], 0, [], [])
    for path in files:
        rules = settings.rules_for(path)
        if not rules:
            continue
        one = fix_one(path, display_path(path, settings.cwd), rules, unsafe=unsafe, write=write,
                      verbose=settings.verbose)
        result.diagnostics.extend(one.diagnostics)
        result.fixed += one.fixed
        if one.diff:
            result.diffs.append(one.diff)
        result.errors.extend(one.errors)
    result.diagnostics.sort(key=Diagnostic.sort_key)
    return result


def fix_one(path: Path, display_name: str, rules: Sequence[type[Rule]], *, unsafe: bool = False,
            write: bool = True, verbose: bool = False) -> FileFix:
    """Apply the fixes to one file, to a fixed point; the text is re-parsed before it is written,
    atomically. Like :func:`lint_one`, never raises for one file's sake."""
    from tapelint.fixer import WriteError, fix_source, with_edits, write_atomic

    try:
        if notebook.is_notebook(path):
            return _fix_notebook(path, display_name, rules, unsafe, write, verbose)
        try:
            source = read_source_file(path)
        except SourceError as exc:
            return FileFix([parse_error(display_name, str(exc), exc.row, exc.column)])
        outcome = fix_source(source.text, display_name, rules, unsafe=unsafe)
        remaining = with_edits(outcome.remaining, outcome.source, outcome.module)
        result = FileFix(remaining, len(outcome.applied), errors=list(outcome.errors))
        if outcome.source == source.text:
            return result
        result.diff = unified_diff(source.text, outcome.source, display_name)
        if write:
            try:
                write_atomic(path, outcome.source, source.data, source.encoding, source.bom)
            except (WriteError, UnicodeEncodeError) as exc:
                result.errors.append(str(exc) if isinstance(exc, WriteError) else
                                     f"{display_name}: the fixed text cannot be encoded as {source.encoding}; "
                                     "the file is unchanged")
                return FileFix(lint_one(path, display_name, rules, verbose), errors=result.errors)
        return result
    except Exception as exc:  # one broken file must not end the run
        return FileFix([_internal_error(display_name, exc, verbose)])


def _fix_notebook(path, display_name, rules, unsafe, write, verbose) -> FileFix:
    from tapelint.fixer import WriteError, write_atomic

    try:
        nb = notebook.read_notebook(path)
    except SourceError as exc:
        return FileFix([parse_error(display_name, str(exc), exc.row, exc.column)])
    outcome = notebook.fix_notebook(nb, display_name, rules, unsafe=unsafe, verbose=verbose)
    if outcome.new_text is None:
        return FileFix(outcome.remaining, 0, errors=outcome.errors)
    result = FileFix(outcome.remaining, len(outcome.applied), outcome.diff(display_name), outcome.errors)
    if write:
        try:
            write_atomic(path, outcome.new_text, nb.data, "utf-8", nb.bom)
        except WriteError as exc:
            result.errors.append(str(exc))
            return FileFix(lint_one(path, display_name, rules, verbose), errors=result.errors)
    return result


def unified_diff(old: str, new: str, display_name: str) -> str:
    """``--- a/NAME`` / ``+++ b/NAME`` and the hunks, as ``git diff`` and ruff print them."""
    old_lines, new_lines = old.splitlines(keepends=True), new.splitlines(keepends=True)
    out = []
    for line in difflib.unified_diff(old_lines, new_lines, f"a/{display_name}", f"b/{display_name}"):
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)
