"""Partial analysis: the parts of a module that the active rules can see, with every other part
blanked out, so that libcst parses and the semantic model indexes a fraction of the file.

The unit is a top-level statement, except that a class is split into its header (decorators, bases,
the statements of its body that are not methods) and its methods. Kept are:

- every top-level statement that is not a ``def`` or ``class`` (imports, constants, script code:
  rules resolve names through them and report in them);
- the ``def``\\ s and ``class``\\ es whose code holds a trigger word of an active rule, as the end
  of an identifier (`ResourceVariable` holds `Variable`; `trainable_variables` does not hold
  `variable`), or a name an import binds to something so spelt
  (``from tensorflow import GradientTape as GT``), or a
  ``global`` statement (it rebinds a module-level name other code reads);
- and, to a fixed point, what those depend on or what depends on them, through every way the
  semantic model relates code across top-level statements:

  - a ``def``/``class`` whose name the kept code loads (a callee, a base class, a layer class it
    instantiates: rules look into definitions);
  - a ``def``/``class`` that loads the name of a kept one (callers: ``loads_of``, the calls of a
    custom gradient, a kept class's instances) or a module-level name that the kept code uses or
    that a kept top-level statement with a trigger binds (a module-level tape, variable or list used
    or mutated elsewhere);
  - a ``def``/``class`` that passes a function of the kept code to ``tf.function`` (the model treats
    every function of that name as traced);
  - a top-level statement that binds a name the kept code uses, or loads a name the kept code
    binds, becomes relevant in turn (its names are followed as the kept code's are); so does one that
    holds a trigger word, binding anything or not (`register(tf.custom_gradient(f))`).

  Imported names are not followed: a use of ``tf`` says nothing about the code that uses it.

  Where every active rule says it needs no indirect callers (``Rule.needs_indirect_callers``: every
  built-in rule, which looks at the code holding its trigger words, what that code refers to and its
  direct callers; plugins' rules keep the wider default), only the defs and classes that hold a
  trigger word have their users kept: a caller of a caller, the other callers of a kept callee, or the
  subclass of a kept class and its users, is left out; so are the users of a module-level name that
  only other kept code names (a type alias in a callee's annotations), while those of a name the code
  holding a trigger word uses, or that a statement holding one binds, are kept.

- of a class that is kept, the methods that hold a trigger word, that run without being named
  (dunders, Keras's ``call``/``build``/``train_step``..., unittest's ``setUp``), whose name the kept
  code says (``self.loss_fn(...)``, a property, ``tf.function(self.step)``), that store an attribute
  the kept code says (``self.w = tf.Variable(...)``), or that call a kept method or a wanted name.
  A method that holds a trigger word keeps its class. Where every active rule says it needs no
  methods named elsewhere (``Rule.needs_named_methods``: the custom-gradient rules, which look into
  another method only where the code applying ``custom_gradient`` names it), only the names said by
  the code holding a trigger word keep methods. Trigger words count in the code only, not in
  strings and comments (a docstring that mentions ``tf.GradientTape`` keeps nothing).

Where every active rule reads the bodies of the functions the kept code refers to only so many
references away (``Rule.callee_depth``: the custom-gradient rules read the forward function the
applying code names and the gradient function the forward names), a kept top-level function further
away, or named only by a caller or another statement kept for what it names, keeps its header
(decorators, parameters) and gets `...` for a body: its name still resolves as in the whole file. So
do the kept methods of a class further away; a class whose code holds a trigger word or uses kept code
is read whole (its methods set the attributes that code reads).

A blanked statement's lines are left out of the text, and so are the blank and comment lines between
top-level statements; ``Reduction.rows`` maps each line of the text to its row in the file (columns
do not change), and the semantic model reports positions through it. Names are the names the code
loads or binds (``ast.Name``), found by CPython's parser, which also checks the syntax of the whole
file (so a syntax error in a blanked part is still TL000). Rules whose verdict can depend on anything else in the module say so
(``Rule.needs_whole_module``) and get the whole file.

``tests/test_partial.py`` runs every rule over the fixtures both ways and compares; the benchmark
(``bench/lint_speed.py``) does the same over the TensorFlow and Keras sources.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Iterable

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
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
    rows: tuple[int, ...] = ()  # the file's row (1-based) of each line of ``text``


@dataclass(eq=False)
class _Unit:
    node: ast.stmt
    first: int  # 0-based first line (decorators included)
    last: int  # 0-based last line
    text: str
    name: str | None = None  # of a def or class
    binds: frozenset[str] = frozenset()  # module-level names a statement binds (not by import)
    aliases: tuple[tuple[str, str], ...] = ()  # (imported name, the other name an import binds it to)
    _words: frozenset[str] | None = None
    _names: frozenset[str] | None = None
    _functions: frozenset[str] | None = None
    _code: str | None = None  # the identifiers of the code, joined
    _identifiers: frozenset[str] = frozenset()
    _stored: frozenset[str] = frozenset()  # attributes the code stores or deletes (`self.w = ...`)
    owner: "_Unit | None" = None  # of a method: its class's header

    @property
    def is_def(self) -> bool:
        return self.name is not None

    def words(self) -> frozenset[str]:
        """Every identifier in the text (strings and comments too): a cheap superset of names()."""
        if self._words is None:
            self._words = frozenset(_WORD.findall(self.text))
        return self._words

    def names(self) -> frozenset[str]:
        """The names the statement loads, binds or deletes, at any depth."""
        if self._names is None:
            self._scan()
        return self._names

    def functions(self) -> frozenset[str]:
        """The names of the functions defined in the statement, at any depth."""
        if self._functions is None:
            self._scan()
        return self._functions

    def holds_any(self, words: Iterable[str]) -> bool:
        """An identifier of the code (not of a string or comment: a trigger word in a docstring says
        nothing about what the code does) ends with one of ``words`` (see :func:`_spells`)."""
        words = [w for w in words if w in self.text]
        if not words:
            return False
        if self._code is None:
            self._scan()
        return any(w.strip(".(") + " " in self._code for w in words)

    def _scan(self) -> None:
        names, functions, code, stored = set(), set(), set(), set()
        for node in _walk(self.node):
            t = type(node)
            if t is ast.Name:
                names.add(node.id)
            elif t is ast.Attribute:
                code.add(node.attr)
                if type(node.ctx) is not ast.Load:
                    stored.add(node.attr)
            elif t is ast.FunctionDef or t is ast.AsyncFunctionDef:
                functions.add(node.name)
            elif t is ast.ClassDef:
                code.add(node.name)
            elif t is ast.Global or t is ast.Nonlocal:
                names.update(node.names)
            elif t is ast.alias:
                code.update(node.name.split("."))
                code.add(node.asname or "")
            elif t is ast.keyword:
                code.add(node.arg or "")
            elif t is ast.arg:
                code.add(node.arg)
        self._names, self._functions, self._stored = frozenset(names), frozenset(functions), frozenset(stored)
        self._identifiers = frozenset(names | functions | code)
        self._code = " ".join(self._identifiers) + " "  # each identifier followed by a space: see holds_any

    def identifiers(self) -> frozenset[str]:
        """Every identifier of the code: names, attributes, keywords, parameters, imported names."""
        if self._code is None:
            self._scan()
        return self._identifiers

    def stored_attributes(self) -> frozenset[str]:
        """The attributes the code stores or deletes, at any depth (`w` of `self.w = ...`)."""
        if self._code is None:
            self._scan()
        return self._stored


def reduce_for(source: str, rules: Iterable, tree: ast.Module | None = None) -> tuple[Reduction | None, bool]:
    """:func:`reduce_source` for ``rules``: their trigger and required words, and the least that every
    one of them lets the reduction keep (``Rule.needs_indirect_callers``, ``needs_named_methods``,
    ``callee_depth``)."""
    rules = list(rules)
    words = sorted({w for r in rules for w in (*r.triggers, *getattr(r, "requires", ()))})
    depths = [getattr(r, "callee_depth", None) for r in rules]
    return reduce_source(source, words, tree,
                         indirect_callers=any(getattr(r, "needs_indirect_callers", True) for r in rules),
                         named_methods=any(getattr(r, "needs_named_methods", True) for r in rules),
                         callee_depth=None if None in depths else max(depths))


def reduce_source(source: str, words: Iterable[str], tree: ast.Module | None = None, *,
                  indirect_callers: bool = True, named_methods: bool = True,
                  callee_depth: int | None = None) -> tuple[Reduction | None, bool]:
    """The partial text of ``source`` for rules triggered by ``words``, or None when the whole file
    must be analysed: it does not compile (the whole-file parse reports the error), it uses line
    separators other than ``\\n``/``\\r\\n``, or nothing would be left out. The second item says
    whether CPython compiled the whole text (so the whole-file parse need not again); ``tree`` is
    that compiled text, where the caller has it already. Without ``indirect_callers``
    (``Rule.needs_indirect_callers``), the defs and classes that load a kept one's name are kept only
    for those that hold a trigger word (their direct callers), not for everything kept. Without
    ``named_methods`` (``Rule.needs_named_methods``), a kept class keeps the methods that the code
    holding a trigger word names, not every method that any kept code names. With ``callee_depth``
    (``Rule.callee_depth``), a kept top-level function more than that many references from the code
    holding a trigger word, or referred to only by other kept code, keeps its header and `...`."""
    if "\r" in source.replace("\r\n", "\n"):
        return None, tree is not None  # lone CR line ends: keep the one well-trodden path
    if tree is None:
        from tapelint.screen import compile_tree

        tree = compile_tree(source)
        if tree is None:
            return None, False
    lines = source.split("\n")
    units = _units(tree, lines)
    defs = [u for u in units if u.is_def]
    if not defs:
        return None, True
    words = tuple(words)
    modules = [u for u in units if not u.is_def]

    # A name an import binds to something spelt with a trigger word is a trigger word too, and so is
    # one bound to `function` for the tf.function edge.
    aliases = {alias for u in modules for name, alias in u.aliases if _spells(name.rsplit(".", 1)[-1], words)}
    seed_words = words + tuple(sorted(aliases))
    wrappers = {"function"} | {alias for u in modules for name, alias in u.aliases
                               if name.rsplit(".", 1)[-1] == "function"}
    wrap = re.compile(r"(?<![A-Za-z0-9_])(?:" + "|".join(sorted(map(re.escape, wrappers))) +
                      r")\s*\(\s*(?:func\s*=\s*)?([A-Za-z_][A-Za-z0-9_.\s]*)")

    # A class splits into its header (decorators, bases, the statements of its body that are not
    # methods) and its methods, each kept on its own; `owner` ties a method to its header.
    members: list[_Unit] = []
    for i, u in enumerate(defs):
        if isinstance(u.node, ast.ClassDef) and len(u.node.body) > 1:
            header, methods = _split_class(u, lines)
            if methods:
                defs[i] = header
                members += methods

    kept = {id(u) for u in (*defs, *members) if u.holds_any(seed_words) or _GLOBAL.search(u.text)}
    seeds = set(kept)
    # A statement holding a trigger word has what it names followed, binding anything or not
    # (`register(tf.custom_gradient(f))` applies custom_gradient to `f`).
    holding = {id(u) for u in modules if u.holds_any(seed_words)}  # (searched once: asked again below)
    relevant = set(holding)
    done: set[int] = set()  # kept units and relevant statements whose names are in the sets below
    mentioned: set[str] = set()  # names the kept code loads or binds
    said: set[str] = set()  # every identifier of the kept code's code, attributes included (`self.step`)
    named: set[str] = set()  # the identifiers whose methods are kept: `said`, or the seeds' only
    wanted: set[str] = set()  # names whose users are kept too: kept defs, relevant module bindings
    called: set[str] = set()  # names of kept methods: their callers (`self.f(...)`) are kept too
    functions: set[str] = set()  # functions defined in the kept code, at any depth
    seed_mentioned: set[str] = set()  # names the code holding a trigger word loads or binds
    bound: set[int] = set()  # relevant statements whose bindings are in `wanted`

    changed = True
    while changed:
        changed = False
        for u in (*defs, *members, *modules):
            if id(u) in done or (id(u) not in kept and id(u) not in relevant):
                continue
            done.add(id(u))
            mentioned |= u.names()
            said |= u.identifiers()
            if named_methods or id(u) in seeds:
                named |= u.identifiers()
            functions |= u.functions()
            calls_matter = indirect_callers or id(u) in seeds
            if u.owner is not None:
                if calls_matter:
                    called.add(u.name)
                if id(u.owner) not in kept:
                    kept.add(id(u.owner))
            elif u.is_def:
                if calls_matter:
                    wanted.add(u.name)
            if id(u) in seeds or id(u) in holding:
                seed_mentioned |= u.names()
        for u in modules:
            if id(u) not in relevant and u.binds and (u.binds & mentioned or u.names() & wanted):
                relevant.add(id(u))
                changed = True
            # The users of what a relevant statement binds are kept, as callers are: without indirect
            # callers, only where the code holding a trigger word uses it, the statement holds one, or
            # it uses what such code binds (not a type alias that a kept callee's annotations name).
            if id(u) in relevant and id(u) not in bound and (
                    indirect_callers or u.binds & seed_mentioned or id(u) in holding or u.names() & wanted):
                bound.add(id(u))
                if not u.binds <= wanted:
                    wanted |= u.binds
                    changed = True
        for u in defs:
            if id(u) not in kept and (u.name in mentioned or (u.words() & wanted and u.names() & wanted)
                                      or _wraps(u, wrap, functions)):
                kept.add(id(u))
                changed = True
        for m in members:
            if id(m) in kept:
                continue
            # (a method naming its own class, `super(Model, self)`, does not call it)
            if (m.words() & wanted and m.names() & wanted - {m.owner.name}) or _wraps(m, wrap, functions) or (
                    id(m.owner) in kept and (_implicit(m.name) or m.name in named or m.identifiers() & called
                                             or m.stored_attributes() & said)):
                kept.add(id(m))
                changed = True
        changed = changed or any(id(u) not in done for u in (*defs, *members) if id(u) in kept)

    stubs = [] if callee_depth is None else _stubs(
        defs, members, modules, kept, seeds, relevant, holding, wanted, wrap, functions, callee_depth, lines)

    blank = [u for u in defs if id(u) not in kept]
    for header in defs:
        if header.owner is None and id(header) in kept:
            methods = [m for m in members if m.owner is header]
            dropped = [m for m in methods if id(m) not in kept]
            if not header.node.body and len(dropped) == len(methods):  # a class body keeps a statement
                dropped = dropped[1:]
            blank += dropped
    if not blank and not stubs:
        return None, True

    # The blanked statements' lines are left out of the text, and so are the blank and comment lines
    # between top-level statements: libcst makes several nodes of every line, empty or not. `rows`
    # gives each remaining line its row in the file; columns are unchanged.
    out = list(lines)
    drop = bytearray(len(lines))

    def leave_out(first: int, last: int) -> None:
        drop[first:last + 1] = b"\x01" * (last - first + 1)
        for i in range(first, last + 1):
            out[i] = "\r" if lines[i].endswith("\r") else ""

    for u in blank:
        leave_out(u.first, u.last)
    for u, body in stubs:  # the body's first line holds `...`, its indentation kept; the rest goes
        line = lines[body]
        out[body] = line[:len(line) - len(line.lstrip(" \t\f"))] + "..." + ("\r" if line.endswith("\r") else "")
        leave_out(body + 1, u.last)
    dropped_lines = sum(drop)
    covered = bytearray(len(lines))
    for u in units:
        covered[u.first:u.last + 1] = b"\x01" * (u.last - u.first + 1)
    for i, line in enumerate(lines):
        if not covered[i] and (not line.strip() or line.lstrip().startswith("#")):
            drop[i] = 1
    for i in range(1, len(lines)):  # a line a backslash continues into stays, whatever it holds
        if drop[i] and lines[i - 1].rstrip("\r").endswith("\\"):
            drop[i] = 0
    rows = [i + 1 for i in range(len(lines)) if not drop[i]]
    text = "\n".join(out[i - 1] for i in rows)
    kept_names = tuple(u.name for u in defs if id(u) in kept)
    return Reduction(text, kept_names, len(lines) - dropped_lines, len(lines), tuple(rows)), True


def _stubs(defs: list[_Unit], members: list[_Unit], modules: list[_Unit], kept: set[int], seeds: set[int],
           relevant: set[int], holding: set[int], wanted: set[str], wrap: re.Pattern, functions: set[str],
           depth: int, lines: list[str]) -> list[tuple[_Unit, int]]:
    """The kept top-level functions and methods whose bodies no rule reads (``Rule.callee_depth``),
    each with the index of its body's first line. Read are: the code holding a trigger word, the
    classes holding it or a caller or wrapper of kept code (whole), and the module-level statements
    holding a trigger word (`g = tf.custom_gradient(f)`), and what they refer to up to ``depth``
    references away (a class reached: its methods too); and the callers and wrappers that were kept
    for referring to kept code (their own references are not followed)."""
    def uses_kept_code(u: _Unit) -> bool:  # a caller or a wrapper of kept code: read
        return bool(u.words() & wanted and u.names() & wanted) or _wraps(u, wrap, functions)

    methods: dict[int, list[_Unit]] = {}  # a kept class's header -> its kept methods
    for m in members:
        if id(m) in kept:
            methods.setdefault(id(m.owner), []).append(m)
    # A class is read whole where its code holds a trigger word or uses kept code (its methods store
    # the attributes that code reads), or as far as the references reach.
    read = {id(m.owner) for m in members if id(m) in kept and (id(m) in seeds or uses_kept_code(m))}
    read |= {id(u) for u in defs if id(u) in kept and isinstance(u.node, ast.ClassDef)
             and (id(u) in seeds or uses_kept_code(u))}  # (a subclass of kept code: its header uses it)
    budget: dict[int, int] = {}
    todo: list[tuple[_Unit, int]] = []
    for u in (*defs, *members, *modules):
        if id(u) not in kept and id(u) not in relevant:
            continue
        cls = u.owner if u.owner is not None else u if isinstance(u.node, ast.ClassDef) else None
        source = id(u) in seeds or id(u) in holding or (cls is not None and id(cls) in read)
        if source:
            budget[id(u)] = depth
            todo.append((u, depth))
    by_name: dict[str, list[_Unit]] = {}
    for u in defs:
        if id(u) in kept:
            by_name.setdefault(u.name, []).append(u)
    while todo:
        u, left = todo.pop()
        if left <= 0 or budget.get(id(u), -1) > left:
            continue
        for name in u.names():
            for d in by_name.get(name, ()):
                for reached in (d, *methods.get(id(d), ())):  # a class reached: its methods too
                    if budget.get(id(reached), -1) < left - 1:
                        budget[id(reached)] = left - 1
                        todo.append((reached, left - 1))
    out = []
    for u in (*defs, *members):
        if id(u) not in kept or id(u) in budget or not isinstance(u.node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if uses_kept_code(u) or (u.owner is not None and id(u.owner) in read):
            continue
        first = u.node.body[0]
        body = first.lineno - 1
        # (col_offset counts UTF-8 bytes: where the text before it is not blank, slicing as many
        # characters leaves it not blank either)
        if lines[body][:first.col_offset].strip() or lines[body - 1].rstrip("\r").endswith("\\"):
            continue  # the body starts on a line of the header: nothing to leave out
        out.append((u, body))
    return out


def _spells(identifier: str, words: Iterable[str]) -> bool:
    """``identifier`` ends with one of ``words``: the names the model knows a construct by end with
    its rule's trigger word (`ResourceVariable`, `apply_gradients`, `recurrent_kernel`, `K.variable`),
    while a word inside a longer name is another thing (`trainable_variables`, `kernel_size`)."""
    return any(identifier.endswith(w.strip(".(")) for w in words)


# Methods that run without being named in the code: Python's and Keras's hooks, unittest's fixtures.
_HOOKS = frozenset({"call", "build", "train_step", "test_step", "predict_step", "compute_loss", "setUp",
                    "tearDown", "setUpClass", "tearDownClass"})


def _implicit(name: str) -> bool:
    return (name.startswith("__") and name.endswith("__")) or name in _HOOKS


def _split_class(cls: _Unit, lines: list[str]) -> tuple[_Unit, list[_Unit]]:
    """A class's header unit (its lines without the methods' lines; when kept, its whole range is
    not blanked, only its methods that are not kept) and its method units."""
    node = cls.node
    methods: list[_Unit] = []
    header_lines = set(range(cls.first, cls.last + 1))
    for stmt in node.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([stmt.lineno] + [d.lineno for d in stmt.decorator_list]) - 1
            last = (stmt.end_lineno or stmt.lineno) - 1
            methods.append(_Unit(stmt, first, last, "\n".join(lines[first:last + 1]), name=stmt.name))
            header_lines -= set(range(first, last + 1))
    rest = [s for s in node.body if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]
    shell = ast.ClassDef(name=node.name, bases=node.bases, keywords=node.keywords, body=rest,
                         decorator_list=node.decorator_list, type_params=getattr(node, "type_params", []))
    header = _Unit(shell, cls.first, cls.last, "\n".join(lines[i] for i in sorted(header_lines)), name=node.name)
    for m in methods:
        m.owner = header
    return header, methods


def _walk(root: ast.AST) -> list[ast.AST]:
    """Every node under ``root`` (itself included) but expression contexts and operators, like
    ``ast.walk`` but without its generator per node: the reduction walks every statement it may keep."""
    out: list[ast.AST] = []
    todo = [root]
    AST = ast.AST
    fields = _NODE_FIELDS
    while todo:
        node = todo.pop()
        out.append(node)
        for field in fields[type(node)]:
            value = getattr(node, field, None)
            if type(value) is list:
                todo.extend(v for v in value if isinstance(v, AST))
            elif isinstance(value, AST):
                todo.append(value)
    return out


class _Fields(dict):
    """A node type's fields that can hold nodes other than contexts and operators (singletons that
    hold nothing), worked out once per type."""

    def __missing__(self, t: type) -> tuple[str, ...]:
        fields = self[t] = tuple(f for f in getattr(t, "_fields", ()) if f not in ("ctx", "op", "ops"))
        return fields


_NODE_FIELDS = _Fields()


def _wraps(unit: _Unit, wrap: re.Pattern, functions: set[str]) -> bool:
    """The statement calls ``tf.function`` (or an alias) on a name or attribute whose last part is
    a function of the kept code: the semantic model then counts every function so named as traced."""
    if not functions or "function" not in unit.text and wrap.pattern.count("|") == 0:
        return False
    for m in wrap.finditer(unit.text):
        last = "".join(m.group(1).split()).rstrip(".").rsplit(".", 1)[-1]
        if last in functions:
            return True
    return False


def _units(tree: ast.Module, lines: list[str]) -> list[_Unit]:
    units = []
    for stmt in tree.body:
        first = stmt.lineno - 1
        if isinstance(stmt, _DEFS) and stmt.decorator_list:
            first = min(first, min(d.lineno for d in stmt.decorator_list) - 1)
        last = (stmt.end_lineno or stmt.lineno) - 1
        text = "\n".join(lines[first:last + 1])
        if isinstance(stmt, _DEFS):
            units.append(_Unit(stmt, first, last, text, name=stmt.name))
        else:
            binds, imports, aliases = _module_bindings(stmt)
            units.append(_Unit(stmt, first, last, text, binds=frozenset(binds - imports), aliases=tuple(aliases)))
    return units


def _module_bindings(stmt: ast.stmt) -> tuple[set[str], set[str], list[tuple[str, str]]]:
    """Names a top-level statement binds in the module scope (not descending into nested scopes,
    except for the names of functions and classes defined inside ``if``/``try`` blocks), the names
    it binds by import, and the import aliases."""
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
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                # a walrus in a comprehension binds in the enclosing scope
                binds.update(n.target.id for n in ast.walk(node)
                             if isinstance(n, ast.NamedExpr) and isinstance(n.target, ast.Name))
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
