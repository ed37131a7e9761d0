"""The logical lines around given words of a Python text, found without tokenizing the text from its start.

A screen that looks for a few words needs only the statements that hold them. One regular expression
(run in C, about a fifth of the cost of compiling the text) blanks out strings and comments; bracket
depth and backslash continuations read off the blanked text then give the logical line around any
offset, and CPython compiles that line alone. Where the text cannot be read this way for certain (an
unterminated string, brackets that do not balance, lone `\\r` line ends, an f-string whose braces do not
balance, as PEP 701 nesting of quotes can make them), nothing is answered: the caller compiles the
whole text.
"""

from __future__ import annotations

import ast
import bisect
import re
import sys
from functools import cached_property

from tapelint.source import compile_quietly

# A comment, or a string of any quoting (prefixes stay in the code: they hold no bracket or quote). An
# escape is read as two characters in every kind of string, raw ones included, as the tokenizer does.
# The closing quotes are optional and captured: an unterminated string still matches, to its line's
# end (or the text's), and stops the reading at once; with possessive repeats, nothing is read twice.
_STRING_OR_COMMENT = re.compile(  # each body unrolled (runs of plain characters, then an escape): twice as fast
    r'#[^\r\n]*'
    r'|"""[^"\\]*+(?:(?:\\[\s\S]|"(?!""))[^"\\]*+)*+(""")?'
    r"|'''[^'\\]*+(?:(?:\\[\s\S]|'(?!''))[^'\\]*+)*+(''')?"
    r'|"[^"\\\n]*+(?:\\[\s\S][^"\\\n]*+)*+(")?'
    r"|'[^'\\\n]*+(?:\\[\s\S][^'\\\n]*+)*+(')?"
)
# In an f-string only what can change the reading of the line is blanked: its replacement fields are
# code, and a word in them is still found.
_F_STRING_BLANKS = str.maketrans({c: " " for c in "()[]{}\\'\"#\n"})
_IDENTIFIER_CHAR = re.compile(r"\w")
_OPENERS, _CLOSERS = "([{", ")]}"
# Clauses that cannot stand alone: each is given the statement it continues (`_alone`).
_CLAUSE = re.compile(r"(?:elif|else|except|finally)\b")


class LogicalLines:
    """Logical lines of ``text`` around offsets, and the statements they hold."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._marks: list[int] = [0]  # offsets where the bracket depth is known, sorted
        self._depths: list[int] = [0]
        self._parents: dict[int, int] = {}  # logical line start -> its block's header's (-1: none)

    @cached_property
    def code(self) -> str | None:
        """The text with strings and comments blanked (same length and offsets; newlines inside strings
        blanked too, so every newline left may end a logical line), or None where it cannot be read
        for certain."""
        text = self.text
        if "\r" in text and "\r" in text.replace("\r\n", ""):  # a lone CR ends a line too: not read here
            return None
        f_strings_nest = sys.version_info >= (3, 12)

        # Called for every string and comment (a hundred thousand in TensorFlow's sources): the token
        # itself is built only for an f-string, whose prefix (`f`, `rf`, `fr`...) ends at most two
        # characters before the quote.
        def blank(match: re.Match) -> str:
            start, end = match.span()
            if text[start] != "#":
                if match.lastindex is None:  # no closing quote
                    raise _Unreadable
                if (start and text[start - 1] in "fF") or (start > 1 and text[start - 2] in "fF"):
                    token = match.group()
                    if f_strings_nest and token.count("{") - token.count("}") != 0:
                        raise _Unreadable
                    return token.translate(_F_STRING_BLANKS)
            return " " * (end - start)

        try:
            code = _STRING_OR_COMMENT.sub(blank, text)
        except _Unreadable:
            return None
        if sum(code.count(c) for c in _OPENERS) != sum(code.count(c) for c in _CLOSERS):
            return None
        return code

    def occurrences(self, word: str, tail: re.Pattern | None = None) -> list[int]:
        """Offsets where ``word`` occurs in the code (not in a string or comment, except an f-string's
        replacement fields) as a whole identifier, followed by what ``tail`` matches if given."""
        code = self.code
        assert code is not None
        out = []
        at = code.find(word)
        size = len(word)
        while at >= 0:
            end = at + size
            if (at == 0 or not _IDENTIFIER_CHAR.match(code, at - 1)) and \
                    (end == len(code) or not _IDENTIFIER_CHAR.match(code, end)) and \
                    (tail is None or tail.match(code, end)):
                out.append(at)
            at = code.find(word, end)
        return out

    def span(self, offset: int) -> tuple[int, int] | None:
        """Start and end offsets of the logical line holding ``offset`` (end: its line end, or the end
        of the text), or None where the bracket depth goes wrong."""
        code = self.code
        assert code is not None
        start = code.rfind("\n", 0, offset) + 1
        depth = self._depth(start)
        # Back over lines that continue an open bracket or a backslash.
        while depth > 0 or _continued(code, start - 1):
            if start == 0:
                return None
            previous = code.rfind("\n", 0, start - 1) + 1
            depth -= _net(code, previous, start)
            start = previous
        if depth < 0:
            return None
        end = code.find("\n", offset)
        depth += _net(code, start, len(code) if end < 0 else end)
        while end > 0 and (depth > 0 or _continued(code, end)):
            following = code.find("\n", end + 1)
            depth += _net(code, end, len(code) if following < 0 else following)
            end = following
        if depth != 0:
            return None
        if end < 0:
            return start, len(code)
        return start, end - 1 if code[end - 1] == "\r" else end

    def enclosing(self, start: int) -> list[int] | None:
        """Start offsets of the headers of the compound statements whose blocks hold the logical line
        starting at ``start``, innermost first, read from indentation; None where an indentation holds
        a tab or a form feed (columns are then the tokenizer's business) or it is not Python's."""
        out: list[int] = []
        line = start
        while True:
            parent = self._parent(line)
            if parent is None:
                return None
            if parent < 0:
                return out
            out.append(parent)
            line = parent

    def _parent(self, start: int) -> int | None:
        """The start of the header whose block holds the logical line starting at ``start``, -1 at the
        top level: going back, the nearest logical line indented less (blank lines, comments and
        strings say nothing, and in valid code no line of a block is indented less than its
        statements). A sibling's answer, once known, is the line's too."""
        known = self._parents.get(start)
        if known is not None:
            return known
        code = self.code
        assert code is not None
        indent = _indentation(self.text, start)  # the text's: a line may start with a (blanked) string
        if indent is None:
            return None
        siblings = [start]
        parent = -1 if indent == 0 else None
        line, depth = start, 0  # no bracket is open where a logical line starts
        while parent is None:
            if line == 0:
                return None  # an indented first line
            previous = code.rfind("\n", 0, line - 1) + 1
            depth -= _net(code, previous, line)
            if depth < 0:
                return None
            line = previous
            if depth or _continued(code, line - 1) or _blank(code, line):
                continue  # inside brackets, after a backslash, or blank (comments and strings too)
            level = _indentation(self.text, line)
            if level is None:
                return None
            if level > indent:
                continue  # in a nested block
            if level < indent:
                parent = line
            else:
                parent = self._parents.get(line)
                siblings.append(line)
        for sibling in siblings:
            self._parents[sibling] = parent
        return parent

    def _depth(self, offset: int) -> int:
        """Bracket depth at ``offset``, counted from the nearest offset already known."""
        i = bisect.bisect_right(self._marks, offset) - 1
        depth = self._depths[i] + _net(self.code, self._marks[i], offset)
        if self._marks[i] != offset:
            self._marks.insert(i + 1, offset)
            self._depths.insert(i + 1, depth)
        return depth

    def statements(self, spans: list[tuple[int, int]]) -> dict[tuple[int, int], list[ast.stmt]] | None:
        """The top-level statements of each logical line of ``spans``, all compiled in one call to the
        compiler; None where one of them does not compile alone (even as a clause or header)."""
        sources = [self._alone(start, end) for start, end in spans]
        try:
            module = compile_quietly("\n".join(sources), "<tapelint>", ast.PyCF_ONLY_AST)
        except (SyntaxError, RecursionError, MemoryError, ValueError):
            return None
        first_rows, row = [], 1
        for source in sources:
            first_rows.append(row)
            row += source.count("\n") + 1
        out: dict[tuple[int, int], list[ast.stmt]] = {span: [] for span in spans}
        for stmt in module.body:
            out[spans[bisect.bisect_right(first_rows, stmt.lineno) - 1]].append(stmt)
        return out

    def _alone(self, start: int, end: int) -> str:
        """The logical line ``text[start:end]`` as a module of its own: without its indentation, a
        header given a body and a clause given the statement it continues (neither adds a store, an
        import or a call)."""
        line = self.text[start:end].lstrip(" \t\f")
        code = self.code[start:end].strip()
        if code.endswith(":"):  # the line may end in a comment: the body goes on the next line
            line += "\n pass"
        elif code.startswith("@"):
            line += "\ndef _(): pass"
        clause = _CLAUSE.match(line)
        if clause:
            line = ("if 1: pass\n" if clause.group() in ("elif", "else") else "try: pass\n") + line
        return line


class _Unreadable(Exception):
    pass


def _continued(code: str, newline: int) -> bool:
    """The line that ends at the newline at ``newline`` ends with a backslash (before a CR, if any)."""
    before = newline - 1 if newline >= 1 and code[newline - 1] == "\r" else newline
    return before >= 1 and code[before - 1] == "\\"


def _indentation(text: str, line: int) -> int | None:
    """How many spaces the line starting at ``line`` is indented by; None where a tab or form feed
    takes part (the tokenizer's columns)."""
    i = line
    while text.startswith(" ", i):
        i += 1
    return None if text.startswith(("\t", "\f"), i) else i - line


def _blank(code: str, line: int) -> bool:
    """The line starting at ``line`` holds no code (in the blanked code: comments and strings neither)."""
    end = code.find("\n", line)
    return not (code[line:] if end < 0 else code[line:end]).strip()


def _net(code: str, start: int, end: int) -> int:
    """Openers minus closers in ``code[start:end]``."""
    return (code.count("(", start, end) + code.count("[", start, end) + code.count("{", start, end)
            - code.count(")", start, end) - code.count("]", start, end) - code.count("}", start, end))
