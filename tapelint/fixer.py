"""Applying fixes: libcst replacements applied to a fixed point, verified by re-parsing, and written
atomically. A fix that would produce code that does not parse is dropped and reported; a file that
changed on disk since it was read is not overwritten."""

from __future__ import annotations

import ast
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import libcst as cst

from tapelint.diagnostics import Applicability, Diagnostic, Edit, Fix, Location
from tapelint.linter import analyse, parse_unchecked
from tapelint.rules.base import CstFix, Rule
from tapelint.semantic.tree import TreeIndex
from tapelint.source import compile_quietly

MAX_PASSES = 10


@dataclass
class FixOutcome:
    source: str  # the text after fixing (== the input when nothing applied)
    applied: list[Diagnostic] = field(default_factory=list)  # diagnostics whose fix was applied
    remaining: list[Diagnostic] = field(default_factory=list)  # diagnostics of the fixed text
    errors: list[str] = field(default_factory=list)  # fixes dropped, with the reason
    # The parsed final text, which the fixes of ``remaining`` refer to (None when it was not parsed).
    module: cst.Module | None = None


def applicable(fix: CstFix | None, unsafe: bool) -> bool:
    return fix is not None and (unsafe or fix.applicability is Applicability.SAFE)


class _Replace(cst.CSTTransformer):
    """Replaces the nodes of ``mapping``; with ``above`` (the ids of every node above them), it goes
    down those nodes only, leaving every other subtree as it is without walking it."""

    def __init__(self, mapping: dict[cst.CSTNode, object], above: frozenset[int] | None = None) -> None:
        super().__init__()
        self.mapping = mapping
        self.above = above

    def on_visit(self, node) -> bool:
        return self.above is None or id(node) in self.above

    def on_leave(self, original_node, updated_node):
        return self.mapping.get(original_node, updated_node)


def apply_cst_fixes(module: cst.Module, fixes: Sequence[CstFix]) -> str:
    mapping: dict[cst.CSTNode, object] = {}
    for fix in fixes:
        for r in fix.replacements:
            mapping[r.node] = r.new
    from tapelint.elide import restore

    # ValueError when a fix would touch an elided data literal: callers treat it as a failed fix
    return restore(module, module.visit(_Replace(mapping)).code)


def _render(module: cst.Module, fixes: Sequence[CstFix]) -> tuple[str, None] | tuple[None, str]:
    """(the text with ``fixes`` applied, None), or (None, why they cannot be): a fix that touches an
    elided data literal, or a tree libcst's own node checks reject as it rebuilds it (they fail on
    some valid code, LibCST issue #1061), is dropped as one producing invalid code is."""
    try:
        return apply_cst_fixes(module, fixes), None
    except ValueError as exc:
        return None, f"it cannot be applied ({exc})"
    except Exception as exc:  # libcst's checks of the nodes it rebuilds
        return None, f"libcst cannot apply it ({type(exc).__name__}: {exc})"


def _parses(code: str, filename: str, *, compiles: bool = True) -> str | None:
    """None when ``code`` is valid Python; else the error. With ``compiles=False`` only the syntax is
    checked, not what CPython's compiler rejects beyond it (`return` outside a function, a name used
    before its `global` statement): for a file that already fails there, whatever the fixes do."""
    try:
        parse_unchecked(code)
        compile_quietly(code, filename, 0 if compiles else ast.PyCF_ONLY_AST)
    except (cst.ParserSyntaxError, SyntaxError, ValueError, RecursionError) as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None


def _non_overlapping(module: cst.Module, diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """Fixes whose replaced nodes do not overlap; the others wait for the next pass (and are
    re-derived from the new text then), so overlapping fixes never silently clobber each other."""
    tree = TreeIndex(module)
    chosen: list[Diagnostic] = []
    taken: list[cst.CSTNode] = []
    for d in diagnostics:
        nodes = [r.node for r in d.cst_fix.replacements]
        if any(n not in tree.order for n in nodes):
            continue
        if any(tree.contains(a, b) or tree.contains(b, a) for a in nodes for b in taken):
            continue
        chosen.append(d)
        taken.extend(nodes)
    return chosen


def fix_source(
    source: str,
    filename: str,
    rules: Sequence[type[Rule]],
    *,
    unsafe: bool = False,
    accept: Callable[[Diagnostic, cst.Module, str], bool] | None = None,
) -> FixOutcome:
    """Apply the applicable fixes of ``rules`` to ``source`` until nothing changes. ``accept(diagnostic,
    module, text)``, when given, may veto a fix (notebooks refuse fixes that span two cells)."""
    outcome = FixOutcome(source)
    current = source
    rejected: set[tuple[str, str]] = set()  # (code, message) of fixes that broke the code
    compiles: list[bool] = []  # whether ``source`` compiles, found out when a fix is first checked

    def parses(code: str) -> str | None:
        if not compiles:
            try:
                compile_quietly(source, filename)
                compiles.append(True)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                compiles.append(False)
        return _parses(code, filename, compiles=compiles[0])

    def attempt(module: cst.Module, fixes: Sequence[CstFix]) -> tuple[str, None] | tuple[None, str]:
        """(the fixed text, None), or (None, why the fixes are dropped)."""
        new, why = _render(module, fixes)
        if new is not None:
            error = parses(new)
            if error is not None:
                return None, f"it would produce invalid code ({error})"
        return new, why

    for _ in range(MAX_PASSES):
        module, diagnostics = analyse(current, filename, rules)
        outcome.remaining, outcome.module = diagnostics, module
        if module is None:
            break
        fixable = [d for d in diagnostics if applicable(d.cst_fix, unsafe) and (d.code, d.message) not in rejected
                   and (accept is None or accept(d, module, current))]
        if not fixable:
            break
        batch = _non_overlapping(module, fixable)
        new, why = attempt(module, [d.cst_fix for d in batch])
        if new is None:
            # find the culprits one by one, keep the good ones
            good = []
            for d in batch:
                own, why = attempt(module, [d.cst_fix])
                if own is not None:
                    good.append(d)
                else:
                    rejected.add((d.code, d.message))
                    outcome.errors.append(f"{filename}:{d.location.row}:{d.location.column}: {d.code} fix dropped: {why}")
            batch = good
            new, _ = attempt(module, [d.cst_fix for d in batch]) if batch else (None, None)
            if new is None:
                continue
        if new == current:
            break
        outcome.applied.extend(batch)
        current = new
    else:  # out of passes right after applying a batch: describe the text actually produced
        outcome.module, outcome.remaining = analyse(current, filename, rules)
    outcome.source = current
    return outcome


def with_edits(diagnostics: list[Diagnostic], source: str, module: cst.Module | None) -> list[Diagnostic]:
    """Fill ``Diagnostic.fix.edits`` (for JSON/SARIF output): the minimal text edit each fix makes alone,
    or, for a fix of several replacements far apart (a statement moved), one edit per replacement."""
    if module is None:
        return diagnostics
    statements: _Statements | None = None  # (made for the first fix whose statements are known)
    for d in diagnostics:
        if d.cst_fix is None or d.fix is None:
            continue
        try:
            scoped = None
            if d.fix_scope is not None:
                statements = statements or _Statements(module, source)
                scoped = statements if statements.exact else None
            edits = fix_edits(module, source, d.cst_fix, scoped, d.fix_scope)
        except Exception:  # a fix that cannot even be rendered is simply not offered
            d.fix = None
            continue
        d.fix = Fix(d.fix.applicability, d.fix.message, edits)
    return diagnostics


class _Statements:
    """The code of each top-level statement of a module, generated once, so that a fix confined to a few
    of them is rendered by rebuilding and regenerating those alone: rebuilding the whole module costs
    about a quarter of a second a fix on a 2,000-line file. A top-level statement's code does not
    depend on what is around it (it carries its own blank lines, comments and line end)."""

    def __init__(self, module: cst.Module, source: str) -> None:
        from tapelint.elide import restore

        self.module = module
        self.head = "".join(module.code_for_node(line) for line in module.header)
        self.codes = [module.code_for_node(stmt) for stmt in module.body]
        self.foot = "".join(module.code_for_node(line) for line in module.footer)
        # (not so where the module drops the last line end, or its text is not ``source``)
        self.exact = restore(module, self.head + "".join(self.codes) + self.foot) == source

    def apply(self, fixes: Sequence[CstFix], scope: tuple[tuple[int, ...], frozenset[int]]) -> str:
        """The module's text with ``fixes`` applied, all of whose nodes lie in the statements of
        ``scope`` (``Diagnostic.fix_scope``)."""
        from tapelint.elide import restore

        mapping = {r.node: r.new for fix in fixes for r in fix.replacements}
        codes = list(self.codes)
        statements, above = scope
        for i in statements:
            new = self.module.body[i].visit(_Replace(mapping, above | {id(self.module.body[i])}))
            if isinstance(new, cst.RemovalSentinel):
                codes[i] = ""
            elif isinstance(new, cst.FlattenSentinel):
                codes[i] = "".join(self.module.code_for_node(n) for n in new.nodes)
            else:
                codes[i] = self.module.code_for_node(new)
        return restore(self.module, self.head + "".join(codes) + self.foot)


def fix_edits(module: cst.Module, source: str, fix: CstFix, statements: _Statements | None = None,
              scope: tuple[tuple[int, ...], frozenset[int]] | None = None) -> tuple[Edit, ...]:
    """The edits ``fix`` makes alone; with ``statements`` and the ``scope`` of top-level statements
    that hold its nodes (``Diagnostic.fix_scope``), rendered from those statements alone."""
    if statements is not None and scope is not None:
        def render(fixes: Sequence[CstFix]) -> str:
            return statements.apply(fixes, scope)
    else:
        def render(fixes: Sequence[CstFix]) -> str:
            return apply_cst_fixes(module, fixes)

    whole = minimal_edit(source, render([fix]))
    if len(fix.replacements) < 2:
        return (whole,)
    parts = sorted(
        (minimal_edit(source, render([CstFix(fix.message, (r,), fix.applicability)])) for r in fix.replacements),
        key=lambda e: (e.location, e.end_location),
    )
    if any(a.end_location > b.location for a, b in zip(parts, parts[1:])):
        return (whole,)  # they touch: one edit says it best
    return tuple(parts)


def minimal_edit(old: str, new: str) -> Edit:
    start = 0
    limit = min(len(old), len(new))
    while start < limit and old[start] == new[start]:
        start += 1
    end_old, end_new = len(old), len(new)
    while end_old > start and end_new > start and old[end_old - 1] == new[end_new - 1]:
        end_old -= 1
        end_new -= 1
    return Edit(new[start:end_new], _location(old, start), _location(old, end_old))


def _location(text: str, offset: int) -> Location:
    row = text.count("\n", 0, offset) + 1
    line_start = text.rfind("\n", 0, offset) + 1
    return Location(row, offset - line_start + 1)


# -- writing ---------------------------------------------------------------------------------------------
class WriteError(Exception):
    pass


def write_atomic(path: Path, text: str, original: bytes, encoding: str = "utf-8", bom: bool = False) -> None:
    """Replace ``path``'s content by ``text`` only if the file still holds ``original``; via a temporary
    file in the same directory and a rename, keeping the permission bits. On any error the original
    stays as it was."""
    try:
        if path.read_bytes() != original:
            raise WriteError(f"{path}: changed on disk since it was read; not overwritten")
        mode = stat.S_IMODE(path.stat().st_mode)
        if not os.access(path, os.W_OK):
            raise WriteError(f"{path}: file is not writable; left unchanged")
        data = (b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tapelint-tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, mode)
            if path.read_bytes() != original:  # last check right before the rename
                raise WriteError(f"{path}: changed on disk since it was read; not overwritten")
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    except WriteError:
        raise
    except OSError as exc:
        raise WriteError(f"{path}: could not write the fix: {exc.strerror or exc}; the file is unchanged") from None
