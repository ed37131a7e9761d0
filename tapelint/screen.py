"""The screen: a second cheap test, between the pre-filter and libcst, on what CPython reads of a file.

The pre-filter (:mod:`tapelint.prefilter`) keeps a file when a rule's trigger word occurs in it. Some
words are common: `kernel`, `bias`, `Variable`, `gradients` occur in most files of TensorFlow's and
Keras's own sources, where those rules almost never have anything to say. So a rule may declare a
*screen*: a test, true wherever the rule can report something, on facts read from the text (`str.find`
of a word followed by `(`), from the logical lines around the words that matter (each compiled alone
by CPython, :mod:`tapelint.logical_lines`), or from the module's syntax tree (CPython builds it about
ten times faster than libcst). A file none of whose rules passes its screen is done without libcst or
the semantic model; one ruled out before its whole text was compiled is not parsed at all, as if it
held no trigger word.

A screen must never be false where the rule would report: it looks at the same constructs as the
rule, through names only (no scopes, no dataflow), and so accepts a superset; read from logical lines,
a fact is the one the whole tree gives. ``tests/test_screen.py`` checks each screen against its rule's
examples and the fixtures, with and without logical lines, and the benchmark compares every finding
with a run without screens (``--whole-files``).
"""

from __future__ import annotations

import ast
import bisect
import re
from collections.abc import Iterable
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING

from tapelint.logical_lines import LogicalLines
from tapelint.semantic import names as N
from tapelint.source import compile_quietly

if TYPE_CHECKING:
    from tapelint.screen_custom_gradients import CustomGradientSites
    from tapelint.screen_tapes import TapeSites

# Callables that create a variable: the last part of every spelling the semantic model knows
# (`tf.Variable`, `resource_variable_ops.ResourceVariable`, `keras.backend.variable`), and the
# methods `self.add_weight(...)`/`add_variable(...)`.
VARIABLE_MAKERS = frozenset({"Variable", "ResourceVariable", "variable", "add_weight", "add_variable"})
# The trigger words of the rules about variables: every maker, called or imported under another name,
# holds one. `keras.backend.variable` (`K.variable(...)` in tf.keras code) counts only so: the word alone
# is in the prose of most of TensorFlow's files.
VARIABLE_TRIGGERS = ("Variable", "variable(", "variable as", "add_weight", "add_variable")
# What the canonical name of every call whose result the semantic model takes for a tensor starts with.
TENSOR_CALLS = ("tensorflow.", "keras.ops.")


def last_name(expr: ast.expr) -> str | None:
    """``w`` for ``w``, ``self.w``, ``a.b.w``; None for anything else."""
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        return expr.attr
    return None


def _flat_targets(target: ast.expr) -> list[ast.expr]:
    if isinstance(target, (ast.Tuple, ast.List)):
        return [t for e in target.elts for t in _flat_targets(e)]
    if isinstance(target, ast.Starred):
        return _flat_targets(target.value)
    return [target]


# Between a name and its `(` there may be spaces, line continuations, closing parentheses and comments.
_GAP = r"(?:[\s\\)]|#[^\n]*(?![^\n]))*"
# Between an imported name and its `as`, and between `as` and the alias: spaces, line continuations,
# comments (in a parenthesised import).
_AS_GAP = r"(?:[\s\\]|#[^\n]*(?![^\n]))+"
_AS = re.compile(r"\sas[\s\\]")
# The word `as`, matched before the look back at what precedes it: a pattern that starts with a literal
# is searched for fast.
_AS_WORD = r"as(?<![A-Za-z0-9_]as)"
_AFTER_AS = re.compile(_AS_WORD + _AS_GAP + r"([A-Za-z0-9_]*)")
_LINE_BREAK = re.compile(r"\r\n?|\n")


class Pattern:
    """Where one of ``words`` occurs (as a whole identifier, or with ``prefix`` any identifier ending
    in it) and ``tail`` matches right after it. Found with `str.find`, far faster than a regular
    expression that cannot start from a literal."""

    def __init__(self, words: tuple[str, ...], tail: str, *, prefix: bool = False) -> None:
        self.words = words
        self.tail = re.compile(tail)
        self.prefix = prefix

    def search(self, text: str) -> bool:
        return next(self._matches(text), None) is not None

    def offsets(self, text: str) -> list[int]:
        """Where it matches (the offsets of the words)."""
        return list(self._matches(text))

    def lines(self, text: str) -> set[int]:
        """The (1-based) lines where it matches, as CPython numbers them (a lone `\r` ends a line too)."""
        if "\r" not in text:
            out, line, previous = set(), 1, 0
            for at in sorted(self._matches(text)):  # (each newline counted once)
                line += text.count("\n", previous, at)
                previous = at
                out.add(line)
            return out
        starts = [0] + [m.end() for m in _LINE_BREAK.finditer(text)]
        return {bisect.bisect_right(starts, at) for at in self._matches(text)}

    def _matches(self, text: str):
        for word in self.words:
            at = text.find(word)
            while at >= 0:
                end = at + len(word)
                if (self.prefix or at == 0 or not _IDENTIFIER(text[at - 1])) and self.tail.match(text, end):
                    yield at
                at = text.find(word, end)


@lru_cache(maxsize=64)
def _aliased_pattern(names: frozenset[str]) -> Pattern:
    """Where one of ``names`` is followed by `as` (a superset of the imports that alias one of them)."""
    return Pattern(tuple(sorted(names)), _AS_GAP + r"as(?![A-Za-z0-9_])")


def _IDENTIFIER(char: str) -> bool:
    return char.isalnum() or char == "_"


_CALLED = r"(?:" + _GAP + r"\(|" + _AS_GAP + r"as[\s\\#])"
# What may follow a whole identifier.
WORD_END = r"(?![A-Za-z0-9_])"


def call_pattern(*names: str) -> Pattern:
    """Where one of ``names`` is called or imported under an alias (a superset of both)."""
    return Pattern(names, _CALLED)


# A call of (or an import alias of) a variable maker, named as a whole (`get_variable(...)` is not one:
# the semantic model knows makers by their qualified names): a file without one has no variable names.
MAKER_CALL = call_pattern("Variable", "ResourceVariable", "variable", "add_weight", "add_variable")
TAPE_CALL = call_pattern("GradientTape")
DIFFERENTIATION_CALL = call_pattern("gradient", "jacobian", "batch_jacobian")
# `@tf.custom_gradient` (no call) as well as `tf.custom_gradient(f)` and `@custom_gradient(...)`.
CUSTOM_GRADIENT_USE = Pattern(("custom_gradient",), WORD_END)
DIFFERENTIATIONS = frozenset({"gradient", "jacobian", "batch_jacobian"})
# What the semantic model finds custom gradients and tapes by (canonical qualified names).
CUSTOM_GRADIENT_NAMES = frozenset({N.CUSTOM_GRADIENT})
GRADIENT_TAPE_NAMES = frozenset({N.GRADIENT_TAPE})
_TAPE_NAMES = frozenset({"GradientTape"})

# Read on the text with strings and comments blanked (tapelint.logical_lines). What may follow a name a
# store binds: `w =`, `w -=`, `w: T =`, `w :=`, `w, v =`, `(w) =`, `[w] =`.
# `=` or an augmented assignment's `op=`, not `==`.
ASSIGNMENT = r"(?:[-+*/%@&|^]|//|\*\*|>>|<<)?=(?!=)"
TARGET_TAIL = re.compile(r"[\s\\)\]]*(?:[,:]|" + ASSIGNMENT + ")")
# What may follow a name that is a whole value, or an element of a tuple value: `= w`, `= v, w`, `= (w)`.
VALUE_TAIL = re.compile(r"[ \t\f\\)\]]*(?:[,;\r\n]|\Z)")
# A logical line is read alone only while the lines read stay under this share of the text: past it,
# compiling the whole text once costs less.
_LOCAL_SHARE = 1 / 3


class Unparsable(Exception):
    """The text does not compile."""


def compile_tree(source: str) -> ast.Module | None:
    """CPython's syntax tree of ``source``, or None where it does not compile."""
    try:
        return compile_quietly(source, "<tapelint>", ast.PyCF_ONLY_AST)
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return None


class Facts:
    """What a module's text and CPython syntax tree tell the screens; each part computed on demand.

    Screens test the text first (`str.find`, far cheaper than compiling), and only where the text
    holds what they look for compile it and walk its statements (every node only for ``calls``).

    Questions about a few words (which stores mention `w`, is `tf` imported) are answered, until the
    tree is compiled, from the logical lines that hold those words, each compiled alone
    (:mod:`tapelint.logical_lines`): the answers are those the whole tree gives, at a fraction of its
    cost. Where the lines cannot be read for certain, or would be much of the text, the whole text
    is compiled instead."""

    def __init__(self, text: str, tree: ast.Module | None = None) -> None:
        self.text = text
        self._tree = tree
        self._compiled = tree is not None
        self._local = True
        self._lines: LogicalLines | None = None
        self._line_statements: dict[tuple[int, int], list[ast.stmt]] = {}  # logical line -> statements
        self._line_starts: list[int] = []  # sorted starts of the logical lines read
        self._line_ends: dict[int, int] = {}
        self._word_lines: dict[tuple[str | Pattern, re.Pattern | None, bool], list[tuple[int, int]]] = {}
        self._local_chars = 0
        self._scope_cache: dict[int, tuple[dict[str, list[ast.AST]], frozenset[str], frozenset[str]]] = {}
        self._unaliased: dict[str, str] = {}
        self._binding_counts: dict[str, int] = {}
        self._starts: dict[int, list[int]] = {}  # id of a statement list -> each statement's first line

    @property
    def tree(self) -> ast.Module:
        """CPython's syntax tree, compiled on first use; raises :class:`Unparsable` where the text
        does not compile (the screen that asked then keeps its rule, and libcst reports the error)."""
        if not self._compiled:
            self._compiled = True
            self._tree = compile_tree(self.text)
        if self._tree is None:
            raise Unparsable
        return self._tree

    @property
    def compiled(self) -> bool:
        """Whether the text has been compiled (by a screen that asked for the tree)."""
        return self._compiled

    @property
    def local(self) -> bool:
        """Whether questions about words are answered from logical lines (see the class)."""
        return self._local and not self._compiled

    def _local_statements(self, words: Iterable[str], tail: re.Pattern | None = None,
                          where: Pattern | None = None, valued: bool = False) -> list[ast.stmt] | None:
        """Every statement, nested ones included, of the logical lines where one of ``words`` occurs
        in the code (followed by what ``tail`` matches, if given) or ``where`` matches the text; None
        where they are not read alone (the caller then looks at the whole tree). ``valued``: only the
        lines whose code holds `=` (every assignment with a value, augmented and `:=` ones included)."""
        if self._readable_lines() is None:
            return None
        keys = [(word, tail, valued) for word in words] + ([(where, None, valued)] if where is not None else [])
        new: list[tuple[int, int]] = []
        for key in keys:
            if key not in self._word_lines:
                what = key[0]
                offsets = what.offsets(self.text) if isinstance(what, Pattern) else self._lines.occurrences(what, tail)
                found = self._spans_at(offsets, new, "=" if valued else None)
                if found is None:
                    self._local = False
                    return None
                self._word_lines[key] = found
        if not self._read(new):
            self._local = False
            return None
        spans = sorted({span for key in keys for span in self._word_lines[key]})
        return _flatten([stmt for span in spans for stmt in self._line_statements[span]])

    def withs_around(self, words: Iterable[str]) -> list[ast.With | ast.AsyncWith] | None:
        """The `with` statements whose body holds code where one of ``words`` occurs (or whose own
        logical line does), their headers found from the indentation of the lines before the words
        (:meth:`LogicalLines.enclosing`) and each compiled alone, with an empty body; None where the
        lines are not read alone (the caller then looks at the whole tree)."""
        lines = self._readable_lines()
        if lines is None:
            return None
        new: list[tuple[int, int]] = []
        spans: set[tuple[int, int]] = set()
        for word in words:
            for at in lines.occurrences(word):
                own = self._spans_at([at], new)
                around = None if own is None else lines.enclosing(own[0][0])
                headers = None if around is None else self._spans_at(around, new)
                if headers is None:
                    self._local = False
                    return None
                spans.update(own + headers)
        if not self._read(new):
            self._local = False
            return None
        return [s for span in sorted(spans) for s in self._line_statements[span]
                if isinstance(s, (ast.With, ast.AsyncWith))]

    def _readable_lines(self) -> LogicalLines | None:
        """The logical lines of the text, where questions are still answered from them (see the class)."""
        if not self.local:
            return None
        if self._lines is None:
            self._lines = LogicalLines(self.text)
            if self._lines.code is None:
                self._local = False
                return None
        return self._lines

    def _read(self, new: list[tuple[int, int]]) -> bool:
        """Compile the logical lines ``new`` (each alone); False where they do not compile so, or the
        lines read would be too much of the text."""
        if not new:
            return True
        self._local_chars += sum(end - start for start, end in new)
        compiled = None if self._local_chars > _LOCAL_SHARE * len(self.text) else self._lines.statements(new)
        if compiled is None:
            return False
        self._line_statements.update(compiled)
        return True

    def _spans_at(self, offsets: Iterable[int], new: list[tuple[int, int]],
                  holding: str | None = None) -> list[tuple[int, int]] | None:
        """The logical lines holding ``offsets`` (only those whose code holds ``holding``, if given);
        those not read before are added to ``new``."""
        found = []
        code = self._lines.code
        passed = (0, 0)  # the last line left out (offsets come in order)
        for at in offsets:
            if passed[0] <= at < passed[1]:
                continue
            span = self._line_holding(at)
            if span is None:
                span = self._lines.span(at)
                if span is None:
                    return None
                if holding is not None and code.find(holding, span[0], span[1]) < 0:
                    passed = span  # not read: a later question that wants the line reads it then
                    continue
                new.append(span)
                bisect.insort(self._line_starts, span[0])
                self._line_ends[span[0]] = span[1]
                self._line_statements[span] = []
            found.append(span)
        return found

    def _line_holding(self, offset: int) -> tuple[int, int] | None:
        i = bisect.bisect_right(self._line_starts, offset) - 1
        if i < 0:
            return None
        start = self._line_starts[i]
        end = self._line_ends[start]
        return (start, end) if offset < end else None

    def stores_mentioning(self, words: Iterable[str], tail: re.Pattern | None = None,
                          valued: bool = False) -> list[ast.stmt | ast.NamedExpr]:
        """The stores (as :attr:`stores`) of the logical lines where one of ``words`` occurs, followed
        by what ``tail`` matches; every store of the module where the lines are not read alone.
        ``valued``: the caller ignores an annotation without a value (`w: tf.Variable`), which may
        then be left out (a logical line without `=` is not compiled)."""
        statements = self._local_statements(words, tail, valued=valued)
        if statements is None:
            return self.stores
        out: list[ast.stmt | ast.NamedExpr] = [
            s for s in statements if isinstance(s, (ast.Assign, ast.AnnAssign, ast.AugAssign))]
        if self._walrus:
            out += [n for s in statements for e in _own_expressions(s) for n in ast.walk(e)
                    if isinstance(n, ast.NamedExpr)]
        return out

    @cached_property
    def _walrus(self) -> bool:
        """The text may hold an assignment expression (searched once: stores are asked for often)."""
        return ":=" in self.text

    def syntax_tree(self) -> ast.Module | None:
        """The syntax tree, or None where the text does not compile."""
        try:
            return self.tree
        except Unparsable:
            return None

    @cached_property
    def statements(self) -> list[ast.stmt]:
        """Every statement, nested ones included."""
        return _flatten(self.tree.body)

    @cached_property
    def stores(self) -> list[ast.stmt | ast.NamedExpr]:
        """Every Assign, AnnAssign, AugAssign and walrus."""
        out: list[ast.stmt | ast.NamedExpr] = [
            s for s in self.statements if isinstance(s, (ast.Assign, ast.AnnAssign, ast.AugAssign))]
        if self._walrus:
            out += [n for n in ast.walk(self.tree) if isinstance(n, ast.NamedExpr)]
        return out

    @cached_property
    def stores_by_name(self) -> dict[str, list[tuple[ast.Name, ast.stmt | ast.NamedExpr]]]:
        """Name -> (the name bound, the store) for every assignment with a value (plain, augmented,
        annotated, walrus) that binds it, in the order the stores end (a binding holds after its store)."""
        out: dict[str, list[tuple[ast.Name, ast.stmt | ast.NamedExpr]]] = {}
        for store in sorted(self.stores, key=lambda s: (s.end_lineno, s.end_col_offset)):
            if isinstance(store, ast.AnnAssign) and store.value is None:
                continue  # (binds nothing: an earlier binding still reaches past it)
            for target in store.targets if isinstance(store, ast.Assign) else [store.target]:
                for name in _flat_targets(target):
                    if isinstance(name, ast.Name):
                        out.setdefault(name.id, []).append((name, store))
        return out

    @cached_property
    def withs(self) -> list[ast.With | ast.AsyncWith]:
        return [s for s in self.statements if isinstance(s, (ast.With, ast.AsyncWith))]

    def withs_mentioning(self, words: Iterable[str]) -> list[ast.With | ast.AsyncWith]:
        """The `with` statements whose header holds one of ``words``; all of them where the logical
        lines are not read alone."""
        statements = self._local_statements(words)
        if statements is None:
            return self.withs
        return [s for s in statements if isinstance(s, (ast.With, ast.AsyncWith))]

    @cached_property
    def calls(self) -> list[ast.Call]:
        return [n for n in ast.walk(self.tree) if isinstance(n, ast.Call)]

    @cached_property
    def _aliases(self) -> dict[str, set[str]]:
        """Name an import binds with `as` -> the last parts of what the imports that so bind it import
        (several, where imports in different scopes alias different things to one name)."""
        out: dict[str, set[str]] = {}
        if not _AS.search(self.text):
            return out
        for stmt in self._imports:
            for alias in stmt.names:
                if alias.asname is not None:
                    out.setdefault(alias.asname, set()).add(alias.name.rsplit(".", 1)[-1])
        return out

    @cached_property
    def _imports(self) -> list[ast.Import | ast.ImportFrom]:
        """Every import statement, in order."""
        statements = self._local_statements(("import",))
        if statements is None:
            statements = self.statements
        return [s for s in statements if isinstance(s, (ast.Import, ast.ImportFrom))]

    @cached_property
    def _import_bindings(self) -> dict[str, set[str]]:
        """Name -> the dotted names imports anywhere in the module bind it to, as the semantic model
        binds them (`import a.b` binds `a` to `a`, `from .m import f` binds `f` to `.m.f`; a star
        import binds nothing)."""
        out: dict[str, set[str]] = {}
        for stmt in self._imports:
            if isinstance(stmt, ast.Import):
                for alias in stmt.names:
                    bound, name = (alias.asname, alias.name) if alias.asname else (alias.name.split(".")[0],) * 2
                    out.setdefault(bound, set()).add(name)
                continue
            base = "." * stmt.level + (stmt.module or "")
            for alias in stmt.names:
                if alias.name != "*":
                    name = base + alias.name if base.endswith(".") else f"{base}.{alias.name}"
                    out.setdefault(alias.asname or alias.name, set()).add(name)
        return out

    def may_refer_to(self, expr: ast.expr, qualified: frozenset[str]) -> bool:
        """``expr`` (a name or a dotted attribute) may refer to one of ``qualified`` (canonical names,
        as the semantic model's ``qualified_name`` gives them) through an import of its root name
        somewhere in the module. The model resolves a name only where every binding of it in its scope
        is the same import; this takes every import of the name, a superset."""
        return any(name in qualified for name in self._qualified_names(expr))

    def may_refer_under(self, expr: ast.expr, prefixes: tuple[str, ...], but: frozenset[str] = frozenset()) -> bool:
        """``expr`` may refer to a canonical name that starts with one of ``prefixes`` and is not one of
        ``but`` (as :meth:`may_refer_to`: `tf.math.exp` and `K.ops.exp` are under `tensorflow.` and
        `keras.ops.`)."""
        return any(name.startswith(prefixes) and name not in but for name in self._qualified_names(expr))

    def may_only_refer_to(self, expr: ast.expr, qualified: frozenset[str]) -> bool:
        """Every canonical name the imports of its root can give ``expr`` is one of ``qualified`` (and
        there is one): the semantic model resolves it to one of them, or to nothing."""
        names = self._qualified_names(expr)
        return bool(names) and all(name in qualified for name in names)

    def surely_refers_to(self, expr: ast.expr, qualified: frozenset[str]) -> bool:
        """``expr`` (a name or a dotted attribute) refers to one of ``qualified`` wherever it is, as
        the semantic model resolves it: its root name is bound by one import, at the module level,
        that makes it one of them, and by nothing else in the module (no other import, assignment,
        parameter, definition...), so every scope reads that import. The converse of
        :meth:`may_refer_to`, for a screen that leaves out what the rule leaves out."""
        names = self._qualified_names(expr)  # (first: far cheaper than the module's bindings)
        if len(names) != 1 or names[0] not in qualified:
            return False
        root = expr
        while isinstance(root, ast.Attribute):
            root = root.value
        return self.bindings_of(root.id) == 1

    def names_imported_as(self, qualified: frozenset[str]) -> frozenset[str]:
        """The names some import binds to one of ``qualified`` (canonical names): only such a name, as
        a whole, may refer to one of them (:meth:`may_refer_to`, :meth:`surely_refers_to`)."""
        return frozenset(name for name, targets in self._import_bindings.items()
                         if any(N.canonical(t) in qualified for t in targets))

    def bindings_of(self, name: str) -> int:
        """How many times the module binds ``name``, as :attr:`_bindings_by_name` counts (an import at
        the module level once, any other binding twice), read from the statements that cover a line
        where the name is written; from the whole tree where the text spells some identifier otherwise
        than CPython reads it (it is not NFKC-normalised)."""
        known = self._binding_counts.get(name)
        if known is not None:
            return known
        if not self.spelled_as_read:
            known = self._binding_counts[name] = self._bindings_by_name.get(name, 0)
            return known
        weights: dict[int, int] = {}  # id of a binding node -> its weight
        for line in Pattern((name,), WORD_END).lines(self.text):
            for stmt in self.statements_covering(line):
                t = type(stmt)
                if (t is ast.FunctionDef or t is ast.AsyncFunctionDef or t is ast.ClassDef) and stmt.name == name:
                    weights[id(stmt)] = 2
                elif t is ast.Global or t is ast.Nonlocal:
                    weights[id(stmt)] = 2 * stmt.names.count(name)
                elif t is ast.Import or t is ast.ImportFrom:
                    weight = 1 if self.scope_of(stmt) is self.tree else 2
                    for alias in stmt.names:
                        if alias.name != "*" and (alias.asname or alias.name.split(".")[0]) == name:
                            weights[id(alias)] = weight
                for handler in getattr(stmt, "handlers", ()):
                    if handler.name == name:
                        weights[id(handler)] = 2
                for node in own_nodes_on(stmt, line):
                    t = type(node)
                    if (t is ast.Name and node.id == name and type(node.ctx) is not ast.Load) or \
                            (t is ast.arg and node.arg == name) or \
                            ((t is ast.MatchAs or t is ast.MatchStar) and node.name == name) or \
                            (t is ast.MatchMapping and node.rest == name):
                        weights[id(node)] = 2
        known = self._binding_counts[name] = sum(weights.values())
        return known

    @cached_property
    def spelled_as_read(self) -> bool:
        """Every identifier of the text is spelt as CPython reads it (NFKC), so a name is found where
        its spelling is written."""
        import unicodedata

        return self.text.isascii() or unicodedata.is_normalized("NFKC", self.text)

    @cached_property
    def _bindings_by_name(self) -> dict[str, int]:
        """Name -> how many times the module binds it, where every binding but an import at the module
        level counts as two (the name is then no import's for certain)."""
        out: dict[str, int] = {}

        def bind(name: str, weight: int = 2) -> None:
            out[name] = out.get(name, 0) + weight

        todo: list[tuple[ast.AST, bool]] = [(self.tree, True)]  # (node, at the module level)
        while todo:
            node, top = todo.pop()
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    if alias.name != "*":
                        bind(alias.asname or alias.name.split(".")[0], 1 if top else 2)
                continue
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bind(node.name)
            elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                bind(node.id)
            elif isinstance(node, ast.arg):
                bind(node.arg)
            elif isinstance(node, (ast.Global, ast.Nonlocal)):
                for name in node.names:
                    bind(name)
            elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
                bind(node.name)
            elif isinstance(node, ast.MatchMapping) and node.rest:
                bind(node.rest)
            inner = top and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))
            todo += [(child, inner) for child in ast.iter_child_nodes(node)]
        return out

    def _qualified_names(self, expr: ast.expr) -> list[str]:
        """The canonical names ``expr`` can have through the imports of its root name."""
        attributes: list[str] = []
        while isinstance(expr, ast.Attribute):
            attributes.append(expr.attr)
            expr = expr.value
        if not isinstance(expr, ast.Name):
            return []
        out = []
        for name in self._import_bindings.get(expr.id, ()):
            name = N.canonical(name)
            for attribute in reversed(attributes):
                name = N.canonical(f"{name}.{attribute}")
            out.append(name)
        return out

    def may_call(self, call: ast.Call, names: frozenset[str] | set[str], qualified: frozenset[str]) -> bool:
        """``call`` calls something named one of ``names`` (through `as` aliases) that an import can
        make one of ``qualified`` (see :meth:`may_refer_to`)."""
        return not self.callees(call).isdisjoint(names) and self.may_refer_to(call.func, qualified)

    def unaliases(self, name: str) -> frozenset[str]:
        """The name itself and the last parts of what imports that bind it with `as` import (`Variable`
        for `V` of `from tf import Variable as V`): what `name` may stand for."""
        known = self._unaliased.get(name)
        if known is None:
            # Only an import that says `as name` binds it by alias: without those words in the text,
            # the imports need not be read.
            if "_aliases" in self.__dict__:
                aliased = True
            elif name.isascii():
                aliased = name in self._written_after_as
            else:  # (the run of ASCII characters after `as` may be the start of this name)
                aliased = re.search(_AS_WORD + _AS_GAP + re.escape(name) + r"(?![A-Za-z0-9_])", self.text)
            known = self._unaliased[name] = frozenset({name, *self._aliases.get(name, ())}) if aliased \
                else frozenset({name})
        return known

    @cached_property
    def _written_after_as(self) -> frozenset[str]:
        """The runs of ASCII identifier characters written after the word `as` (and the spaces, line
        continuations and comments after it): every name an import binds with `as` that is ASCII."""
        return frozenset(_AFTER_AS.findall(self.text))

    def aliases_of(self, names: frozenset[str] | set[str]) -> list[str]:
        """The names imports bind with `as` to something whose last part is one of ``names``
        (`V` of `from tf import Variable as V` for `Variable`)."""
        if "_aliases" not in self.__dict__ and not _aliased_pattern(frozenset(names)).search(self.text):
            return []  # no `Variable as` in the text: no import aliases it
        return [a for a, targets in self._aliases.items() if not targets.isdisjoint(names)]

    def callees(self, call: ast.Call) -> frozenset[str]:
        """The last parts the name a call calls may have, through `import ... as` aliases."""
        func = call.func
        if isinstance(func, ast.Name):
            return self.unaliases(func.id)
        if isinstance(func, ast.Attribute):
            return frozenset({func.attr})
        return frozenset()

    def called(self, names: frozenset[str] | set[str], where: Pattern | None = None) -> bool:
        """Something named one of ``names`` is called. With ``where`` (a pattern matching every such
        call in the text), only the statements where it matches (or where an import alias of one of
        ``names`` occurs) are walked, not the module."""
        return any(not self.callees(c).isdisjoint(names) for c in self.calls_where(where, names))

    def calls_where(self, where: Pattern | None, names: frozenset[str] | set[str] = frozenset()) -> list[ast.Call]:
        """The calls in the statements where ``where`` matches (their own expressions: a compound
        statement's header, not its body), and in those where an import alias of one of ``names``
        occurs; every call of the module where ``where`` is None."""
        if where is None:
            return self.calls
        aliases = self.aliases_of(names)
        statements = self._local_statements(aliases, where=where)
        if statements is not None:
            return [n for s in statements for e in _own_expressions(s) for n in ast.walk(e) if isinstance(n, ast.Call)]
        return self.calls if aliases else self.calls_on_lines(where.lines(self.text))

    def lines_calling(self, where: Pattern, names: frozenset[str] | set[str]) -> list[int]:
        """The lines, sorted, that every call of one of ``names`` spans one of: those where ``where``
        (a pattern matching every such call, as for :meth:`calls_where`) matches or an import alias of
        one of ``names`` is written."""
        lines = where.lines(self.text)
        aliases = self.aliases_of(names)
        if aliases:
            lines |= Pattern(tuple(aliases), WORD_END).lines(self.text)
        return sorted(lines)

    def calls_on_lines(self, lines: set[int]) -> list[ast.Call]:
        """The calls that span one of ``lines``, in the own expressions (a compound statement's header,
        not its body) of the statements that cover it: every one of them, as a header may go on where
        a statement of its body starts (`with f(\n g()): x = 1`)."""
        return [node for node in self.nodes_on_lines(lines) if isinstance(node, ast.Call)]

    def nodes_on_lines(self, lines: Iterable[int]) -> list[ast.AST]:
        """The expression nodes that span one of ``lines``, each once (see :meth:`calls_on_lines`)."""
        out: dict[int, ast.AST] = {}
        for line in lines:
            for stmt in self.statements_covering(line):
                out.update((id(node), node) for node in own_nodes_on(stmt, line))
        return list(out.values())

    def expressions_mentioning(self, name: str) -> list[ast.AST]:
        """The own expressions (see :func:`_own_expressions`) of the statements where ``name`` is
        written: those of the logical lines where it occurs in the code, read alone, or, on the whole
        tree, those covering a line that holds it. Every expression holding a name so spelt is one of
        them or in one (where the text spells identifiers as CPython reads them: :attr:`spelled_as_read`)."""
        statements = self._local_statements((name,))
        if statements is None:
            found = {id(s): s for line in Pattern((name,), WORD_END).lines(self.text)
                     for s in self.statements_covering(line)}
            statements = list(found.values())
        return [e for s in statements for e in _own_expressions(s)]

    def statements_covering(self, line: int) -> list[ast.stmt]:
        """The statements whose lines (a definition's decorators' included) include ``line``, outermost
        first."""
        return statements_on(self.tree, line, self._starts)

    def makes_variable(self, value: ast.expr | None) -> bool:
        """``value`` can be a variable in the semantic model's eyes: a call of a variable maker, a
        name or attribute that may hold one, or a tuple of which an element can."""
        return self._makes_variable(value, self.variable_names)

    def _makes_variable(self, value: ast.expr | None, names: frozenset[str] | set[str]) -> bool:
        while isinstance(value, ast.UnaryOp):
            value = value.operand
        if isinstance(value, ast.Call):
            return self.makes_variable_by_call(value)
        if isinstance(value, (ast.Name, ast.Attribute)):
            return last_name(value) in names
        if isinstance(value, (ast.Tuple, ast.List)):
            return any(self._makes_variable(e, names) for e in value.elts)
        return False

    @cached_property
    def calls_maker(self) -> bool:
        """The text may call a variable maker (MAKER_CALL): without one, there are no variable names."""
        return MAKER_CALL.search(self.text)

    @cached_property
    def maker_names(self) -> frozenset[str]:
        """Names a call of a variable maker is made through: the makers' own and their import aliases."""
        return VARIABLE_MAKERS | set(self.aliases_of(VARIABLE_MAKERS))

    @cached_property
    def variable_names(self) -> frozenset[str]:
        """Last names (`w` of `w` and of `self.w`) that some assignment binds to what can be a
        variable, followed through assignments of one name to another, to a fixed point."""
        names: set[str] = set()
        if not self.calls_maker:
            return frozenset()
        searched: set[str] = set()
        while True:
            # Read from logical lines, only the stores that mention a maker or a name found so far
            # can bind another; the names found meanwhile are then looked for in turn.
            pending = [s for s in self._stores_that_may_make_variables(names)
                       if not isinstance(s, ast.AugAssign) and s.value is not None]
            every_store = not self.local  # (a question below may turn the whole tree on: too late for these)
            changed = True
            while changed:
                changed = False
                for store in pending:
                    if not self._makes_variable(store.value, names):
                        continue
                    targets = store.targets if isinstance(store, ast.Assign) else [store.target]
                    for target in targets:
                        for t in _flat_targets(target):
                            name = last_name(t)
                            if name is not None and name not in names:
                                names.add(name)
                                changed = True
            if every_store or names <= searched:
                return frozenset(names)
            searched = set(names)

    def _stores_that_may_make_variables(self, names: frozenset[str] | set[str]) -> list[ast.stmt | ast.NamedExpr]:
        """The stores whose value may be a variable given ``names`` (see :meth:`makes_variable`):
        those that mention a variable maker or one of ``names`` as a value, once each; every store
        where the lines are not read alone."""
        makers = self.stores_mentioning(self.maker_names, valued=True)
        if not self.local:
            return self.stores
        return list({id(s): s for s in [*makers, *self.stores_mentioning(names, VALUE_TAIL, valued=True)]}.values())

    @cached_property
    def names_made_variables(self) -> frozenset[str]:
        """Last names of targets assigned a call of a variable maker itself (`w = tf.Variable(...)`)."""
        if not self.variable_names:
            return frozenset()

        names: set[str] = set()
        for store in self.stores_mentioning(self.maker_names, valued=True):
            if isinstance(store, ast.AugAssign) or store.value is None or not self._makes_by_call(store.value):
                continue
            for target in store.targets if isinstance(store, ast.Assign) else [store.target]:
                names.update(t.id for t in _flat_targets(target) if isinstance(t, ast.Name))
        return frozenset(names)

    @cached_property
    def self_variable_attributes(self) -> frozenset[str]:
        """Attributes `a` of `self.a = value` where the value can be a variable (the semantic model's
        `self_variables` and `weight_attributes` of a class)."""
        if not self.variable_names:
            return frozenset()
        attrs: set[str] = set()
        for store in self._stores_that_may_make_variables(self.variable_names):
            if isinstance(store, ast.AugAssign) or store.value is None or not self.makes_variable(store.value):
                continue
            for target in store.targets if isinstance(store, ast.Assign) else [store.target]:
                for t in _flat_targets(target):
                    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                        attrs.add(t.attr)
        return frozenset(attrs)

    def read_whole(self) -> None:
        """From now on, answer from the whole syntax tree (compiled here), not from logical lines: for
        questions that need the statements around a store (its class), asked of a few stores."""
        self._local = False
        self.tree  # noqa: B018 - compiles it, or raises Unparsable

    def class_around(self, store: ast.stmt) -> ast.ClassDef | None:
        """The class whose method, or a function nested in one, holds ``store`` (a statement of the
        whole tree), as the semantic model's ``class_around``: the innermost function around it, or
        the next function out, whose definition is directly in a class body."""
        return self._scopes.get(id(store), (self.tree, None))[1]

    def scope_of(self, stmt: ast.stmt) -> ast.AST:
        """The scope ``stmt`` (a statement of the whole tree) is in: the innermost function, lambda or
        class around it, or the module."""
        return self._scopes.get(id(stmt), (self.tree, None))[0]

    @cached_property
    def _scopes(self) -> dict[int, tuple[ast.AST, ast.ClassDef | None]]:
        """id of every statement of the tree -> its scope, and the class around it (``class_around``).
        Only statement lists are walked: no expression holds a statement (a lambda's body is one)."""
        out: dict[int, tuple[ast.AST, ast.ClassDef | None]] = {}
        todo: list[tuple[list[ast.stmt], ast.AST, ast.ClassDef | None]] = [(self.tree.body, self.tree, None)]
        blocks = _BLOCKS
        while todo:  # (statements, the scope they are in, the class around what they hold)
            body, scope, around = todo.pop()
            for stmt in body:
                out[id(stmt)] = (scope, around)
                fields = blocks.get(type(stmt))
                if fields is None:  # a simple statement
                    continue
                t = type(stmt)
                if t is ast.FunctionDef or t is ast.AsyncFunctionDef:
                    inner, inner_around = stmt, scope if isinstance(scope, ast.ClassDef) else around
                elif t is ast.ClassDef:
                    inner, inner_around = stmt, around
                else:
                    inner, inner_around = scope, around
                for field in fields:
                    todo.append((getattr(stmt, field), inner, inner_around))
                for part in getattr(stmt, "handlers", ()):
                    todo.append((part.body, inner, inner_around))
                for part in getattr(stmt, "cases", ()):
                    todo.append((part.body, inner, inner_around))
        return out

    def _bindings(self, scope: ast.AST) -> tuple[dict[str, list[ast.AST]], frozenset[str], frozenset[str]]:
        """Of one scope: its stores by name bound (every Assign, AnnAssign, AugAssign and walrus that
        binds the name there), the names bound there otherwise (parameters, loops, `with`, `except`,
        imports, definitions, `match` captures, `del`), and those declared `global`/`nonlocal`."""
        cached = self._scope_cache.get(id(scope))
        if cached is not None:
            return cached
        stores: dict[str, list[ast.AST]] = {}
        other: set[str] = set()
        declared: set[str] = set()
        if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = scope.args
            other.update(a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg) if a)
            todo: list[ast.AST] = [scope.body] if isinstance(scope, ast.Lambda) else list(scope.body)
        else:
            todo = list(scope.body)
        while todo:
            node = todo.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                other.add(node.name)  # its body is another scope; what the header evaluates is this one's
                todo += node.decorator_list
                if isinstance(node, ast.ClassDef):
                    todo += [*node.bases, *node.keywords]
                else:
                    todo += [*node.args.defaults, *(d for d in node.args.kw_defaults if d),
                             *([node.returns] if node.returns else [])]
                continue
            if isinstance(node, ast.Lambda):
                todo += [*node.args.defaults, *(d for d in node.args.kw_defaults if d)]
                continue
            if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
                for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    for t in _flat_targets(target):
                        if isinstance(t, ast.Name):
                            stores.setdefault(t.id, []).append(node)
            elif isinstance(node, (ast.For, ast.AsyncFor)):
                other.update(t.id for t in _flat_targets(node.target) if isinstance(t, ast.Name))
            elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                other.update(t.id for t in _flat_targets(node.optional_vars) if isinstance(t, ast.Name))
            elif isinstance(node, ast.ExceptHandler) and node.name:
                other.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                other.update((a.asname or a.name.split(".", 1)[0]) for a in node.names)
            elif isinstance(node, (ast.Global, ast.Nonlocal)):
                declared.update(node.names)
            elif isinstance(node, ast.Delete):
                other.update(t.id for t in node.targets if isinstance(t, ast.Name))
            elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
                other.add(node.name)
            elif isinstance(node, ast.MatchMapping) and node.rest:
                other.add(node.rest)
            todo += ast.iter_child_nodes(node)
        result = (stores, frozenset(other), frozenset(declared))
        self._scope_cache[id(scope)] = result
        return result

    def made_variable_in_scope(self, name: str, stmt: ast.stmt) -> bool:
        """In the scope of ``stmt`` (a statement of the tree), some store binds ``name`` to a call of a
        variable maker (as :attr:`names_made_variables`), or ``name`` is declared global or nonlocal
        there: what TL007 needs of the bindings that reach a rebinding of ``name``."""
        scope = self.scope_of(stmt)
        if isinstance(scope, ast.ClassDef):  # a class body may read a name of the module before binding it
            return True
        stores, _, declared = self._bindings(scope)
        if name in declared:
            return True
        return any(not isinstance(s, ast.AugAssign) and s.value is not None and self._makes_by_call(s.value)
                   for s in stores.get(name, ()))

    def may_be_assigned(self, name: str, stmt: ast.stmt) -> bool:
        """A load of ``name`` in ``stmt`` (a statement of the tree) may see an assignment's value that
        is not a new variable: the scope of ``stmt`` assigns it something else than
        `tf.Variable(...)`/`self.add_weight(...)`, or does not bind it at all and some assignment of the
        module does. False where the scope binds it only otherwise (a parameter, a loop variable...)
        or only to new variables (the semantic model's kind of such a name is a variable, or unknown)."""
        scope = self.scope_of(stmt)
        if isinstance(scope, ast.ClassDef):  # a class body may read a name of the module before binding it
            return self.assigns(name)
        stores, other, declared = self._bindings(scope)
        if name in declared:
            return self.assigns(name)
        if name in stores:
            return not all(self._binds_new_variable(s, name) for s in stores[name])
        return name not in other and self.assigns(name)

    def _binds_new_variable(self, store: ast.AST, name: str) -> bool:
        """``store`` is `name = x.add_weight(...)`/`add_variable(...)` on an object no import binds (a
        method call, a variable to the model), or `name = ....Variable(...)` that every import makes a
        variable factory: calls whose result the semantic model takes for a variable, never for a
        tensor (`tf.math.Variable(...)`, not a TensorFlow API, would be one to it)."""
        if not isinstance(store, (ast.Assign, ast.AnnAssign)) or not isinstance(store.value, ast.Call):
            return False
        targets = store.targets if isinstance(store, ast.Assign) else [store.target]
        if [t for t in targets if not (isinstance(t, ast.Name) and t.id == name)]:
            return False
        func = store.value.func
        if not isinstance(func, ast.Attribute):
            return False
        if func.attr in N.VARIABLE_METHODS:
            return not self._qualified_names(func)
        return self.may_only_refer_to(func, N.VARIABLE_FACTORIES)

    def _makes_by_call(self, value: ast.expr) -> bool:
        elements = value.elts if isinstance(value, (ast.Tuple, ast.List)) else [value]
        return any(isinstance(e, ast.Call) and self.makes_variable_by_call(e) for e in elements)

    def makes_variable_by_call(self, call: ast.Call) -> bool:
        """``call`` can make a variable in the semantic model's eyes: a method named `add_weight` or
        `add_variable`, or a callable that an import can make one of the variable factories
        (`tf.Variable`, `keras.Variable`, `resource_variable_ops.ResourceVariable`...; not Keras's own
        `backend.Variable`, which the model does not know)."""
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr in N.VARIABLE_METHODS:
            return True
        return self.may_call(call, VARIABLE_MAKERS, N.VARIABLE_FACTORIES)

    def attributes_made_variables_in(self, cls: ast.ClassDef | None) -> frozenset[str]:
        """Attributes `a` of `self.a = value` anywhere in ``cls`` (nested functions and classes too)
        where the value can be a variable: :attr:`self_variable_attributes`, of one class."""
        if cls is None:
            return frozenset()
        return frozenset(
            t.attr for store in ast.walk(cls) if isinstance(store, (ast.Assign, ast.AnnAssign))
            and store.value is not None and self._may_be_variable_in(store.value, store)
            for target in (store.targets if isinstance(store, ast.Assign) else [store.target])
            for t in _flat_targets(target)
            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self")

    def _may_be_variable_in(self, value: ast.expr, store: ast.stmt, seen: frozenset = frozenset()) -> bool:
        """:meth:`makes_variable`, as the semantic model's kind of ``value`` in ``store`` may be a
        variable, a little closer: another object's attribute (`layer.kernel`, not `self.kernel`) is
        none to it; and a name (the value, or an element of it) that the function around ``store``
        binds, without declaring it global or nonlocal, can hold one only where an assignment of that
        function gives it a value that can (the bindings that reach the name are all that function's;
        a parameter, a loop variable or an augmented assignment is no variable to the model); a name
        it does not bind, the same in the nearest function around it that does. So a weight-norm
        wrapper's `self.v = kernel`, where `build` binds `kernel` to another layer's weight and only
        `remove` makes a variable of its own `kernel`, is no variable attribute; nor is a layer class
        made in a function that stores a parameter of that function (innvestigate's
        `self._kernel_to_be = _kernel`, `_kernel = kernel`)."""
        while isinstance(value, ast.UnaryOp):
            value = value.operand
        if isinstance(value, (ast.Tuple, ast.List)):
            return any(self._may_be_variable_in(e, store, seen) for e in value.elts)
        if isinstance(value, ast.Attribute) and not (isinstance(value.value, ast.Name) and value.value.id == "self"):
            return False
        if isinstance(value, ast.Name):
            name = value.id
            scope = self.scope_of(store)
            while isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                stores, other, declared = self._bindings(scope)
                # (an annotation without a value binds nothing to the model, which then reads the name
                # from the scopes around: there, a module-wide answer)
                bare = any(isinstance(s, ast.AnnAssign) and s.value is None for s in stores.get(name, ()))
                if name in declared or bare:
                    break
                if name in stores or name in other:
                    if (id(scope), name) in seen:  # (a cycle of names: unknown to the model)
                        return False
                    seen = seen | {(id(scope), name)}
                    return any(isinstance(s, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and s.value is not None
                               and self._may_be_variable_in(s.value, s, seen) for s in stores.get(name, ()))
                # A name the function does not bind is read from the functions around it, as Python
                # reads it (a class body between is skipped): a closure's `_kernel = kernel`.
                scope = self.scope_of(scope)
                while isinstance(scope, ast.ClassDef):
                    scope = self.scope_of(scope)
        return self.makes_variable(value)

    @cached_property
    def imported_names(self) -> frozenset[str] | None:
        """Names imports bind (None where a star import may bind any)."""
        if any(a.name == "*" for stmt in self._imports if isinstance(stmt, ast.ImportFrom) for a in stmt.names):
            return None
        return frozenset(self._import_bindings)

    def imported(self, expr: ast.expr) -> bool:
        """The root of a dotted name (`tf` of `tf.math.exp`) is bound by an import."""
        while isinstance(expr, ast.Attribute):
            expr = expr.value
        names = self.imported_names
        return isinstance(expr, ast.Name) and (names is None or expr.id in names)

    @cached_property
    def assigned_names(self) -> frozenset[str]:
        """Names that some assignment (not an import, parameter or loop) binds."""
        return _names_bound(self.stores)

    def assigns(self, name: str) -> bool:
        """Some assignment (not an import, parameter or loop) binds ``name``."""
        if not self.local:
            return name in self.assigned_names
        return name in _names_bound(self.stores_mentioning((name,), TARGET_TAIL))

    @cached_property
    def applies_custom_gradient(self) -> bool:
        """Something named `custom_gradient` that an import can make `tf.custom_gradient` decorates a
        function or is called: how the semantic model finds every custom gradient (Keras's own
        `keras.ops.custom_gradient` is not one)."""
        if not CUSTOM_GRADIENT_USE.search(self.text):
            return False
        aliases = self.aliases_of({"custom_gradient"})
        statements = self._local_statements(aliases, where=CUSTOM_GRADIENT_USE)
        for stmt in self.statements if statements is None else statements:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for deco in stmt.decorator_list:
                    expr = deco.func if isinstance(deco, ast.Call) else deco
                    names = self.unaliases(expr.id) if isinstance(expr, ast.Name) else {last_name(expr)}
                    if "custom_gradient" in names and self.may_refer_to(expr, CUSTOM_GRADIENT_NAMES):
                        return True
        return self.calls_to({"custom_gradient"}, CUSTOM_GRADIENT_NAMES, CUSTOM_GRADIENT_USE)

    def calls_to(self, names: frozenset[str] | set[str], qualified: frozenset[str], where: Pattern) -> bool:
        """Something named one of ``names`` is called that an import can make one of ``qualified`` (see
        :meth:`may_refer_to`); ``where`` matches every such call in the text (see :meth:`calls_where`)."""
        return any(self.may_call(c, names, qualified) for c in self.calls_where(where, names))

    @cached_property
    def uses_autodiff(self) -> bool:
        """The code (not its strings and comments, where those can be told apart) shows a call of
        `GradientTape` or a use of `custom_gradient`, whatever they are imported as."""
        if not (TAPE_CALL.search(self.text) or CUSTOM_GRADIENT_USE.search(self.text)):
            return False
        if self._lines is None:
            self._lines = LogicalLines(self.text)
        code = self._lines.code
        return code is None or bool(TAPE_CALL.search(code) or CUSTOM_GRADIENT_USE.search(code))

    @cached_property
    def makes_tape(self) -> bool:
        """Something named `GradientTape` that an import can make `tf.GradientTape` is called: the
        semantic model's only way to a tape."""
        return bool(TAPE_CALL.search(self.text)) and self.calls_to({"GradientTape"}, GRADIENT_TAPE_NAMES, TAPE_CALL)

    @cached_property
    def tapes(self) -> "TapeSites":
        """Every tape of the module and the uses of its name, read from the whole tree (compiled here):
        for the screens of the tape rules, asked only where :attr:`differentiates_on_tape` holds."""
        from tapelint.screen_tapes import TapeSites

        return TapeSites(self.tree, lambda call: self.may_call(call, _TAPE_NAMES, GRADIENT_TAPE_NAMES), self.text)

    @cached_property
    def custom_gradients(self) -> "CustomGradientSites":
        """Every custom gradient of the module, read from the whole tree (compiled here): for the
        screens of the custom-gradient rules, asked only where :attr:`applies_custom_gradient` holds."""
        from tapelint.screen_custom_gradients import CustomGradientSites

        return CustomGradientSites(self)

    @cached_property
    def differentiates_on_tape(self) -> bool:
        """A tape is made and some `.gradient`/`.jacobian`/`.batch_jacobian` is called: what every rule
        about a tape's gradients needs to report anything."""
        return bool(DIFFERENTIATION_CALL.search(self.text)) and self.makes_tape and \
            self.called(DIFFERENTIATIONS, DIFFERENTIATION_CALL)


def _names_bound(stores: list[ast.stmt | ast.NamedExpr]) -> frozenset[str]:
    """The names (not attributes or items) that ``stores`` bind."""
    return frozenset(t.id for s in stores for target in (s.targets if isinstance(s, ast.Assign) else [s.target])
                     for t in _flat_targets(target) if isinstance(t, ast.Name))


def _flatten(body: list[ast.stmt]) -> list[ast.stmt]:
    """The statements of ``body`` and every statement nested in them, in order."""
    out: list[ast.stmt] = []
    stack: list[ast.stmt] = list(reversed(body))
    blocks = _BLOCKS
    while stack:
        stmt = stack.pop()
        out.append(stmt)
        fields = blocks.get(type(stmt))
        if fields is None:  # a simple statement
            continue
        children: list[ast.stmt] = []
        for field in fields:
            children += getattr(stmt, field)
        for handler in getattr(stmt, "handlers", ()):
            children += handler.body
        for case in getattr(stmt, "cases", ()):
            children += case.body
        stack += reversed(children)
    return out


_STATEMENT_FIELDS = ("body", "orelse", "finalbody", "handlers", "cases")
# The statement lists of each compound statement (try's handlers and match's cases are read apart).
_BLOCKS: dict[type, tuple[str, ...]] = {
    t: tuple(f for f in ("body", "orelse", "finalbody") if f in t._fields)
    for t in (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try, ast.FunctionDef,
              ast.AsyncFunctionDef, ast.ClassDef, ast.Match, getattr(ast, "TryStar", ast.Try))
}


def statements_on(tree: ast.Module, line: int, starts: dict[int, list[int]]) -> list[ast.stmt]:
    """The statements of ``tree`` whose lines (decorators included) include ``line``, outermost first;
    ``starts``: id of each statement list -> the first line of each of its statements, filled as
    needed (the lists looked into only)."""
    out: list[ast.stmt] = []
    bodies = [tree.body]
    while bodies:
        body = bodies.pop()
        firsts = starts.get(id(body))
        if firsts is None:
            firsts = starts[id(body)] = [first_line(s) for s in body]
        # Statements of one block follow each other: their last lines never decrease.
        at = bisect.bisect_right(firsts, line) - 1
        while at >= 0 and body[at].end_lineno >= line:
            out.append(body[at])
            bodies += statement_lists(body[at])
            at -= 1
    return out


def first_line(stmt: ast.stmt) -> int:
    """A statement's first line, its decorators' included."""
    decorators = getattr(stmt, "decorator_list", None)
    return min(stmt.lineno, *(d.lineno for d in decorators)) if decorators else stmt.lineno


def statement_lists(stmt: ast.stmt) -> list[list[ast.stmt]]:
    """The statement lists ``stmt`` holds."""
    out = [getattr(stmt, f) for f in _BLOCKS.get(type(stmt), ())]
    out += [h.body for h in getattr(stmt, "handlers", ())]
    out += [c.body for c in getattr(stmt, "cases", ())]
    return out


def own_nodes_on(stmt: ast.stmt, line: int) -> list[ast.AST]:
    """The nodes of ``stmt``'s own expressions (see :func:`_own_expressions`) that span ``line``."""
    out = []
    todo = _own_expressions(stmt)
    while todo:
        node = todo.pop()
        first = getattr(node, "lineno", None)
        if first is not None:
            if not first <= line <= node.end_lineno:
                continue  # (nor do the nodes in it)
            out.append(node)
        todo += ast.iter_child_nodes(node)
    return out


def _own_expressions(stmt: ast.stmt) -> list[ast.AST]:
    """The parts of a statement that are not nested statements (with except clauses' types and match
    cases' patterns and guards)."""
    out: list[ast.AST] = []
    for field, value in ast.iter_fields(stmt):
        if field in _STATEMENT_FIELDS:
            for part in value:
                if isinstance(part, ast.ExceptHandler) and part.type is not None:
                    out.append(part.type)
                elif isinstance(part, ast.match_case):
                    out.append(part.pattern)
                    if part.guard is not None:
                        out.append(part.guard)
        elif isinstance(value, ast.AST):
            out.append(value)
        elif isinstance(value, list):
            out += [v for v in value if isinstance(v, ast.AST)]
    return out
