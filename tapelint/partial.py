"""Partial analysis: the parts of a module that the active rules can see, with every other part
blanked out, so that libcst parses and the semantic model indexes a fraction of the file.

The unit is a top-level statement. Kept are:

- every top-level statement that is not a ``def`` or ``class`` (imports, constants, script code:
  rules resolve names through them and report in them);
- the ``def``\\ s and ``class``\\ es whose text holds a trigger word of an active rule (or a name an
  import binds to something spelt with one, ``from tensorflow import GradientTape as GT``), or a
  ``global`` statement (it rebinds a module-level name other code reads);
- and, to a fixed point, what those need: a ``def``/``class`` whose name the kept code mentions (a
  callee, a base class, a layer class instantiated), a ``def``/``class`` that mentions the name of a
  kept one (its callers, ``tf.function(f)``, ``tf.custom_gradient(f)``), and one that mentions a
  module-level name the kept code uses or that a kept module-level statement with a trigger binds
  (uses of a module-level tape, variable or list elsewhere). Imported names are not followed: a
  use of ``tf`` says nothing about the code that uses it.

A blanked statement's lines become empty lines, so every kept node keeps its row and column and
positions need no mapping. Names are matched as identifiers anywhere in a statement's text,
comments and strings included, which keeps more than needed and never less. Rules whose verdict
can depend on the whole module say so (``Rule.needs_whole_module``) and get the whole file.

``tests/test_partial.py`` runs every rule over the fixtures both ways and compares; the benchmark
(``bench/lint_speed.py``) does the same over the TensorFlow and Keras sources.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Iterable

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DEF_NAME = re.compile(r"\bdef[ \t]+([A-Za-z_][A-Za-z0-9_]*)")
_GLOBAL = re.compile(r"(?:^|[;:])[ \t]*global[ \t]+[A-Za-z_]", re.M)
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.ListComp, ast.SetComp,
                  ast.DictComp, ast.GeneratorExp)


@dataclass
class Reduction:
    """The text to analyse instead of the file's, and what it should hold once parsed."""

    text: str
    kept: tuple[str, ...]  # names of the top-level defs and classes kept, in order
    kept_lines: int
    total_lines: int


@dataclass(eq=False)
class _Unit:
    first: int  # 0-based first line (decorators included)
    last: int  # 0-based last line
    name: str | None  # for def/class
    text: str
    is_def: bool
    binds: frozenset[str] = frozenset()  # module-level names a non-def statement binds (not imports)
    imports: frozenset[str] = frozenset()  # names a non-def statement binds by import
    aliases: tuple[tuple[str, str], ...] = ()  # (imported name, the other name it is bound to)
    idents: frozenset[str] | None = None

    def identifiers(self) -> frozenset[str]:
        if self.idents is None:
            self.idents = frozenset(_IDENT.findall(self.text))
        return self.idents


def reduce_source(source: str, words: Iterable[str]) -> tuple[Reduction | None, bool]:
    """The partial text of ``source`` for rules triggered by ``words``, or None when the whole file
    must be analysed: it does not compile (the whole-file parse reports the error), it uses line
    separators other than ``\\n``/``\\r\\n``, or nothing would be left out. The second item says
    whether CPython compiled the whole text (so the whole-file parse need not again)."""
    if "\r" in source.replace("\r\n", "\n"):
        return None, False  # lone CR line ends: keep the one well-trodden path
    try:
        tree = compile(source, "<tapelint>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return None, False
    lines = source.split("\n")
    units = _units(tree, lines)
    defs = [u for u in units if u.is_def]
    if not defs:
        return None, True
    words = tuple(words)
    modules = [u for u in units if not u.is_def]

    # A name an import binds to something spelt with a trigger word is a trigger word too.
    aliases = {alias for u in modules for name, alias in u.aliases if any(w in name for w in words)}
    seed_words = words + tuple(sorted(aliases))

    kept_defs = [u for u in defs if _mentions(u, seed_words) or _GLOBAL.search(u.text)]
    relevant = [u for u in modules if u.binds and any(w in u.text for w in words)]
    kept_ids = {id(u) for u in kept_defs}
    relevant_ids = {id(u) for u in relevant}

    changed = True
    while changed and len(kept_ids) < len(defs):
        changed = False
        mentioned: set[str] = set()  # identifiers the kept code uses
        wanted: set[str] = set()  # names whose users must be kept too
        functions: set[str] = set()  # every function defined in the kept code, at any depth
        for u in kept_defs:
            mentioned |= u.identifiers()
            wanted.add(u.name)
            functions |= set(_DEF_NAME.findall(u.text))
        for u in relevant:
            mentioned |= u.identifiers()
            wanted |= u.binds
        for u in modules:
            if id(u) not in relevant_ids and u.binds and (u.binds & mentioned or u.identifiers() & wanted):
                relevant.append(u)
                relevant_ids.add(id(u))
                changed = True
        for u in defs:
            if id(u) in kept_ids:
                continue
            # `tf.function(x.step)` anywhere makes every function named `step` a traced one.
            if u.name in mentioned or u.identifiers() & wanted or (
                    "function" in u.text and u.identifiers() & functions):
                kept_defs.append(u)
                kept_ids.add(id(u))
                changed = True
    if len(kept_ids) == len(defs):
        return None, True

    out = list(lines)
    dropped = 0
    for u in defs:
        if id(u) not in kept_ids:
            for i in range(u.first, u.last + 1):
                out[i] = "\r" if lines[i].endswith("\r") else ""
            dropped += u.last - u.first + 1
    kept_names = tuple(u.name for u in defs if id(u) in kept_ids)
    return Reduction("\n".join(out), kept_names, len(lines) - dropped, len(lines)), True


def _mentions(unit: _Unit, words: tuple[str, ...]) -> bool:
    text = unit.text
    return any(w in text for w in words)


def _units(tree: ast.Module, lines: list[str]) -> list[_Unit]:
    units = []
    for stmt in tree.body:
        first = stmt.lineno - 1
        if isinstance(stmt, _DEFS) and stmt.decorator_list:
            first = min(first, min(d.lineno for d in stmt.decorator_list) - 1)
        last = (stmt.end_lineno or stmt.lineno) - 1
        text = "\n".join(lines[first:last + 1])
        if isinstance(stmt, _DEFS):
            units.append(_Unit(first, last, stmt.name, text, True))
        else:
            binds, imports, aliases = _module_bindings(stmt)
            units.append(_Unit(first, last, None, text, False, frozenset(binds - imports), frozenset(imports),
                               tuple(aliases), _names_used(stmt)))
    return units


def _names_used(stmt: ast.stmt) -> frozenset[str]:
    """The names and attribute names a top-level statement mentions in code (not in strings: an
    ``__all__`` list must not make every function it names relevant)."""
    out = set()
    for node in ast.walk(stmt):
        if isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, ast.Attribute):
            out.add(node.attr)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, ast.keyword) and node.arg:
            out.add(node.arg)
        elif isinstance(node, ast.alias):
            out.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.arg):
            out.add(node.arg)
    return frozenset(out)


def _module_bindings(stmt: ast.stmt) -> tuple[set[str], set[str], list[tuple[str, str]]]:
    """Names a top-level statement binds in the module scope (not descending into nested scopes,
    except for the names of functions and classes defined inside ``if``/``try`` blocks)."""
    binds: set[str] = set()
    imports: set[str] = set()
    aliases: list[tuple[str, str]] = []
    todo: list[ast.AST] = [stmt]
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name != "*":
                    imports.add(alias.asname or alias.name.split(".")[0])
                    if alias.asname:
                        aliases.append((alias.name, alias.asname))
            continue
        if isinstance(node, _DEFS):
            binds.add(node.name)
            continue
        if isinstance(node, _NESTED_SCOPES):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            binds.add(node.id)
        elif isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
            binds.add(node.target.id)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            binds.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            binds.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            binds.add(node.rest)
        todo.extend(ast.iter_child_nodes(node))
    return binds, imports, aliases


def verify(module, reduction: Reduction) -> bool:
    """The parsed partial module holds exactly the top-level defs and classes meant to be kept."""
    import libcst as cst

    names = tuple(s.name.value for s in module.body if isinstance(s, (cst.FunctionDef, cst.ClassDef)))
    return names == reduction.kept
