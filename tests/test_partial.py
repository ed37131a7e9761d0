"""Partial analysis (tapelint/partial.py) finds exactly what a whole-file analysis finds.

Every rule runs over every fixture and every rule example both ways and the findings are compared;
then the cases the closure exists for: callees, callers, module-level values used elsewhere,
``global``, ``tf.function`` on a name, import aliases, syntax errors in left-out code, rules that
need the whole module, and fixes. (bench/lint_speed.py compares the same over TensorFlow and Keras.)
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tapelint import linter, registry
from tapelint.partial import reduce_source
from tapelint.rules.base import Finding, Rule
from tapelint.source import read_source

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
RULES = [r for r in registry.all_rules().values() if r.origin == "tapelint"]
FILES = sorted((FIXTURES / "buggy").glob("*.py")) + sorted((FIXTURES / "correct").glob("*.py"))
EXAMPLES = [(r.code, i, ex.code) for r in RULES for i, ex in enumerate([*r.all_invalid(), *r.all_valid()])]


def findings(source: str, rules=RULES, *, partial: bool) -> list[tuple]:
    _, diagnostics = linter.analyse(source, "x.py", rules, partial=partial)
    return [(d.code, d.location.row, d.location.column, d.end_location.row, d.end_location.column, d.message)
            for d in diagnostics]


def same_both_ways(source: str, rules=RULES) -> list[tuple]:
    whole = findings(source, rules, partial=False)
    assert findings(source, rules, partial=True) == whole
    return whole


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_fixture_findings_are_those_of_the_whole_file(path):
    same_both_ways(read_source(path))


@pytest.mark.parametrize("code,index,example", EXAMPLES, ids=lambda v: str(v)[:20])
def test_rule_example_findings_are_those_of_the_whole_file(code, index, example):
    same_both_ways(textwrap.dedent(example))


# -- what is kept --------------------------------------------------------------------------------------------
HELPERS = '''\
import tensorflow as tf
import numpy as np

def unrelated(a):
    """No trigger word here."""
    return a + 1

def train_step(model, x):
    with tf.GradientTape() as tape:
        y = model(x)
    return tape.gradient(y, model.trainable_variables)

class Other:
    def method(self):
        return 2
'''


def test_defs_without_trigger_words_are_left_out_and_rows_map_the_rest_to_the_file():
    reduction, compiled = reduce_source(HELPERS, ["GradientTape"])
    assert compiled and reduction is not None
    lines, kept = HELPERS.split("\n"), reduction.text.split("\n")
    assert reduction.kept == ("train_step",)
    assert len(kept) == len(reduction.rows) < len(lines) and list(reduction.rows) == sorted(set(reduction.rows))
    for row, partial in zip(reduction.rows, kept):
        assert partial == lines[row - 1]  # columns unchanged
    # what is left out: the other defs, and blank and comment lines between top-level statements
    left_out = [lines[i - 1] for i in range(1, len(lines) + 1) if i not in reduction.rows]
    assert any("def unrelated" in line for line in left_out) and "" in left_out
    assert "unrelated" not in reduction.text and "class Other" not in reduction.text
    assert "import numpy as np" in reduction.text  # every top-level statement that is not a def


def _kept(source: str, words=("GradientTape",)) -> tuple[str, ...] | None:
    reduction, _ = reduce_source(textwrap.dedent(source), list(words))
    return None if reduction is None else reduction.kept


def test_a_callee_and_a_base_class_are_kept():
    assert _kept('''\
        import tensorflow as tf
        def loss_fn(y):
            return tf.reduce_sum(y)
        def other():
            pass
        class Base(tf.keras.Model):
            pass
        class Net(Base):
            def train_step(self, x):
                with tf.GradientTape() as tape:
                    loss = loss_fn(self(x))
                return tape.gradient(loss, self.trainable_variables)
        ''') == ("loss_fn", "Base", "Net")


def test_callers_of_a_kept_function_are_kept():
    # TL005 asks whether every call passes a fresh tensor; the calls are elsewhere.
    assert _kept('''\
        import tensorflow as tf
        def saliency(x):
            with tf.GradientTape() as tape:
                y = x * x
            return tape.gradient(y, x)
        def main():
            return saliency(tf.constant(1.0))
        def other():
            pass
        ''') == ("saliency", "main")


def test_users_of_a_module_level_value_a_kept_statement_binds_are_kept():
    assert _kept('''\
        import tensorflow as tf
        tape = tf.GradientTape(persistent=True)
        def use():
            with tape:
                pass
        def other():
            pass
        ''') == ("use",)


def test_a_global_statement_keeps_its_function():
    assert _kept('''\
        import tensorflow as tf
        w = tf.Variable(1.0)
        def step():
            global w
            w = w - 1
        def other():
            pass
        ''', ["Variable"]) == ("step",)


def test_tf_function_on_an_attribute_keeps_the_wrapping_code():
    assert _kept('''\
        import tensorflow as tf
        class Model:
            def train_step(self, x):
                with tf.GradientTape() as tape:
                    y = x * x
                return tape.gradient(y, x)
        def setup(m):
            return tf.function(m.train_step)
        def other(m):
            return m.predict
        ''') == ("Model", "setup")


def test_an_import_alias_of_a_trigger_word_is_a_trigger_word():
    assert _kept('''\
        from tensorflow import GradientTape as GT
        def f(x):
            with GT() as t:
                y = x * x
            return t.gradient(y, x)
        def other():
            pass
        ''') == ("f",)


def test_a_trigger_word_counts_at_the_end_of_an_identifier_only():
    # The model knows a construct by a name ending with its rule's word (`ResourceVariable`,
    # `K.variable`, `recurrent_kernel`); inside a longer name the word is another thing.
    source = '''\
        from keras.backend import variable as make
        from tensorflow.python.ops import variables as variables_lib
        def resource():
            return ResourceVariable(1.0)
        def backend():
            return K.variable(1.0)
        def aliased():
            return make(1.0)
        def weights(layer):
            return layer.recurrent_kernel
        def listed(model):
            return model.trainable_variables
        def lib():
            return variables_lib.global_variables_initializer()
        def size(layer):
            return layer.kernel_size
        '''
    assert _kept(source, ("Variable", "variable", "kernel")) == ("resource", "backend", "aliased", "weights")


def test_nothing_to_leave_out_means_the_whole_file():
    assert reduce_source("import tensorflow as tf\nwith tf.GradientTape() as t:\n    pass\n", ["GradientTape"]) == (None, True)
    assert reduce_source("def f(:\n", ["GradientTape"]) == (None, False)


def test_a_syntax_error_in_left_out_code_is_still_reported():
    source = HELPERS + "\ndef broken(:\n    pass\n"
    whole = same_both_ways(source)
    assert [f[0] for f in whole] == ["TL000"]


def test_crlf_line_ends_keep_rows_and_columns():
    source = HELPERS.replace("\n", "\r\n") + "with tf.GradientTape() as t:\r\n    y = t.gradient(1, 2)\r\n"
    assert findings(source, partial=True) == findings(source, partial=False)


# -- rules that need more --------------------------------------------------------------------------------------
class CountDefs(Rule):
    """Reports every function: its verdict depends on the whole module."""

    code = "TY001"
    name = "count-defs"
    summary = message = "a function"
    triggers = ("GradientTape",)

    def check(self, model):
        import libcst as cst

        for fn in model.nodes(cst.FunctionDef):
            yield Finding(fn.name)


class CountDefsWhole(CountDefs):
    code = "TY002"
    needs_whole_module = True


class CountDefsAlways(CountDefs):
    code = "TY003"
    triggers = ()


def test_a_rule_sees_only_the_kept_parts_unless_it_needs_the_whole_module():
    partial = findings(HELPERS, [CountDefs], partial=True)
    assert [f[1] for f in partial] == [8]  # train_step only
    assert [f[1] for f in findings(HELPERS, [CountDefsWhole], partial=True)] == [4, 8, 14]
    # A rule without trigger words runs everywhere and may look anywhere: the whole file, for all.
    assert [f[1] for f in findings(HELPERS, [CountDefs, CountDefsAlways], partial=True)] == [4, 4, 8, 8, 14, 14]


def test_a_finding_with_a_fix_comes_with_the_whole_module():
    source = HELPERS + textwrap.dedent('''\
        x = tf.Variable(1.0)
        with tf.GradientTape() as tape:
            y = x * x
            z = y * y
        a = tape.gradient(z, x)
        b = tape.gradient(y, x)
        ''')
    module, diagnostics = linter.analyse(source, "x.py", RULES, partial=True)
    assert any(d.cst_fix is not None for d in diagnostics)
    assert module.code == source
    assert findings(source, partial=True) == findings(source, partial=False)


# -- methods ----------------------------------------------------------------------------------------------------
METHODS = '''\
import tensorflow as tf

class ModelTest(tf.test.TestCase):
    """Tests mention GradientTape in docstrings; that alone keeps nothing."""

    def setUp(self):
        self.x = tf.constant([1.0, 2.0])

    def prepare(self):
        self.w = tf.Variable([0.5, 0.5])

    def _loss(self, y):
        return tf.reduce_sum(y * self.w)

    def test_gradient(self):
        self.prepare()
        with tf.GradientTape() as tape:
            loss = self._loss(self.x)
        return tape.gradient(loss, self.x)

    def test_calls_the_gradient_test(self):
        self.test_gradient()

    def test_unrelated(self):
        """Uses GradientTape? No."""
        self.assertEqual(1, 1)

    def test_also_unrelated(self):
        self.assertAllClose(self.x, self.x)
'''


def _methods_left(source: str, words=("GradientTape",)) -> list[str]:
    reduction, _ = reduce_source(source, list(words))
    assert reduction is not None
    return [line.strip()[4:].split("(")[0] for line in reduction.text.split("\n") if line.strip().startswith("def ")]


def test_a_kept_class_keeps_the_methods_its_kept_code_reaches_and_blanks_the_others():
    # setUp runs implicitly; prepare and _loss are called; prepare stores the attribute `w` _loss reads;
    # test_calls_the_gradient_test calls a kept method. The rest only mentions the words in strings.
    assert _methods_left(METHODS) == ["setUp", "prepare", "_loss", "test_gradient", "test_calls_the_gradient_test"]
    same_both_ways(METHODS)


def test_a_method_storing_an_attribute_the_kept_code_reads_is_kept():
    source = METHODS.replace("        self.prepare()\n", "")
    assert "prepare" in _methods_left(source)  # it creates self.w, which _loss reads


def test_a_class_body_keeps_a_statement():
    source = '''\
import tensorflow as tf

class Holder:
    def first(self):
        return 1

    def second(self):
        return 2

def step(x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = Holder()
    return tape.gradient(y, x)
'''
    assert _methods_left(source) == ["first", "step"]
    same_both_ways(source)


def test_methods_are_compared_with_whole_files_on_findings_in_blanked_neighbourhoods():
    source = '''\
import tensorflow as tf

class Trainer(tf.Module):
    def __init__(self):
        self.w = tf.Variable(1.0)
        self.opt = tf.keras.optimizers.SGD()

    def unrelated(self):
        return 3

    def loss_of(self, x):
        return self.w * x

    def step(self, x):
        loss = self.loss_of(x)
        with tf.GradientTape() as tape:
            pass
        return tape.gradient(loss, [self.w])
'''
    whole = same_both_ways(source)
    assert [(code, row) for code, row, *_ in whole] == [("TL001", 18)]
    assert "unrelated" not in _methods_left(source)


ROWS = '''\
#!/usr/bin/env python
"""Module docstring."""
import tensorflow as tf  # expect the rows below to be the file's

# a comment between statements


def unrelated(a):
    """No trigger word here."""
    return a + 1

x = 1 \\

# the line above is continued into by a backslash
@tf.function
def train_step(model, x):
    with tf.GradientTape(persistent=True) as tape:
        y = model(x)
        # a comment inside kept code
        g = tape.gradient(y, model.trainable_variables)
    with tf.GradientTape() as again:
        z = model(x)
    return again.gradient(z, x), again.gradient(z, x)


class Other:

    def method(self):
        return 2
'''


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_rows_of_findings_in_the_shortened_text_are_the_files(newline):
    source = ROWS.replace("\n", newline)
    reduction, _ = reduce_source(source, ["GradientTape"])
    assert reduction is not None and len(reduction.text.split("\n")) < len(source.split("\n"))
    whole = same_both_ways(source)
    assert [(code, row) for code, row, *_ in whole] == [("TL003", 20), ("TL002", 23)]
    assert "line 23" in whole[1][-1]  # a row in a message is mapped too


def test_a_position_past_the_shortened_texts_last_line_maps_past_the_files():
    import libcst as cst

    from tapelint.semantic.model import SemanticModel

    module = cst.parse_module("import tensorflow as tf\ndef f():\n    pass\n")
    model = SemanticModel(module, rows=(1, 5, 6))  # rows 2-4 of the file were left out
    start, end = model.span(module)
    assert (start.row, end.row) == (1, 7)  # the module ends on the line after its last
    fn = module.body[1]
    assert (model.span(fn)[0].row, model.span(fn)[1].row) == (5, 6)


CUSTOM_GRADIENTS = '''\
import tensorflow as tf

@tf.custom_gradient
def clip_grad(x, threshold):
    def grad(dy):
        return tf.clip_by_norm(dy, threshold)
    return tf.identity(x), grad

def apply_clip(x):
    return clip_grad(x, threshold=tf.constant(1.0))

def pipeline(x):
    return apply_clip(x) * 2.0

class Gate(tf.keras.layers.Layer):
    def build(self, input_shape):
        self.w = self.add_weight(shape=input_shape[-1:])

    def call(self, x):
        @tf.custom_gradient
        def gated(x):
            def grad(dy):
                return dy * self.w
            return x * self.w, grad
        return gated(x)

class LoudGate(Gate):
    def call(self, x):
        print("gate")
        return super().call(x)

def make_gate():
    return LoudGate()
'''


def test_no_builtin_rule_needs_indirect_callers():
    # Every built-in rule looks at the code holding its trigger words, what that code refers to (at any
    # depth) and the direct callers of it; only a rule that reads the whole module (TL015) says
    # otherwise, and it gets the whole file anyway.
    assert {r.code for r in RULES if r.needs_indirect_callers} <= {r.code for r in RULES if r.needs_whole_module}


def test_custom_gradient_rules_keep_direct_callers_only():
    # The custom-gradient rules look at a custom gradient, what it refers to and its calls: not at the
    # callers of its callers (`pipeline`), nor at subclasses of its class and their users.
    rules = [r for r in RULES if r.code in ("TL011", "TL012", "TL013", "TL019")]
    source = CUSTOM_GRADIENTS
    narrow, _ = reduce_source(source, ["custom_gradient"], indirect_callers=False)
    wide, _ = reduce_source(source, ["custom_gradient"])
    assert narrow.kept == ("clip_grad", "apply_clip", "Gate")
    assert wide is None  # callers of callers and the subclass's users: nothing would be left out
    whole = same_both_ways(source, rules)
    assert [(code, row) for code, row, *_ in whole] == [("TL011", 6), ("TL019", 10), ("TL012", 22)]


TAPE_CALLERS = '''\
import tensorflow as tf

def loss_of(w, x):
    return tf.reduce_sum(w * x)

def step(w, x):
    with tf.GradientTape() as tape:
        loss = loss_of(w, x)
    return tape.gradient(loss, w)

def train(n):
    for _ in range(n):
        step(tf.constant([1.0, 2.0]), tf.constant([3.0, 4.0]))

def main():
    train(10)
    loss_of(tf.constant(1.0), tf.constant(2.0))

class Trainer:
    def fit(self, x):
        return step({w}, x)

class Tuned(Trainer):
    def fit(self, x):
        return super().fit(x) * 2

def run():
    return Tuned().fit(tf.constant([2.0]))
'''


@pytest.mark.parametrize("w,expected", [("tf.constant([1.0])", [("TL005", 9)]), ("x", [])])
def test_tape_rules_keep_the_direct_callers_of_a_tape_function_only(w, expected):
    # TL005 reads the direct callers of the function holding the tape: where every call passes a new
    # tensor, `w` is unwatched (and where `Trainer.fit` passes its own argument, it may be a variable).
    # The callers of those callers (`main`, `run`), the other callers of a function the tape calls
    # (`main` again) and a subclass of a caller's class (`Tuned`) are not kept.
    source = TAPE_CALLERS.replace("{w}", w)
    narrow, _ = reduce_source(source, ["GradientTape", "minimize"], indirect_callers=False)
    wide, _ = reduce_source(source, ["GradientTape", "minimize"])
    assert narrow.kept == ("loss_of", "step", "train", "Trainer")
    assert wide is None  # nothing would be left out
    assert [(code, row) for code, row, *_ in same_both_ways(source)] == expected


def test_custom_gradient_rules_still_follow_what_a_custom_gradient_refers_to_at_any_depth():
    # The method applies custom_gradient to a module-level function, which returns another one as its
    # gradient function: each is reached only through the one before (a narrower closure, tried, lost
    # this TL011).
    source = textwrap.dedent('''\
        import tensorflow as tf

        def grad_fn(dy):
            return dy, dy

        def forward(x):
            return tf.identity(x), grad_fn

        def helper():
            return 1

        class Layer:
            def call(self, x):
                f = tf.custom_gradient(forward)
                return f(x) + helper()
        ''')
    rules = [r for r in RULES if not r.needs_indirect_callers]
    assert [(code, row) for code, row, *_ in same_both_ways(source, rules)] == [("TL011", 4)]


NAMED_METHODS = '''\
import tensorflow as tf

class Scaler(tf.keras.layers.Layer):
    def build(self, shape):
        self._create(shape)

    def _create(self, shape):
        self.w = tf.Variable(tf.ones(shape))

    def call(self, x):
        @tf.custom_gradient
        def scale(x):
            def grad(dy):
                return dy * self.w
            return x * self.w, grad
        return self.helper(scale(x))

    def helper(self, y):
        return self.deeper(y) + 1.0

    def deeper(self, y):
        return y * 2.0

    def fit(self, x):
        with tf.GradientTape() as tape:
            loss = self.call(x)
        return tape.gradient(loss, self.trainable_variables)
'''


def test_custom_gradient_rules_keep_only_the_methods_their_own_code_names():
    # `call` applies custom_gradient and names `helper`, which names `deeper`: the custom-gradient rules
    # keep `helper` (named by the code holding the trigger word), `_create` (it stores `self.w`, which
    # the custom gradient reads: TL012 depends on it) and `fit` (it calls `call`), not `deeper`; rules
    # that follow calls into methods at any depth keep it.
    rules = [r for r in RULES if r.code in ("TL011", "TL012", "TL013", "TL019")]
    assert not any(r.needs_named_methods for r in rules)
    narrow, _ = reduce_source(NAMED_METHODS, ["custom_gradient"], indirect_callers=False, named_methods=False)
    wide, _ = reduce_source(NAMED_METHODS, ["custom_gradient"], indirect_callers=False)
    lines = NAMED_METHODS.splitlines()
    kept = {lines[row - 1].strip() for row in narrow.rows}
    assert {"def _create(self, shape):", "def helper(self, y):", "def fit(self, x):"} <= kept
    assert "def deeper(self, y):" not in kept
    assert wide is None  # following every method named: nothing would be left out
    assert [(code, row) for code, row, *_ in same_both_ways(NAMED_METHODS, rules)] == [("TL012", 13)]
    # every rule: the tape rules keep what they follow (`deeper`), and the findings are the whole file's
    assert [(code, row) for code, row, *_ in same_both_ways(NAMED_METHODS)] == [("TL012", 13)]


def test_only_the_custom_gradient_rules_need_no_methods_named_elsewhere():
    assert {r.code for r in RULES if not r.needs_named_methods} == {"TL011", "TL012", "TL013", "TL019"}


CUSTOM_GRADIENT_RULES = [r for r in RULES if not r.needs_named_methods]


@pytest.mark.parametrize("source", [read_source(p) for p in FILES] + [textwrap.dedent(e) for _, _, e in EXAMPLES],
                         ids=lambda s: s.strip().splitlines()[-1][:30] if s.strip() else "empty")
def test_the_custom_gradient_rules_alone_find_what_the_whole_file_finds(source):
    # With only these rules active the narrower closure runs (with every rule, the tape rules widen it).
    same_both_ways(source, CUSTOM_GRADIENT_RULES)


def test_a_module_level_statement_applying_custom_gradient_keeps_what_it_names():
    # The statement binds nothing; what it names is followed all the same (stop 14's code left `f`
    # out and lost this TL011).
    source = textwrap.dedent('''\
        import tensorflow as tf

        def helper():
            return 1

        def f(x):
            def grad(dy):
                return dy, dy
            return x * 2, grad

        register(tf.custom_gradient(f))
        ''')
    for rules in (RULES, CUSTOM_GRADIENT_RULES):
        assert [(code, row) for code, row, *_ in same_both_ways(source, rules)] == [("TL011", 8)]


STUBS = '''\
import tensorflow as tf


def leaf(x):
    return x + 1


@register
def helper(x):
    return leaf(x) * 2 + tiny(x) + slashed(x) + closed(x) + later(x)


def grad_fn(dy):
    return dy, helper(dy)


def forward(x, y):
    return tf.identity(x) * y, grad_fn


f = tf.custom_gradient(forward)


def uses(x):
    return f(x, y=tf.constant(1.0)) + compute(x)


def compute(
    y,
):
    """Not read: only a caller names it."""
    total = 0.0
    for i in range(3):
        total += i * y
    return total


def tiny(x): return x


def slashed(x): \\
    return x


def closed(
    x,
): return x


async def later(x):
    await x
    return x
'''


def test_only_the_custom_gradient_rules_read_callees_to_a_depth():
    assert {r.code: r.callee_depth for r in RULES if r.callee_depth is not None} == {
        "TL011": 2, "TL012": 2, "TL013": 2, "TL019": 2}


def test_custom_gradient_rules_keep_far_callees_as_headers():
    # Read: what applies custom_gradient (`f = ...`), the forward function it names, the gradient
    # function that names, and the caller of `f`. A function further away (`helper`, `leaf`) or named
    # only by the caller (`compute`) keeps its header (decorators, a header over several lines) and
    # `...`; one whose body starts on a line of its header (its last, `): return x`) stays as it is.
    reduction, _ = reduce_source(STUBS, ["custom_gradient"], indirect_callers=False, named_methods=False,
                                 callee_depth=2)
    text = reduction.text
    assert "def leaf(x):\n    ...\n" in text
    assert "@register\ndef helper(x):\n    ...\n" in text
    assert "def compute(\n    y,\n):\n    ...\n" in text
    assert text.endswith("async def later(x):\n    ...")
    assert "return dy, helper(dy)" in text and "return f(x, y=tf.constant(1.0)) + compute(x)" in text
    assert "def tiny(x): return x" in text and "def slashed(x): \\\n    return x" in text
    assert "def closed(\n    x,\n): return x" in text
    assert "total" not in text and "x + 1" not in text
    assert reduction.kept == ("leaf", "helper", "grad_fn", "forward", "uses", "compute", "tiny", "slashed", "closed",
                              "later")
    rows = dict(zip(text.split("\n"), reduction.rows))
    assert rows["    return f(x, y=tf.constant(1.0)) + compute(x)"] == 25
    assert [(code, row) for code, row, *_ in same_both_ways(STUBS, CUSTOM_GRADIENT_RULES)] == [("TL019", 25)]
    assert reduce_source(STUBS, ["custom_gradient"], indirect_callers=False, named_methods=False)[0] is None


def test_a_method_the_custom_gradient_code_names_is_kept_with_its_findings():
    # `_forward` holds no trigger word: only `call` names it, applying custom_gradient to it (TL013 then
    # reports its return, which is not a pair).
    source = textwrap.dedent('''\
        import tensorflow as tf

        class Clip(tf.keras.layers.Layer):
            def _forward(self, x):
                return tf.clip_by_value(x, -1.0, 1.0)

            def call(self, x):
                return tf.custom_gradient(self._forward)(x)
        ''')
    assert [(code, row) for code, row, *_ in same_both_ways(source, CUSTOM_GRADIENT_RULES)] == [("TL013", 5)]


MODULE_BINDINGS = '''\
import tensorflow as tf

Shape = tuple
optimizer = tf.keras.optimizers.SGD()


def make(shape: Shape):
    return tf.zeros(shape)


def train_step(x):
    with tf.GradientTape(persistent=True) as tape:
        y = make(x.shape) * x
        optimizer.apply_gradients([(tape.gradient(y, x), x)])


def reshape(shape: Shape):
    return shape


def reset():
    optimizer.learning_rate = 0.1
'''


def test_without_indirect_callers_what_only_a_callee_names_keeps_no_users():
    # `optimizer`: the tape code uses it, so its users (`reset`) are kept, as callers are. `Shape`: only
    # `make`, a callee, names it (an annotation), and its users are no more needed than a callee's other
    # callers: `reshape` is left out (stop 15's code kept every user of every module-level name that
    # any kept code names; on Model Garden's t5.py a type alias kept 847 lines instead of 113).
    narrow, _ = reduce_source(MODULE_BINDINGS, ["GradientTape"], indirect_callers=False)
    assert narrow.kept == ("make", "train_step", "reset")
    assert reduce_source(MODULE_BINDINGS, ["GradientTape"]) == (None, True)  # wide: everything is kept
    assert [(code, row) for code, row, *_ in same_both_ways(MODULE_BINDINGS)] == [("TL003", 14)]


CLASS_STUBS = '''\
import tensorflow as tf


@tf.custom_gradient
def identity(x):
    def grad(dy):
        return dy
    return x, grad


class Cell:
    def __init__(self):
        self.state = make_state()

    def __call__(self, x):
        return identity(x) * self.state


def make_state():
    return new_memory().read()


def new_memory():
    return Memory()


class Memory:
    def __init__(self):
        self.slots = [0.0] * 8

    def read(self):
        total = 0.0
        for slot in self.slots:
            total += slot
        return total


class Scaled:
    @tf.custom_gradient
    def scaled(self, x):
        def grad(dy):
            return dy
        return x * 2.0, grad


class Doubled(Scaled):
    def __init__(self):
        self.factor = 2.0

    def __call__(self, x):
        return self.scaled(x) * self.factor
'''


def test_custom_gradient_rules_keep_the_methods_of_far_classes_as_headers():
    # Read: the custom gradient, its caller's class `Cell` whole (its methods set what the call passes),
    # what `Cell` names (`make_state`) and what that names (`new_memory`). `Memory`, three references
    # away, keeps its methods' headers and `...`, as a far function does (stop 15's code read every
    # kept class whole: TensorFlow's distribute_lib.py 1,521 lines parsed, now 1,357).
    reduction, _ = reduce_source(CLASS_STUBS, ["custom_gradient"], indirect_callers=False, named_methods=False,
                                 callee_depth=2)
    text = reduction.text
    assert reduction.kept == ("identity", "Cell", "make_state", "new_memory", "Memory", "Scaled", "Doubled")
    assert "self.state = make_state()" in text and "return identity(x) * self.state" in text
    assert "return new_memory().read()" in text and "return Memory()" in text
    assert "class Memory:\n    def __init__(self):\n        ...\n" in text
    assert "slots" not in text and "total" not in text
    assert "self.factor = 2.0" in text  # a subclass of a class holding a custom gradient: read whole
    same_both_ways(CLASS_STUBS, CUSTOM_GRADIENT_RULES)
