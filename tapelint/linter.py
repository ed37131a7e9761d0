"""The per-file pipeline: source -> parse -> semantic model -> rules -> diagnostics.

This module knows nothing about the command line, configuration files or output formats.
"""

from __future__ import annotations

import ast
import gc
import os
import sys
import threading
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from tapelint.diagnostics import (
    INTERNAL_ERROR_CODE,
    INTERNAL_ERROR_NAME,
    PARSE_ERROR_CODE,
    PARSE_ERROR_NAME,
    Diagnostic,
    Fix,
    Location,
    rule_url,
)
from tapelint.noqa import filter_suppressed
from tapelint.prefilter import triggered
from tapelint.rules.base import Rule
from tapelint.source import SourceError, compile_quietly, quietly, read_source

if TYPE_CHECKING:  # libcst is imported on first parse: `tapelint --version` and cached runs never load it
    import libcst as cst

    from tapelint.screen import Facts

# Analyse the parts of a file that the active rules can see (tapelint/partial.py) rather than the whole
# file. The findings are the same either way; `--whole-files` (or TAPELINT_WHOLE_FILES=1) turns it
# off, to check exactly that.
_partial = os.environ.get("TAPELINT_WHOLE_FILES", "") in ("", "0")


def set_partial(enabled: bool) -> None:
    global _partial
    _partial = enabled


def partial_enabled() -> bool:
    return _partial


def parse_error(filename: str, message: str, row: int = 1, column: int = 1) -> Diagnostic:
    loc = Location(row, column)
    return Diagnostic(PARSE_ERROR_CODE, PARSE_ERROR_NAME, message, filename, loc, loc, url=rule_url(PARSE_ERROR_CODE))


def internal_error(filename: str, message: str) -> Diagnostic:
    """TL999 at the top of the file: tapelint (a rule, libcst) failed there, not the code."""
    loc = Location(1, 1)
    return Diagnostic(INTERNAL_ERROR_CODE, INTERNAL_ERROR_NAME, message, filename, loc, loc,
                      url=rule_url(INTERNAL_ERROR_CODE))


def error_detail(exc: BaseException, verbose: bool) -> str:
    """``Type: message`` of an exception, with its traceback where ``verbose``."""
    detail = f"{type(exc).__name__}: {exc}"
    if verbose:
        detail += "\n" + "".join(traceback.format_exception(exc))
    return detail


def parse(source: str, filename: str, *, compiled: bool = False) -> cst.Module | Diagnostic:
    """Parse with libcst, after CPython's own parser has accepted the text (``compiled``: the
    caller has already compiled it).

    CPython fails cleanly (SyntaxError, RecursionError) on inputs where libcst's native parser
    overflows its stack and kills the process (about 1,500 nested brackets, or a chain of 20,000
    operators), and its messages are the ones users know. libcst then runs in a thread with a large
    stack as a second guard.
    """
    import libcst as cst

    if not compiled:
        error = syntax_error(source, filename)
        if error is not None:
            return error
    from tapelint.elide import elide, remember

    text, elided = elide(source)
    outcome = run_deep(parse_unchecked, text)
    if isinstance(outcome, cst.Module):
        remember(outcome, elided)
        return outcome
    if isinstance(outcome, cst.ParserSyntaxError):
        message = str(outcome).strip().splitlines()[0] if str(outcome).strip() else "invalid syntax"
        return parse_error(filename, f"SyntaxError: {message}", outcome.raw_line, outcome.raw_column + 1)
    if isinstance(outcome, (RecursionError, MemoryError)):
        return parse_error(filename, "SyntaxError: too deeply nested to parse")
    # CPython's parser accepted the text: a failure here is libcst's, not the file's.
    return internal_error(filename, f"libcst could not parse this file, which CPython's parser accepts "
                                    f"({type(outcome).__name__}: {outcome}); no rule ran on it")


class _Unchecked(threading.local):
    on = False


_UNCHECKED = _Unchecked()


def parse_unchecked(text: str) -> cst.Module:
    """``libcst.parse_module``, without libcst's check of each node as it is built.

    libcst validates every node in ``CSTNode.__post_init__`` (its own comment there calls this a cost
    worth avoiding when parsing): for a tree straight from its parser the check re-proves what the
    parser guarantees, costs about a sixth of the parse, and rejects some valid code
    (``() if 0 else(lambda:())`` raises TypeError, LibCST issue #1061). The check is skipped only in
    the thread that parses here: nodes built anywhere else (a fix, another thread) are checked as
    before."""
    import libcst as cst

    _install_check_switch(cst.CSTNode)
    _UNCHECKED.on = True
    try:
        return cst.parse_module(text)
    finally:
        _UNCHECKED.on = False


def _install_check_switch(node_class: type) -> None:
    """Make ``node_class.__post_init__`` (libcst's check) skip where :func:`parse_unchecked` parses;
    once. A libcst without that hook keeps checking."""
    check = node_class.__dict__.get("__post_init__")
    if check is None or getattr(check, "tapelint_switch", False):
        return

    def __post_init__(self) -> None:
        if not _UNCHECKED.on:
            check(self)

    __post_init__.tapelint_switch = True
    node_class.__post_init__ = __post_init__


def syntax_error(source: str, filename: str) -> Diagnostic | None:
    """TL000 for a text CPython's parser rejects, else None."""
    if _parses(source, filename):
        return None
    try:
        compile_quietly(source, filename, ast.PyCF_ONLY_AST)
    except SyntaxError as exc:
        return parse_error(filename, f"SyntaxError: {exc.msg}", exc.lineno or 1, max(exc.offset or 1, 1))
    except (RecursionError, MemoryError):
        return parse_error(filename, "SyntaxError: too deeply nested to parse")
    except ValueError as exc:  # e.g. "source code string cannot contain null bytes"
        return parse_error(filename, f"SyntaxError: {exc}")
    return None


def _parses(source: str, filename: str) -> bool:
    """CPython's parser accepts ``source``, found without building its syntax tree: the symbol table
    is built from the parser's own tree, in C, in about two thirds of the time ``ast`` takes (and
    without the garbage a whole tree of Python objects leaves). False where it cannot tell: the
    symbol table rejects some code the parser accepts (a duplicate parameter, a misplaced
    ``nonlocal``), and the syntax tree then decides."""
    import symtable

    try:
        with quietly():
            symtable.symtable(source, filename, "exec")
    except Exception:  # SyntaxError, RecursionError, MemoryError, ValueError (a NUL byte)...
        return False
    return True


_DEEP_STACK = 512 * 1024 * 1024  # virtual: only the pages a deep analysis touches are committed
_DEEP_RECURSION = 30_000


def run_deep(fn, *args):
    """``fn(*args)`` in a thread with a large stack and recursion limit, so deeply nested but valid
    code is analysed rather than crashing libcst's native parser or hitting RecursionError in a
    rule. Returns the result, or the exception it raised."""
    result: list = []

    def target() -> None:
        try:
            result.append(fn(*args))
        except Exception as exc:  # handed back to the caller's thread
            result.append(exc)

    thread = threading.Thread(target=target, name="tapelint-analyse")
    previous_stack = threading.stack_size(_DEEP_STACK)
    previous_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous_limit, _DEEP_RECURSION))
    try:
        thread.start()
        thread.join()
    finally:
        threading.stack_size(previous_stack)
        sys.setrecursionlimit(previous_limit)
    return result[0] if result else RecursionError("analysis thread ended without a result")


def lint_source(
    source: str,
    filename: str,
    rules: Sequence[type[Rule]],
    *,
    verbose: bool = False,
) -> list[Diagnostic]:
    """Lint one file's text. Never raises for bad input: parse errors become TL000, a rule that
    raises becomes TL999 and the other rules still run."""
    return analyse(source, filename, rules, verbose=verbose)[1]


def analyse(
    source: str,
    filename: str,
    rules: Sequence[type[Rule]],
    *,
    verbose: bool = False,
    partial: bool | None = None,
    prefiltered: bool = False,
) -> tuple[cst.Module | None, list[Diagnostic]]:
    """Like :func:`lint_source`, also returning the parsed module that the diagnostics' fixes refer
    to (None when the file was not parsed).

    With ``partial`` (the default unless :func:`set_partial` turned it off) the rules see only the
    parts of the file they can report on (:mod:`tapelint.partial`); the findings are those of the
    whole file. Whenever a finding carries a fix, the whole file is analysed and its module returned,
    so a fix always applies to the file's full text. ``prefiltered``: ``rules`` are already those
    whose trigger words the file holds (the engine's byte-level pre-filter chose them)."""
    with collector_paused():
        return _analyse(source, filename, rules, verbose, partial, prefiltered)


@contextmanager
def collector_paused():
    """Python's cyclic garbage collector off for the duration. Parsing and modelling one file creates
    a few hundred thousand objects that live until the file is done, and the collector would walk them
    again and again (a sixth of a cold run's CPU time); the few cycles among them are collected once
    the file is done, so memory stays bounded by the largest file."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _analyse(source: str, filename: str, rules: Sequence[type[Rule]], verbose: bool,
             partial: bool | None, prefiltered: bool = False) -> tuple[cst.Module | None, list[Diagnostic]]:
    active = list(rules) if prefiltered else triggered(rules, source)
    if not active:
        return None, []
    if partial is None:
        partial = _partial
    tree = None
    if partial:
        # The screen (tapelint/screen.py): rules whose constructs the text, the logical lines around
        # their words, then CPython's syntax tree, do not hold are dropped before libcst reads the file.
        from tapelint.screen import Facts

        # A screen that cannot decide (the text does not compile) keeps its rule, and libcst then
        # reports the syntax error.
        facts = Facts(source)
        active = screened(active, facts)
        if not active:
            # No rule can report anything here. A file ruled out without being compiled is treated as
            # one without trigger words, not parsed, unless it makes a gradient tape or uses
            # `custom_gradient`: a syntax error is reported (TL000) in every such file. (Checking every
            # file that merely holds a word such as `kernel` costs about as much as a whole run of
            # ruff on TensorFlow's sources.)
            if not facts.compiled and not facts.uses_autodiff:
                return None, []
            if facts.compiled and facts.syntax_tree() is not None:
                return None, []
            error = syntax_error(source, filename)  # (no syntax tree is built where the text parses)
            return None, [] if error is None else [error]
        tree = facts.syntax_tree()
    # A rule without trigger words runs on every file and may look anywhere in it; so may one that
    # says it needs the whole module.
    if partial and not any(getattr(r, "needs_whole_module", False) or not r.triggers for r in active):
        from tapelint.partial import reduce_for, verify

        reduction, compiled = reduce_for(source, active, tree)
        if reduction is not None:
            parsed = parse(reduction.text, filename, compiled=True)
            if not isinstance(parsed, Diagnostic) and verify(parsed, reduction):
                module, diagnostics = _check(parsed, source, filename, active, verbose, reduction.rows)
                if not any(d.cst_fix is not None for d in diagnostics):
                    return module, diagnostics
    else:
        compiled = tree is not None
    parsed = parse(source, filename, compiled=compiled)
    if isinstance(parsed, Diagnostic):
        return None, [parsed]
    return _check(parsed, source, filename, active, verbose)


def screened(active: Sequence[type[Rule]], facts: "Facts") -> list[type[Rule]]:
    """The rules of ``active`` whose screen passes. A screen that fails to decide (the text does not
    compile, a plugin's screen raises, one recurses too deep) keeps its rule: the rule then runs as
    usual, and a syntax error is reported."""
    kept = []
    for rule in active:
        try:
            keep = rule.screen(facts)
        except Exception:
            keep = True
        if keep:
            kept.append(rule)
    return kept


def _check(parsed: cst.Module, source: str, filename: str, active: Sequence[type[Rule]],
           verbose: bool, rows: tuple[int, ...] = ()) -> tuple[cst.Module | None, list[Diagnostic]]:
    outcome = run_deep(_check_here, parsed, source, filename, active, verbose, rows)
    if isinstance(outcome, RecursionError):
        return None, [parse_error(filename, "SyntaxError: expression nested too deeply to analyse")]
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def _check_here(parsed: cst.Module, source: str, filename: str, active: Sequence[type[Rule]],
                verbose: bool, rows: tuple[int, ...]) -> tuple[cst.Module | None, list[Diagnostic]]:
    from tapelint.semantic.model import SemanticModel

    try:
        model = SemanticModel(parsed, filename=filename, rows=rows)
    except RecursionError:
        return None, [parse_error(filename, "SyntaxError: expression nested too deeply to analyse")]
    diagnostics: list[Diagnostic] = []
    for rule_cls in active:
        try:
            findings = list(rule_cls().check(model))
            for finding in findings:
                diagnostics.append(_diagnostic(rule_cls, finding, model, filename))
        except Exception as exc:  # isolate a broken rule: report it, keep going
            diagnostics.append(internal_error(
                filename, f"rule {rule_cls.code} ({rule_cls.name}) crashed on this file: {error_detail(exc, verbose)}"))
    diagnostics = filter_suppressed(diagnostics, source.splitlines())
    diagnostics.sort(key=Diagnostic.sort_key)
    return parsed, diagnostics


def _diagnostic(rule_cls: type[Rule], finding, model, filename: str) -> Diagnostic:
    start, end = model.span(finding.node)
    fix = None
    if finding.fix is not None:
        fix = Fix(finding.fix.applicability, finding.fix.message)
    return Diagnostic(
        code=rule_cls.code,
        name=rule_cls.name,
        message=finding.message or rule_cls.message,
        filename=filename,
        location=start,
        end_location=end,
        fix=fix,
        url=rule_url(rule_cls.code),
        cst_fix=finding.fix,
        fix_scope=None if finding.fix is None else _top_level_statements(model, finding.fix),
    )


def _top_level_statements(model, fix) -> tuple[tuple[int, ...], frozenset[int]] | None:
    """Where the nodes ``fix`` replaces lie (``Diagnostic.fix_scope``): the indices, in the module's
    body, of the top-level statements that hold them (each the node itself or an ancestor), and the
    ids of the nodes above them up to those statements; None where one is not in the module."""
    module = model.module
    index = {id(stmt): i for i, stmt in enumerate(module.body)}
    statements: set[int] = set()
    above: set[int] = set()
    for replacement in fix.replacements:
        node = replacement.node
        while node is not None and id(node) not in index:
            node = model.parent(node)
            if node is not None:
                above.add(id(node))
        if node is None:
            return None
        statements.add(index[id(node)])
    return tuple(sorted(statements)), frozenset(above)


def lint_file(path: Path, rules: Sequence[type[Rule]], *, display_name: str | None = None,
              verbose: bool = False) -> list[Diagnostic]:
    name = display_name or str(path)
    try:
        source = read_source(path)
    except SourceError as exc:
        return [parse_error(name, str(exc), exc.row, exc.column)]
    return lint_source(source, name, rules, verbose=verbose)


if sys.version_info < (3, 10):  # pragma: no cover
    raise RuntimeError("tapelint needs Python 3.10 or newer")
