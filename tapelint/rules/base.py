"""The rule API: a rule is a thin query over the shared semantic model.

A rule module defines one subclass of :class:`Rule`. Its class docstring is its documentation, in ruff's
form (``## What it does`` / ``## Why is this bad?`` / ``## Example`` / ``## Use instead``), and its
``valid`` and ``invalid`` examples are run by the test suite (``tests/test_rule_examples.py``), as Fixit
does with VALID/INVALID. In an invalid example, every line that must be reported ends with a marker
comment ``# expect: TL001`` (several codes: ``# expect: TL001, TL003``). The code blocks under
``## Example`` and ``## Use instead`` in the docstring are run as an invalid and a valid example too, so
the docs cannot drift from what the rule does.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Iterable, Iterator

from tapelint.diagnostics import Applicability

if TYPE_CHECKING:  # libcst is imported only where files are parsed: a cached run never loads it
    import libcst as cst

    from tapelint.screen import Facts
    from tapelint.semantic.model import SemanticModel


@dataclass(frozen=True)
class Replacement:
    """One libcst-level change: ``node`` becomes ``new`` (a node, or ``cst.RemovalSentinel.REMOVE``).

    To insert statements, replace a statement with ``cst.FlattenSentinel([...])``.
    """

    node: cst.CSTNode
    new: object


@dataclass(frozen=True)
class CstFix:
    """A fix as libcst transformations, so comments and formatting are kept."""

    message: str
    replacements: tuple[Replacement, ...]
    applicability: Applicability = Applicability.SAFE


@dataclass(frozen=True)
class Finding:
    """What a rule reports: the node to point at, and optionally a custom message and a fix."""

    node: cst.CSTNode
    message: str | None = None
    fix: CstFix | None = None


@dataclass(frozen=True)
class Valid:
    code: str


@dataclass(frozen=True)
class Invalid:
    """Buggy code; lines to report carry ``# expect: CODE``. ``fixed`` is the expected ``--fix`` result
    (safe fixes; with ``unsafe=True``, unsafe ones too), or None when the rule offers no fix here."""

    code: str
    fixed: str | None = None
    unsafe: bool = False
    # The docs' Example block: its fix, if the rule offers one, is not checked here (the docs show the
    # better code under Use instead, which is not always what the fix writes).
    from_docs: bool = False


EXPECT_MARKER = re.compile(r"#\s*expect:\s*(?P<codes>[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*)")


def expected_findings(code: str) -> list[tuple[int, str]]:
    """(row, code) pairs marked with ``# expect:`` in an example."""
    out = []
    for row, line in enumerate(code.splitlines(), start=1):
        m = EXPECT_MARKER.search(line)
        if m:
            out.extend((row, c.strip()) for c in m.group("codes").split(","))
    return sorted(out)


class Rule:
    """Base class of every rule, built-in or from a plugin."""

    code: ClassVar[str]
    name: ClassVar[str]  # kebab-case
    summary: ClassVar[str]  # one line, for `tapelint rules`
    message: ClassVar[str]  # default message: what goes wrong at run time and what to do
    # Byte strings of which at least one must occur in a file for the rule to possibly fire; the
    # pre-filter skips files with none of them. Empty means "always run".
    triggers: ClassVar[tuple[str, ...]] = ("GradientTape",)
    # Words that must *all* occur as well (checked on the same raw bytes): for a rule that can only
    # fire where a gradient tape exists, say, whatever its triggers. Empty means no extra condition.
    requires: ClassVar[tuple[str, ...]] = ()
    # A file that passes the pre-filter is analysed in part: its top-level statements that are not
    # defs or classes, the defs and classes that contain a trigger word, and what those refer to or
    # are referred to by (tapelint/partial.py). A rule whose verdict on that code can depend on
    # anything else in the module (a file-wide scan, such as "is eager execution ever disabled?")
    # sets this, and files where it is active are analysed whole.
    needs_whole_module: ClassVar[bool] = False
    # The partial analysis also keeps, to a fixed point, every def and class that refers to kept code
    # (callers of callers, subclasses of a kept class). A rule that needs only the code holding its
    # trigger words, what that code refers to and the direct callers of it (a custom gradient and its
    # calls, a tape's function and its calls: every built-in rule) sets this False: where only such
    # rules run, a file keeps less (and the users of a module-level name are kept only where the code
    # holding the trigger words uses it, not where only other kept code does).
    needs_indirect_callers: ClassVar[bool] = True
    # Of a kept class, the partial analysis also keeps every method whose name the kept code says
    # (`self.helper(...)`, a property), to any depth. A rule that reads another method of the class only
    # where the code holding its trigger words names it (`tf.custom_gradient(self.m)`), and otherwise
    # only the methods that store attributes the kept code reads (always kept), sets this False.
    needs_named_methods: ClassVar[bool] = True
    # A top-level function that kept code refers to is kept whole, to any depth of calls. A rule that
    # reads a referred function's body only so many references away from the code holding its trigger
    # words (the custom-gradient rules: the forward function that code names, and the gradient function
    # the forward names: 2), and from other kept code (callers, module-level statements) only that the
    # name is a function of the module, sets this: where only such rules run, a function further away,
    # and each method of a class further away, keeps its header and `...` for a body.
    callee_depth: ClassVar[int | None] = None
    default_enabled: ClassVar[bool] = True
    valid: ClassVar[tuple[Valid, ...]] = ()
    invalid: ClassVar[tuple[Invalid, ...]] = ()
    # Filled in by the registry: the distribution that provides the rule.
    origin: ClassVar[str] = "tapelint"

    def check(self, model: "SemanticModel") -> Iterable[Finding]:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def screen(cls, facts: "Facts") -> bool:
        """False only where the rule cannot report anything in the file: a cheap test on what CPython
        reads of it (its text, the logical lines around some words, its syntax tree: ``Facts`` in
        tapelint/screen.py), run before libcst parses the file. By default, true."""
        return True

    # -- documentation -------------------------------------------------------------------------
    @classmethod
    def docs(cls) -> str:
        """The rule's documentation, as shown to users (``# expect:`` test markers removed)."""
        return "\n".join(EXPECT_MARKER.sub("", line).rstrip() for line in cls._raw_docs().splitlines())

    @classmethod
    def _raw_docs(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def doc_examples(cls) -> tuple[str | None, str | None]:
        """The code blocks under ``## Example`` and ``## Use instead`` (with their test markers)."""
        raw = cls._raw_docs()
        return _section_code(raw, "Example"), _section_code(raw, "Use instead")

    @classmethod
    def all_invalid(cls) -> Iterator[Invalid]:
        yield from cls.invalid
        example, _ = cls.doc_examples()
        if example is not None:
            yield Invalid(example, from_docs=True)

    @classmethod
    def all_valid(cls) -> Iterator[Valid]:
        yield from cls.valid
        _, use_instead = cls.doc_examples()
        if use_instead is not None:
            yield Valid(use_instead)


def _section_code(doc: str, title: str) -> str | None:
    m = re.search(rf"^## {re.escape(title)}\s*$(.*?)(?=^## |\Z)", doc, re.M | re.S)
    if not m:
        return None
    block = re.search(r"```python\n(.*?)```", m.group(1), re.S)
    return textwrap.dedent(block.group(1)) if block else None


def strip_expect_markers(code: str) -> str:
    return "\n".join(EXPECT_MARKER.sub("", line).rstrip() for line in code.splitlines()) + "\n"
