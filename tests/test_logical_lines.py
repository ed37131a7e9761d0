"""Logical lines found around a word without tokenizing from the start (tapelint/logical_lines.py).

Each case is checked against CPython's own tokenizer: the logical line the module finds around a word
is the one `tokenize` finds, and where the text cannot be read for certain no answer is given.
"""

from __future__ import annotations

import ast
import bisect
import importlib.util
import textwrap
from pathlib import Path

import pytest

from tapelint.logical_lines import _STRING_OR_COMMENT, LogicalLines

# The comparison with CPython's tokenizer that bench/logical_lines_check.py runs on a whole tree.
_spec = importlib.util.spec_from_file_location(
    "logical_lines_check", Path(__file__).resolve().parent.parent / "bench" / "logical_lines_check.py")
check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check)

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
    """The logical line holding ``offset``, as CPython's tokenizer splits the text."""
    _, lines = check.tokens(text)
    return lines[bisect.bisect_right([first for first, _ in lines], offset) - 1]


def test_the_code_blanks_strings_and_comments_and_keeps_offsets():
    lines = LogicalLines(TRICKY)
    assert len(lines.code) == len(TRICKY)
    assert '"' not in lines.code and "'" not in lines.code and "#" not in lines.code
    assert "a ( string" not in lines.code and "brackets" not in lines.code
    assert lines.code.count("Variable") == TRICKY.count("Variable") - 1  # the one in the docstring is blanked
    assert "{w!r}" in lines.code.replace("{", "").replace("}", "") or "w!r" in lines.code  # f-string fields stay code


@pytest.mark.parametrize("eol", ["\n", "\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize("word", ["Variable", "w", "u", "a", "import", "r", "q", "t"])
def test_every_occurrence_gets_the_logical_line_cpythons_tokenizer_finds(word, eol):
    text = TRICKY.replace("\n", eol)
    lines = LogicalLines(text)
    found = lines.occurrences(word)
    assert found
    for at in found:
        assert lines.span(at) == logical_line_of(text, at), (word, at, text[at - 20:at + 20])


def test_occurrences_are_whole_identifiers_in_code_only():
    lines = LogicalLines("variables = 1\nVariable2 = tf.Variable(1)  # Variable\nx = 'Variable'\n")
    assert lines.occurrences("Variable") == [29]


@pytest.mark.parametrize("eol", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_each_line_compiles_alone_even_as_a_header_or_a_clause(eol):
    lines = LogicalLines(TRICKY.replace("\n", eol))
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
    "y = tf.Variable(1)\rx = 1\r",  # lone CR line ends
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
    from tapelint import registry

    fixtures = Path(__file__).resolve().parent.parent / "fixtures"
    examples = [textwrap.dedent(e.code) for r in registry.all_rules().values()
                for e in (*r.all_valid(), *r.all_invalid())]
    return [TRICKY] + examples + [p.read_text(encoding="utf-8") for p in sorted(fixtures.rglob("*.py"))]


def test_strings_and_comments_are_the_tokens_cpythons_tokenizer_finds():
    for text in [*_sources(), *_block_sources()]:
        strings, _ = check.tokens(text)
        assert [m.span() for m in _STRING_OR_COMMENT.finditer(text)] == strings


BLOCKS = textwrap.dedent('''\
    import tensorflow as tf

    class Trainer:
        """A docstring that mentions
    with tape:  (at column 0, in the string)
        """

        @tf.function
        def step(self, x):
            with tf.GradientTape() as tape:
                y = f(x,
    1)  # a continuation line at column 0
                z = y + \\
    2
    # a comment at column 0
                if z:
                    pass
                else:
                    def inner():
                        with tape: self.opt.minimize(z, [x], tape=tape)
                        return tape.gradient(z, x)
                    for i in range(2):
                        self.opt.apply_gradients([(z, x)])
            self.opt.apply(z)
            return z
    async def run(t):
        async with t:
            await t.apply(1)
    ''')


def _with_ancestors(tree: ast.Module) -> dict[ast.stmt, set[int]]:
    """Every statement -> the lines of the `with` statements whose body holds it (at any depth)."""
    out: dict[ast.stmt, set[int]] = {}

    def visit(body, withs):
        for stmt in body:
            out[stmt] = set(withs)
            inner = withs | {stmt.lineno} if isinstance(stmt, (ast.With, ast.AsyncWith)) else withs
            for field in ("body", "orelse", "finalbody"):
                visit(getattr(stmt, field, []), inner)
            for handler in getattr(stmt, "handlers", []):
                visit(handler.body, inner)
            for case in getattr(stmt, "cases", []):
                visit(case.body, inner)

    visit(tree.body, frozenset())
    return out


def _block_sources() -> list[str]:
    from tapelint import registry

    root = Path(__file__).resolve().parent.parent
    texts = [p.read_text(encoding="utf-8") for p in sorted((root / "fixtures").rglob("*.py"))]
    texts += [textwrap.dedent(e.code) for r in registry.all_rules().values() if r.origin == "tapelint"
              for e in (*r.all_invalid(), *r.all_valid())]
    return [BLOCKS, *texts, *(p.read_text(encoding="utf-8") for p in sorted((root / "tapelint").rglob("*.py")))]


@pytest.mark.parametrize("source", _block_sources(), ids=lambda s: s.strip().splitlines()[0][:30] if s.strip() else "-")
def test_the_blocks_around_a_statement_are_those_of_cpythons_tree(source):
    # Read from indentation: the headers around each statement's logical line, of which the `with`
    # statements are exactly those whose body holds the statement in CPython's tree.
    lines = LogicalLines(source)
    if lines.code is None:
        pytest.skip("not read from logical lines")
    starts = [0] + [i + 1 for i, c in enumerate(source) if c == "\n"]
    for stmt, withs in _with_ancestors(ast.parse(source)).items():
        start = starts[stmt.lineno - 1]
        around = lines.enclosing(start)
        assert around is not None, stmt.lineno
        rows = {bisect.bisect_right(starts, at) for at in around}
        found = {row for row in rows | {stmt.lineno}
                 if source[starts[row - 1]:].lstrip().startswith(("with", "async with"))}
        # A statement on its `with`'s own line (`with t: step()`) may be the body or the `with` itself:
        # withs_around reads that line either way.
        own = {stmt.lineno} & found
        assert found == withs | own, (stmt.lineno, sorted(rows))


def test_the_blocks_around_a_statement_in_tab_indented_code_are_not_read():
    source = "with t:\n\tif x:\n\t\topt.minimize(y)\n"
    lines = LogicalLines(source)
    assert lines.enclosing(source.index("\t\topt")) is None
    assert lines.enclosing(0) == []
