"""The screens of the custom-gradient rules (TL011, TL012, TL013, TL019) and their index on CPython's tree
(tapelint/screen_custom_gradients.py), against the semantic model's (tapelint/semantic/custom_gradients.py).

For every custom gradient the model finds in the fixtures and in every rule's examples, the index finds
the forward function with the model's count of inputs, each gradient function with the same parameters
and returns, at least the variables read, each call with keyword arguments; and wherever the model
takes a value for a tensor, a function or a count, the index allows it. Then near misses each screen
rules out (the rule finds nothing there either), and bugs it keeps.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from tapelint import linter, registry
from tapelint.lazy_libcst import cst
from tapelint.screen import Facts
from tapelint.screen_custom_gradients import NOT_COUNTED, custom_gradient_sites
from tapelint.semantic.model import SemanticModel
from tapelint.source import read_source

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
RULES = [r for r in registry.all_rules().values() if r.origin == "tapelint"]
MODES = ["tree", "lines"]


def _sources() -> list[tuple[str, str]]:
    out = [(str(p.relative_to(FIXTURES)), read_source(p)) for p in sorted(FIXTURES.rglob("*.py"))]
    for rule in RULES:
        for i, example in enumerate([*rule.all_valid(), *rule.all_invalid()]):
            out.append((f"{rule.code}-{i}", textwrap.dedent(example.code)))
    return [(name, text) for name, text in out if "custom_gradient" in text]


SOURCES = _sources()


def _mismatches(source: str) -> list[str]:
    model = SemanticModel(cst.parse_module(source))
    index = model.custom_gradients
    tree = ast.parse(source)
    sites = custom_gradient_sites(Facts(source, tree))
    lines = source.splitlines()
    nodes = {}  # the span and kind of each expression (a tuple's inside its parentheses too) -> it
    for n in ast.walk(tree):
        if isinstance(n, ast.expr):
            nodes[n.lineno, n.col_offset, n.end_lineno, n.end_col_offset, type(n).__name__] = n
            if isinstance(n, ast.Tuple) and lines[n.lineno - 1][n.col_offset] == "(":
                nodes[n.lineno, n.col_offset + 1, n.end_lineno, n.end_col_offset - 1, "Tuple"] = n

    def at(node: cst.CSTNode) -> tuple[int, int]:
        start = model.span(node)[0]
        return start.row, start.column - 1

    def find(value: cst.BaseExpression) -> ast.expr | None:
        """The expression of CPython's tree at the place of ``value``."""
        end = model.span(value)[1]
        kind = _AST_KINDS.get(type(value).__name__, type(value).__name__)
        if isinstance(value, cst.Name) and value.value in ("None", "True", "False"):
            kind = "Constant"
        return nodes.get(at(value) + (end.row, end.column - 1, kind))

    def same(value: cst.BaseExpression, functions) -> list[str]:
        """What the model tells of ``value``, the index allows of the expression at its place."""
        expr = find(value)
        if expr is None:
            return [f"no expression at {at(value)}"]
        out = []
        if index.is_tensor(value) and not sites.may_be_tensor(expr, functions):
            out.append(f"{ast.unparse(expr)} may be a tensor")
        if index.function_in(value) is not None and not sites.may_hold_function(expr, functions):
            out.append(f"{ast.unparse(expr)} may hold a function")
        count = index.flat_count(value)
        if count is not None and sites.leaves(expr, functions) not in (None, count):
            out.append(f"{ast.unparse(expr)} counts {count}")
        for element in value.elements if isinstance(value, (cst.Tuple, cst.List)) else ():
            out += same(element.value, functions)
        return out

    out = []
    for cg in index:
        line = at(cg.forward.name)[0]
        found = [f for f in sites.forwards if f.node.lineno == line and f.node.name == cg.name]
        if not found:
            out.append(f"{cg.name} of line {line} not found")
            continue
        forward = found[0]
        if (cg.required_inputs, len(cg.inputs)) not in forward.input_counts or cg.variadic != forward.variadic:
            out.append(f"{cg.name}: inputs differ")
        if cg.decorated and cg.forward.decorators[0] is cg.application and not forward.outermost:
            out.append(f"{cg.name}: outermost decorator differs")
        if len(cg.variable_keys) > sites.variables_read(forward):
            out.append(f"{cg.name}: reads more variables")
        if sorted(r.lineno for r in forward.returns) != sorted(at(r)[0] for r in cg.returns):
            out.append(f"{cg.name}: returns differ")
        for ret in cg.returns:
            if ret.value is not None:
                out += same(ret.value, forward.functions)
        for grad in cg.grad_functions:
            anchor = at(grad.node.name if isinstance(grad.node, cst.FunctionDef) else grad.node)
            sites_grads = [g for g in forward.grads if (g.node.lineno, g.node.col_offset) == anchor
                           or isinstance(g.node, ast.FunctionDef) and g.node.lineno == anchor[0]]
            if not sites_grads:
                out.append(f"{grad.name} of line {anchor[0]} not found")
                continue
            site = sites_grads[0]
            if ([p.name.value for p in grad.positional], sum(1 for p in grad.positional if p.default is None),
                    grad.takes_variables, grad.has_variables_param, grad.star_upstream) != \
                    ([a.arg for a in site.positional], site.required, site.takes_variables,
                     site.has_variables_param, site.star_upstream):
                out.append(f"{grad.name}: parameters differ")
            if len(grad.returns) != len(site.returns):
                out.append(f"{grad.name}: returns differ")
            for value in grad.returns:
                if value is not None:
                    out += same(value, site.functions)
        for pair in cg.pairs:
            if pair.output is None:
                continue
            found_pairs = [p for p in forward.pairs if p.output is find(pair.output)]
            if not found_pairs:
                out.append(f"{cg.name}: pair of line {at(pair.node)[0]} not found")
            elif pair.grad is not None and \
                    not any(g.node.lineno == at(pair.grad.node)[0] for g in found_pairs[0].grads):
                out.append(f"{cg.name}: gradient function of line {at(pair.node)[0]} not found")
        calls = {(c.lineno, c.col_offset): functions for c, functions in sites.keyword_calls}
        for call in index.calls(cg):
            if any(a.star for a in call.args) or not any(a.keyword is not None for a in call.args):
                continue
            if at(call) not in calls:
                out.append(f"call of {cg.name} at {at(call)} not found")
            elif model.in_tf_function(call) and not sites.may_run_in_tf_function(calls[at(call)]):
                out.append(f"call of {cg.name} at {at(call)}: tf.function differs")
    return out


_AST_KINDS = {"BinaryOperation": "BinOp", "UnaryOperation": "UnaryOp", "BooleanOperation": "BoolOp",
              "Comparison": "Compare", "Integer": "Constant", "Float": "Constant", "Imaginary": "Constant",
              "SimpleString": "Constant", "ConcatenatedString": "Constant", "FormattedString": "JoinedStr",
              "Ellipsis": "Constant"}


def test_there_are_custom_gradients_to_compare():
    assert len(SOURCES) > 30


@pytest.mark.parametrize("name, source", SOURCES, ids=[n for n, _ in SOURCES])
def test_the_index_finds_what_the_model_finds(name, source):
    assert _mismatches(source) == []


def facts_in(mode: str, source: str) -> Facts:
    return Facts(source, ast.parse(source)) if mode == "tree" else Facts(source)


def assert_screen(code: str, source: str, expected: bool) -> None:
    """In both modes, the screen of rule ``code`` decides ``expected``; where it rules the rule out,
    the rule finds nothing in the whole file either."""
    source = textwrap.dedent(source)
    rule = registry.all_rules()[code]
    for mode in MODES:
        assert rule.screen(facts_in(mode, source)) is expected, mode
    if not expected:
        assert linter.analyse(source, "t.py", [rule], partial=False)[1] == []


# -- the index ---------------------------------------------------------------------------------------------

def _sites(source: str):
    source = textwrap.dedent(source)
    return custom_gradient_sites(Facts(source, ast.parse(source)))


def test_names_are_looked_up_in_the_functions_around_them():
    sites = _sites("""
        import tensorflow as tf

        grad = tf.zeros([3])

        def outer(scale):
            @tf.custom_gradient
            def f(x):
                def grad(dy):
                    return dy * scale
                return x * scale, grad
            return f

        def delta(dy):
            return dy, dy
        """)
    forward, = sites.forwards
    (pair,), (grad,) = forward.pairs, forward.grads
    assert pair.grads == [grad] and grad.node.lineno == 9  # not the module's `delta`, nor its `grad`
    assert sites.resolve("grad", forward.functions) == ([grad.node], False)
    assert sites.resolve("scale", forward.functions)[1]  # a parameter of `outer`
    assert sites.resolve("delta", forward.functions) == (sites.defs["delta"], False)


def test_counts_follow_flat_count():
    sites = _sites("""
        import tensorflow as tf
        pair = (1, 2)
        def f(a, b):
            return (a, (b, None)), [a, 2.0], pair, helper(a), tf.exp(a), "s", [*a]
        """)
    fn = sites.defs["f"][0]
    values = fn.body[0].value.elts
    assert [sites.leaves(v, (fn,)) for v in values] == [3, 2, None, NOT_COUNTED, 1, NOT_COUNTED, NOT_COUNTED]


def test_inputs_of_methods_and_static_methods():
    sites = _sites("""
        import tensorflow as tf

        class L:
            @tf.custom_gradient
            def m(self, x, y=1):
                return x, lambda dy: dy

            @staticmethod
            @tf.custom_gradient
            def s(x):
                return x, lambda dy: dy
        """)
    assert [(f.node.name, f.input_counts, f.outermost) for f in sites.forwards] == [
        ("m", [(1, 2)], True), ("s", [(0, 0), (1, 1)], False)]


# -- TL011 -------------------------------------------------------------------------------------------------

def test_tl011_rules_out_matching_counts_and_unknown_structures():
    assert_screen("TL011", """
        import tensorflow as tf

        @tf.custom_gradient
        def clip(x, threshold):
            def grad(dy):
                if threshold is None:
                    return dy, None
                return helper(dy, threshold)  # not counted: a local helper's result
            return tf.minimum(x, threshold), grad

        @tf.custom_gradient
        def scale(x, factor=2.0):
            return x * factor, lambda dy: dy * factor  # one input when called as scale(x)

        @tf.custom_gradient
        def many(*xs):
            return tf.add_n(xs), lambda dy: dy
        """, False)


def test_tl011_keeps_a_missing_gradient_and_a_returned_function():
    assert_screen("TL011", """
        import tensorflow as tf

        @tf.custom_gradient
        def clip(x, threshold):
            def grad(dy):
                return tf.where(x < threshold, dy, 0.0)
            return tf.minimum(x, threshold), grad
        """, True)
    assert_screen("TL011", """
        import tensorflow as tf

        @tf.custom_gradient
        def norm(x):
            def grad(dy):
                return grad
            return tf.norm(x), grad
        """, True)


def test_tl011_keeps_a_count_through_a_name_bound_to_a_tuple():
    assert_screen("TL011", """
        import tensorflow as tf

        @tf.custom_gradient
        def mul(a, b):
            def grad(dy):
                grads = (dy * b, dy * a, None)
                return grads
            return a * b, grad
        """, True)


# -- TL012 -------------------------------------------------------------------------------------------------

def test_tl012_rules_out_forwards_that_read_no_variable_or_handle_them():
    assert_screen("TL012", """
        import tensorflow as tf

        w = tf.Variable(2.0)

        @tf.custom_gradient
        def scaled(x):
            y = w * x
            def grad(dy, variables=None):
                return dy * w, [tf.reduce_sum(dy * x)]
            return y, grad

        @tf.custom_gradient
        def plain(x, w):  # its own `w`, not the variable
            def grad(dy):
                return dy * w, None
            return x * w, grad
        """, False)


def test_tl012_keeps_a_variable_read_without_a_variables_parameter():
    assert_screen("TL012", """
        import tensorflow as tf

        class Dense(tf.keras.layers.Layer):
            def build(self, shape):
                self.kernel = self.add_weight(shape=shape)

            @tf.custom_gradient
            def call(self, x):
                def grad(dy):
                    return tf.matmul(dy, self.kernel, transpose_b=True)
                return tf.matmul(x, self.kernel), grad
        """, True)


def test_tl012_keeps_too_few_variable_gradients():
    assert_screen("TL012", """
        import tensorflow as tf

        w = tf.Variable(tf.ones([4, 4]))
        b = tf.Variable(tf.zeros([4]))

        @tf.custom_gradient
        def affine(x):
            def grad(dy, variables=None):
                return tf.linalg.matvec(w, dy, transpose_a=True), [tf.tensordot(dy, x, axes=0)]
            return tf.linalg.matvec(w, x) + b, grad
        """, True)


# -- TL013 -------------------------------------------------------------------------------------------------

def test_tl013_rules_out_pairs_of_output_and_function():
    assert_screen("TL013", """
        import tensorflow as tf

        grad = tf.zeros([3])  # another `grad` than the forward's own

        @tf.custom_gradient
        def split_heads(x):
            a, b = tf.split(x, 2, axis=-1)
            def grad(da, db):
                return tf.concat([da, db], axis=-1)
            return (a, b), grad

        @tf.custom_gradient
        def ste(x):
            if x is None:
                raise ValueError("x")
            return tf.round(x), lambda dy: dy

        @tf.custom_gradient
        def not_implemented(x):
            raise NotImplementedError
        """, False)


def test_tl013_keeps_a_returned_output_alone_and_a_gradient_without_upstream():
    assert_screen("TL013", """
        import tensorflow as tf

        @tf.custom_gradient
        def safe_norm(x):
            y = tf.norm(x)
            def grad(dy):
                return dy * x / y
            return y
        """, True)
    assert_screen("TL013", """
        import tensorflow as tf

        @tf.custom_gradient
        def clip(x):
            def grad():
                return tf.clip_by_norm(x, 1.0)
            return tf.identity(x), grad
        """, True)


def test_tl013_keeps_a_gradient_that_takes_too_few_upstream_gradients():
    assert_screen("TL013", """
        import tensorflow as tf

        def _pair(x):
            a, b = tf.sin(x), tf.cos(x)
            def grad(da):
                return da * b
            return (a, b), grad

        pair = tf.custom_gradient(_pair)
        """, True)


# -- TL019 -------------------------------------------------------------------------------------------------

def test_tl019_rules_out_positional_calls_and_literal_options():
    assert_screen("TL019", """
        import tensorflow as tf

        @tf.custom_gradient
        def clip_grad(x, clip_norm=1.0):
            def grad(dy):
                return tf.clip_by_norm(dy, clip_norm)
            return tf.identity(x), grad

        @tf.custom_gradient
        def gated(x, gate, *, axis=-1):
            return x * gate, lambda dy: (dy * gate, None)

        def forward(h, g, ax):
            return clip_grad(h), clip_grad(h, 0.5), gated(h, g, axis=ax), clip_grad(x=1.0)
        """, False)


def test_tl019_keeps_a_tensor_by_keyword_and_any_keyword_in_a_tf_function():
    assert_screen("TL019", """
        import tensorflow as tf

        @tf.custom_gradient
        def scaled_identity(x, scale):
            return tf.identity(x), lambda dy: (dy * scale, None)

        def forward(h):
            return scaled_identity(x=h, scale=tf.constant(0.1))
        """, True)
    assert_screen("TL019", """
        import tensorflow as tf

        @tf.custom_gradient
        def gated(x, gate, *, axis=-1):
            return x * gate, lambda dy: (dy * gate, None)

        def step(x, g):
            return gated(x, g, axis=1)

        step = tf.function(step)
        """, True)


def test_tl019_keeps_a_keyword_call_that_starts_on_the_line_where_another_statement_ends():
    assert_screen("TL019", """
        import tensorflow as tf

        @tf.custom_gradient
        def scaled_identity(x, scale):
            return tf.identity(x), lambda dy: (dy * scale, None)

        def forward(h, s):
            z = helper(h,
                       scaled_identity(h, scale=s)); y = 2
            return z
        """, True)


def test_tl019_finds_keyword_calls_where_a_lone_carriage_return_ends_lines():
    source = textwrap.dedent("""
        import tensorflow as tf

        @tf.custom_gradient
        def scaled_identity(x, scale):
            return tf.identity(x), lambda dy: (dy * scale, None)

        def forward(h, s):
            return scaled_identity(h, scale=s)
        """).replace("\n", "\r")
    rule = registry.all_rules()["TL019"]
    assert rule.screen(Facts(source)) and rule.screen(Facts(source, ast.parse(source)))
