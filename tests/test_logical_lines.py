"""Logical lines found around a word without tokenizing from the start (tapelint/logical_lines.py).

Each case is checked against CPython's own tokenizer: the logical line the module finds around a word
is the one `tokenize` finds, and where the text cannot be read for certain no answer is given.
"""

from __future__ import annotations

import ast
import io
import textwrap
import tokenize

import pytest

from tapelint.logical_lines import LogicalLines

TRICKY = textwrap.dedent('''\
    import tensorflow as tf  # a comment with a bracket ( and a quote "
    s = "a ( string \\" with [ brackets"; t = 'and { a \\' quote'
    doc = """a triple-quoted string
    w = tf.Variable(1)  ( [ {
    """
    w = tf.Variable(
        [1.0, 2.0],  # ) ] } in a comment
        name="w(",
    )
    v = tf.Variable(0.0) + \\
        w
    if v: u = tf.Variable(2.0)
    else: u = tf.Variable(3.0)
    @decorate(tf.Variable(4.0))
    def f(a=tf.Variable(5.0)):  # a header
        return a
    x = f"{w!r} ({w})"
    r = rb'\\\\' + b"(" ; q = r"\\""
    ''')


def logical_line_of(text: str, offset: int) -> tuple[int, int]:
    """The logical line holding ``offset``, as CPython's tokenizer splits the text: start of its first
    token's line, end of its NEWLINE token (rows and columns turned into offsets)."""
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    start = 0
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        begin = starts[token.start[0] - 1] + token.start[1]
        end = starts[token.end[0] - 1] + token.end[1]
        if token.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
            if start <= offset < end or (token.type == tokenize.NEWLINE and offset < begin):
                return start, begin
            start = None
        elif token.type not in (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT) and start is None:
            start = starts[token.start[0] - 1]
    raise AssertionError(offset)


def test_the_code_blanks_strings_and_comments_and_keeps_offsets():
    lines = LogicalLines(TRICKY)
    assert len(lines.code) == len(TRICKY)
    assert '"' not in lines.code and "'" not in lines.code and "#" not in lines.code
    assert "a ( string" not in lines.code and "brackets" not in lines.code
    assert lines.code.count("Variable") == TRICKY.count("Variable") - 1  # the one in the docstring is blanked
    assert "{w!r}" in lines.code.replace("{", "").replace("}", "") or "w!r" in lines.code  # f-string fields stay code


@pytest.mark.parametrize("word", ["Variable", "w", "u", "a", "import", "r", "q", "t"])
def test_every_occurrence_gets_the_logical_line_cpythons_tokenizer_finds(word):
    lines = LogicalLines(TRICKY)
    found = lines.occurrences(word)
    assert found
    for at in found:
        assert lines.span(at) == logical_line_of(TRICKY, at), (word, at, TRICKY[at - 20:at + 20])


def test_occurrences_are_whole_identifiers_in_code_only():
    lines = LogicalLines("variables = 1\nVariable2 = tf.Variable(1)  # Variable\nx = 'Variable'\n")
    assert lines.occurrences("Variable") == [29]


def test_each_line_compiles_alone_even_as_a_header_or_a_clause():
    lines = LogicalLines(TRICKY)
    spans = sorted({lines.span(at) for at in lines.occurrences("Variable")})
    statements = lines.statements(spans)
    assert statements is not None
    kinds = [[type(s).__name__ for s in statements[span]] for span in spans]
    assert kinds == [["Assign"], ["Assign"], ["If"], ["If"], ["FunctionDef"], ["FunctionDef"]]
    else_clause = statements[spans[3]][0]
    assert isinstance(else_clause.orelse[0], ast.Assign)  # `else: u = ...` read as the clause it is


@pytest.mark.parametrize("text", [
    "x = 'unterminated\ny = tf.Variable(1)\n",
    'x = """unterminated\ny = tf.Variable(1)\n',
    "x = (1,\ny = tf.Variable(1)\n",
    "y = tf.Variable(1))\n",
    "y = tf.Variable(1)\r\nx = 1\r\n",
])
def test_a_text_that_cannot_be_read_for_certain_gets_no_answer(text):
    assert LogicalLines(text).code is None


def test_a_line_that_does_not_compile_gets_no_statements():
    text = "match x:\n    case 1: y = tf.Variable(1)\n"
    lines = LogicalLines(text)
    (at,) = lines.occurrences("Variable")
    assert lines.statements([lines.span(at)]) is None


def test_a_long_run_of_unterminated_quotes_is_read_in_linear_time():
    # Possessive repeats: every failed string is given up in one pass (checked: about 0.1 s here).
    text = "x = '" + "\\'" * 20000 + "\n" + '"""' + "a" * 20000
    assert LogicalLines(text).code is None


def _sources() -> list[str]:
    from pathlib import Path

    from tapelint import registry

    fixtures = Path(__file__).resolve().parent.parent / "fixtures"
    examples = [textwrap.dedent(e.code) for r in registry.all_rules().values()
                for e in (*r.all_valid(), *r.all_invalid())]
    return [TRICKY] + examples + [p.read_text(encoding="utf-8") for p in sorted(fixtures.rglob("*.py"))]


def test_strings_and_comments_are_the_tokens_cpythons_tokenizer_finds():
    from tapelint.logical_lines import _STRING_OR_COMMENT

    for text in _sources():
        starts = [0]
        for line in text.splitlines(keepends=True):
            starts.append(starts[-1] + len(line))
        expected = []
        fstrings = []  # Python 3.12 splits an f-string into tokens: its start, while open
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            begin = starts[token.start[0] - 1] + token.start[1]
            end = starts[token.end[0] - 1] + token.end[1]
            prefix = len(token.string) - len(token.string.lstrip("rRbBuUfF"))
            if token.type == getattr(tokenize, "FSTRING_START", None):
                fstrings.append(begin + prefix)
            elif token.type == getattr(tokenize, "FSTRING_END", None):
                start = fstrings.pop()
                if not fstrings:
                    expected.append((start, end))
            elif token.type in (tokenize.STRING, tokenize.COMMENT) and not fstrings:
                expected.append((begin + prefix, end))
        assert [m.span() for m in _STRING_OR_COMMENT.finditer(text)] == expected
