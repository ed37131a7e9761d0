"""Checks tapelint.logical_lines against CPython's tokenizer on a whole tree of real code.

    python bench/logical_lines_check.py [TREE]     # default: /tmp/tapelint-bench-trees (lint_speed.py makes it)

For every file the tokenizer reads: the strings and comments the blanking expression finds are the
tokenizer's STRING and COMMENT tokens (same offsets), and for every occurrence of a few words the
screens look for, the logical line found around it is the tokenizer's (first token's line start to
its NEWLINE token). Prints one table; every "differ" must be 0. (tests/test_logical_lines.py runs
the same comparisons on the fixtures and the rules' examples.)
"""

from __future__ import annotations

import bisect
import io
import sys
import time
import tokenize
from pathlib import Path

from tapelint.logical_lines import _STRING_OR_COMMENT, LogicalLines
from tapelint.source import SourceError, read_source

DEFAULT_TREE = Path("/tmp/tapelint-bench-trees")
WORDS = ("Variable", "kernel", "self", "import", "GradientTape", "gradient", "custom_gradient")


def tokens(text: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The tokenizer's strings and comments (offsets, string prefixes left out) and logical lines."""
    starts = [0]  # of each line as the tokenizer reads them: ended by "\n" only (not by "\x1e", say)
    for line in text.split("\n"):
        starts.append(starts[-1] + len(line) + 1)
    strings, lines, current = [], [], None
    fstrings = []  # Python 3.12 splits an f-string into tokens: its start, while open
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        begin = starts[token.start[0] - 1] + token.start[1]
        end = starts[token.end[0] - 1] + token.end[1]
        prefix = len(token.string) - len(token.string.lstrip("rRbBuUfF"))
        if token.type == getattr(tokenize, "FSTRING_START", None):
            fstrings.append(begin + prefix)
        elif token.type == getattr(tokenize, "FSTRING_END", None):
            first = fstrings.pop()
            if not fstrings:
                strings.append((first, end))
        elif token.type in (tokenize.STRING, tokenize.COMMENT) and not fstrings:
            strings.append((begin + prefix, end))
        if token.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
            if current is not None:
                lines.append((current, begin))
                current = None
        elif token.type not in (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT) and current is None:
            current = starts[token.start[0] - 1]
    return strings, lines


def main() -> int:
    tree = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_TREE
    files = unread = string_files = occurrences = span_diffs = 0
    start = time.perf_counter()
    for path in sorted(tree.rglob("*.py")):
        try:
            text = read_source(path)
            expected_strings, logical = tokens(text)
        except (SourceError, tokenize.TokenError, SyntaxError):
            continue  # not Python the tokenizer reads (the linter reports it as TL000)
        files += 1
        lines = LogicalLines(text)
        if lines.code is None:
            unread += 1
            continue
        string_files += [m.span() for m in _STRING_OR_COMMENT.finditer(text)] != expected_strings
        firsts = [first for first, _ in logical]
        for word in WORDS:
            for at in lines.occurrences(word):
                occurrences += 1
                span_diffs += lines.span(at) != logical[bisect.bisect_right(firsts, at) - 1]
    print(f"### {tree}: {files} files the tokenizer reads ({time.perf_counter() - start:.0f} s)\n")
    print("| check | compared | differ |\n|---|---:|---:|")
    print(f"| strings and comments, per file | {files - unread} | {string_files} |")
    print(f"| logical line around an occurrence of {', '.join(WORDS)} | {occurrences} | {span_diffs} |")
    print(f"| files left unread (lone `\\r` line ends, unbalanced braces in an f-string) | {files} | {unread} |")
    return 1 if string_files or span_diffs else 0


if __name__ == "__main__":
    sys.exit(main())
