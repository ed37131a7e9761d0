"""Lint a list of files under given settings. Knows nothing of argv or output formats.

The unit of work is :func:`lint_one` (a module-level function of picklable arguments), so parallel
workers (``--jobs``) and a result cache can wrap it without changing the command line.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Sequence

from tapelint.config import Settings, display_path
from tapelint.diagnostics import INTERNAL_ERROR_CODE, INTERNAL_ERROR_NAME, Diagnostic, Location, rule_url
from tapelint.fixer import with_edits
from tapelint.linter import analyse, parse_error
from tapelint.rules.base import Rule
from tapelint.source import SourceError, read_source


def run(files: Sequence[Path], settings: Settings) -> list[Diagnostic]:
    """Every diagnostic for ``files``, in a stable order (file, cell, row, column, code)."""
    diagnostics: list[Diagnostic] = []
    for path in files:
        rules = settings.rules_for(path)
        if rules:
            diagnostics.extend(lint_one(path, display_path(path, settings.cwd), rules, settings.verbose))
    diagnostics.sort(key=Diagnostic.sort_key)
    return diagnostics


def lint_one(path: Path, display_name: str, rules: Sequence[type[Rule]], verbose: bool = False) -> list[Diagnostic]:
    """One file's diagnostics, each fix with its text edits (what JSON output shows).

    This is ``linter.lint_file`` plus ``fixer.with_edits``, which needs the parsed module that
    ``lint_file`` does not return. The pipeline reports its own failures; anything that still escapes
    (a bug) becomes TL999 for this file, and the run goes on with the others."""
    try:
        try:
            source = read_source(path)
        except SourceError as exc:
            return [parse_error(display_name, str(exc), exc.row, exc.column)]
        module, diagnostics = analyse(source, display_name, rules, verbose=verbose)
        return with_edits(diagnostics, source, module)
    except Exception as exc:  # one broken file must not end the run
        detail = f"{type(exc).__name__}: {exc}"
        if verbose:
            detail += "\n" + "".join(traceback.format_exception(exc))
        loc = Location(1, 1)
        return [Diagnostic(INTERNAL_ERROR_CODE, INTERNAL_ERROR_NAME, f"internal error while linting this file: {detail}",
                           display_name, loc, loc, url=rule_url(INTERNAL_ERROR_CODE))]
