"""The screen (tapelint/screen.py): cheap tests on CPython's syntax tree that drop rules before libcst.

A screen must pass wherever its rule reports: every invalid example and buggy fixture is checked
here, rule by rule (tests/test_partial.py also compares all findings with a run without screens).
Then the near misses each screen exists for: code that mentions a rule's words but cannot trip it.
"""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

import pytest

from tapelint import linter, registry, screen
from tapelint.prefilter import triggered
from tapelint.rules.base import EXPECT_MARKER, Rule
from tapelint.rules import tl015_tf_gradients_in_eager as tl015
from tapelint.screen import Facts
from tapelint.source import read_source

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
RULES = [r for r in registry.all_rules().values() if r.origin == "tapelint"]
SCREENED = [r for r in RULES if r.screen is not Rule.screen]
# (TL014 and TL018 also need `apply_gradients` or `minimize` among their trigger words)
TAPE_RULES = {"TL002", "TL003", "TL004", "TL005", "TL006", "TL008", "TL009", "TL016", "TL017"}
CUSTOM_GRADIENT_RULES = {"TL011", "TL012", "TL013", "TL019"}


def facts(source: str) -> Facts:
    return Facts(source, ast.parse(source))


def facts_in(mode: str, source: str) -> Facts:
    """Facts read from the whole syntax tree, or from the logical lines around words (as the linter does)."""
    return facts(source) if mode == "tree" else Facts(source)


MODES = ["tree", "lines"]


def kept(source: str) -> set[str]:
    """The codes of the rules left after the pre-filter and the screen."""
    source = textwrap.dedent(source)
    return {r.code for r in linter.screened(triggered(RULES, source), Facts(source))}


def codes_reported(code: str, source: str) -> list[str]:
    """The codes the whole-file analysis with rule ``code`` alone reports (no screen asked)."""
    return [d.code for d in linter.analyse(source, "t.py", [registry.all_rules()[code]], partial=False)[1]]


def assert_screen(code: str, f: Facts, source: str, expected: bool) -> None:
    """The screen of rule ``code`` decides ``expected``; where it rules the rule out, the rule finds
    nothing in the whole file either (a screen must never hide a finding)."""
    rule = registry.all_rules()[code]
    assert rule.screen(f) is expected
    if not expected:
        assert linter.analyse(source, "t.py", [rule], partial=False)[1] == []


def test_the_rules_that_are_screened():
    assert {r.code for r in SCREENED} == {f"TL{n:03}" for n in range(1, 20)}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("rule", SCREENED, ids=lambda r: r.code)
def test_every_invalid_example_passes_its_rules_screen(rule, mode):
    for example in rule.all_invalid():
        source = textwrap.dedent(example.code)
        assert rule.screen(facts_in(mode, source)), source


def _expected_codes(path: Path) -> set[str]:
    return {code.strip() for line in read_source(path).splitlines()
            for m in [EXPECT_MARKER.search(line)] if m for code in m.group("codes").split(",")}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("path", sorted((FIXTURES / "buggy").glob("*.py")), ids=lambda p: p.name)
def test_every_buggy_fixture_passes_the_screens_of_the_rules_it_trips(path, mode):
    source = read_source(path)
    expected = _expected_codes(path)
    assert expected, "a buggy fixture without # expect: markers"
    passed = {r.code for r in SCREENED if r.screen(facts_in(mode, source))}
    assert expected - {"TL000"} <= passed


# Sources where reading a few logical lines alone could go wrong: names followed from line to line,
# aliases, one-line compound statements, clauses, walrus, tuples, stores split over lines, and the
# same words in strings and comments.
LOCAL_CASES = [
    "import tensorflow as tf\nw = tf.Variable(1.0)\nv = w\nfor x in data:\n    v = v - 0.1 * x\n",
    "import tensorflow as tf\nw = tf.Variable(1.0)\nclass M:\n    def __init__(self):\n        self.k = w\n"
    "    def step(self, g):\n        self.k = self.k - g\n",
    "from tensorflow import Variable as V\nw = V(1.0)\nw -= 1\n",
    "from tensorflow import Variable as V\nw = Variable(1.0)\nw -= 1\n",
    "import tensorflow as tf\nif c: w = tf.Variable(1.0)\nelse: w = tf.Variable(2.0)\nw = w * 2\n",
    "import tensorflow as tf\nw = (\n    tf.Variable(1.0)  # w = w + 1\n)\nw = (w\n     + 1)\n",
    "import tensorflow as tf\nw = tf.Variable(1.0)\ns = 'w = w + 1'\n# w = w + 1\n",
    "import tensorflow as tf\nif (w := tf.Variable(1.0)):\n    w = w + 1\n",
    "import tensorflow as tf\na, b = tf.Variable(1.0), tf.Variable(2.0)\nb: tf.Tensor = b * 2\n",
    "import tensorflow as tf\nw = tf.Variable(1.0); w = w \\\n    + 1\n",
    "import tensorflow as tf\n@tf.function\ndef f(w=tf.Variable(1.0)):\n    w = w + 1\n",
    "import keras\nclass D(keras.layers.Dense):\n    def call(self, x):\n        self.kernel = self.kernel * 0.5\n",
    "import keras\nclass D(keras.layers.Layer):\n    def build(self, s):\n        self.s = self.add_weight(shape=s)\n"
    "    def call(self, x):\n        self.s -= 0.1\n        return x\n",
    "from keras import ops as O\nclass D:\n    def call(self, x):\n        self.kernel = O.multiply(self.kernel, 2)\n",
    "import keras\nk = make()\nclass D:\n    def call(self, x):\n        self.bias = k\n",
    "from m import *\nclass D:\n    def call(self, x):\n        self.kernel = f(x)\n",
    "class D:\n    def call(self, x):\n        self.kernel = f(x)\n        self.bias = tf.Variable(self.bias)\n",
    "import tensorflow as tf\nmatch x:\n    case 1: w = tf.Variable(1.0)\nw = w + 1\n",
    "import tensorflow as tf\nw = tf.Variable(1.0)\nx = f'{w}' + f\"{(w := w + 1)}\"\n",
]


def _all_sources() -> list[str]:
    examples = [textwrap.dedent(e.code) for r in RULES for e in (*r.all_valid(), *r.all_invalid())]
    fixtures = [read_source(p) for p in sorted(FIXTURES.rglob("*.py"))]
    return LOCAL_CASES + examples + fixtures


@pytest.mark.parametrize("rule", SCREENED, ids=lambda r: r.code)
def test_screens_answer_from_logical_lines_as_from_the_whole_tree(rule):
    for source in _all_sources():
        assert rule.screen(Facts(source)) == rule.screen(facts(source)), source


UNRELATED = "".join(f"def helper_{i}(p, q):\n    return (p + {i}) * q\n\n" for i in range(40))


NEAR_MISSES = [
    "import tensorflow as tf\nw = tf.Variable(1.0)\nw.assign_sub(0.1)\n",
    "import keras\nclass D(keras.layers.Dense):\n    def call(self, x):\n        return x @ self.kernel + self.bias\n",
    "from tensorflow import Variable as V\nw = V(1.0)\nprint(w)\n",
    "import tensorflow as tf\nclass M:\n    def __init__(self):\n        self.w = tf.Variable(1.0)\n"
    "    def f(self):\n        return self.w * 2\n",
    "import tensorflow as tf\nv = tf.Variable(1.0)  # v = v + 1\ns = 'v -= 1'\n",
]


@pytest.mark.parametrize("source", NEAR_MISSES)
def test_variable_screens_rule_out_near_misses_from_logical_lines_without_compiling(source):
    # Only a candidate store (one that could be a finding) has its scope or class read from the tree.
    from tapelint.rules.tl007_variable_rebound import VariableRebound
    from tapelint.rules.tl010_layer_weight_overwritten import LayerWeightOverwritten

    f = Facts(source + UNRELATED)
    assert not VariableRebound.screen(f) and not LayerWeightOverwritten.screen(f)
    assert not f.compiled and f.local


@pytest.mark.parametrize("index", range(len(LOCAL_CASES)))
def test_variable_screens_answer_the_same_with_unrelated_code_around(index):
    from tapelint.rules.tl007_variable_rebound import VariableRebound
    from tapelint.rules.tl010_layer_weight_overwritten import LayerWeightOverwritten

    source = LOCAL_CASES[index] + UNRELATED
    f = Facts(source)
    got = VariableRebound.screen(f), LayerWeightOverwritten.screen(f)
    assert got == (VariableRebound.screen(facts(source)), LayerWeightOverwritten.screen(facts(source)))


def test_logical_lines_give_way_to_the_tree_where_they_would_be_much_of_the_text():
    source = "import tensorflow as tf\nw = tf.Variable(1.0)\n" + "y = w\n" * 10
    f = Facts(source)
    assert f.variable_names == {"w", "y"} and f.compiled and not f.local
    source = "import tensorflow as tf\nw = tf.Variable(1.0)\n" + "y = f(x) * 2\n" * 10
    f = Facts(source)
    assert f.variable_names == {"w"} and not f.compiled and f.local


def test_variable_questions_read_only_the_lines_that_can_assign():
    # Lines naming `Variable` without `=` (a type check, a base class) cannot bind a variable: they
    # are not compiled, so they no longer count towards the share that turns the whole tree on.
    source = ("import tensorflow as tf\nw = tf.Variable(1.0)\n"
              + "check(isinstance(x, tf.Variable))\n" * 10 + "v = w\n")
    f = Facts(source)
    assert f.variable_names == {"w", "v"} and f.names_made_variables == {"w"}
    assert not f.compiled and f.local


def test_a_line_left_out_for_want_of_a_value_is_read_when_a_question_needs_it():
    source = "import tensorflow as tf\nw: tf.Variable\nv = tf.Variable(1.0)\n" + UNRELATED
    f = Facts(source)
    valued = f.stores_mentioning({"Variable"}, valued=True)
    assert [type(s).__name__ for s in valued] == ["Assign"]
    every = f.stores_mentioning({"Variable"})
    assert [ast.unparse(s) for s in every] == ["w: tf.Variable", "v = tf.Variable(1.0)"]
    assert f.stores_mentioning({"Variable"}, valued=True) == valued and f.local


def test_a_line_that_does_not_compile_alone_gives_way_to_the_tree():
    source = LOCAL_CASES[-2]  # a one-line `case` clause
    f = Facts(source)
    assert f.names_made_variables == {"w"} and f.compiled


# -- tapes ----------------------------------------------------------------------------------------------------
def test_a_tape_in_docstrings_only_leaves_no_tape_rule():
    assert not kept('''
        """Wrap the step in `with tf.GradientTape() as tape:` and call `tape.gradient(loss, w)`."""
        import tensorflow as tf

        def step(x):
            return tf.square(x)  # tf.GradientTape() would record this
    ''') & (TAPE_RULES | {"TL001"})


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("source", [
    """
    import tensorflow as tf

    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = x * x
        return tape.gradient(y, x)
    """,
    """
    from tensorflow import GradientTape as GT

    def step(x):
        with GT() as g:
            y = x * x
        return g.jacobian(y, x)
    """,
])
def test_a_tape_made_and_differentiated_passes_the_tape_rules_first_check(source, mode):
    # (each tape rule then asks more of the tapes, tapelint/screen_tapes.py)
    assert facts_in(mode, textwrap.dedent(source)).differentiates_on_tape


def test_a_tape_never_differentiated_leaves_only_the_rules_that_need_no_gradient_call():
    assert kept('''
        import tensorflow as tf

        def step(model, opt, x):
            with tf.GradientTape() as tape:
                loss = model(x)
                opt.minimize(loss, model.trainable_variables, tape=tape)
    ''') == {"TL018"}


TL018_CASES = {
    # source -> whether an optimizer step sits in the body of a `with` that can enter a tape
    "import tensorflow as tf\nwith tf.GradientTape() as t:\n    y = f(x)\nopt.minimize(y, v, tape=t)\n": False,
    "import tensorflow as tf\nt = tf.GradientTape(persistent=True)\nwith t:\n    y = f(x)\n    opt.apply(t.gradient(y, v), v)\n": True,
    "import tensorflow as tf\nwith tf.GradientTape(persistent=True) as t:\n    y = f(x)\n    g = t.gradient(y, v)\n"
    "    if g:\n        opt.apply_gradients(zip(g, v))\n": True,
    # the gradient call ends a non-persistent tape's recording: its step in the block is not reported
    "import tensorflow as tf\nwith tf.GradientTape() as t:\n    y = f(x)\n    g = t.gradient(y, v)\n"
    "    opt.apply_gradients(zip(g, v))\n": False,
    "import tensorflow as tf\nwith s.scope(), tf.GradientTape() as t:\n    y = f(x)\n    opt.minimize(y, v, tape=t)\n": True,
    "import tensorflow as tf\nwith tf.GradientTape(persistent=True) as t:\n    y = f(x)\ng = t.gradient(y, v)\n"
    "with ctx:\n    opt.apply_gradients(zip(g, v))\n": False,  # no tape is bound to `ctx`
    "import tensorflow as tf\nt = tf.GradientTape(persistent=True)\nwith t:\n    y = f(x)\ng = t.gradient(y, v)\n"
    "with t:\n    opt.apply_gradients(zip(g, v))\n": True,  # `with t:` enters the tape again
    "import tensorflow as tf\nwith tf.GradientTape() as t:\n    y = f(x)\ng = t.gradient(y, v)\n"
    "with strategy.scope():\n    opt.apply_gradients(zip(g, v))\n": False,
    "import tensorflow as tf\nwith tf.GradientTape() as t:\n    y = f(x)\ng = t.gradient(y, v)\n"
    "with tf.device('/cpu:0'):\n    opt.apply_gradients(zip(g, v))\n": False,
    "from keras.src.utils.module_utils import tensorflow as tf\nwith tf.GradientTape() as t:\n"
    "    opt.minimize(f(x), v, tape=t)\n": False,
}


def test_minimize_with_a_lambda_returning_a_name_keeps_tl001_only_then():
    assert "TL001" in kept("import tensorflow as tf\nloss = w * 2.0\nopt.minimize(lambda: loss, [w])\n")
    assert "TL001" in kept("import tensorflow as tf\nloss = w * 2.0\nopt.minimize(var_list=[w], loss=lambda: loss)\n")
    assert "TL001" not in kept("import tensorflow as tf\nopt.minimize(lambda: w * 2.0, [w])\n")
    assert "TL001" not in kept("import tensorflow as tf\nf = lambda: 1\nopt.minimize(loss_fn, [w])\n")


# -- variables ------------------------------------------------------------------------------------------------
def test_tl007_needs_a_variable_made_by_name_and_rebound_from_itself():
    assert "TL007" in kept("import tensorflow as tf\nw = tf.Variable(1.0)\nw = w - 0.1 * g\nw.assign(0.0)\n")
    assert "TL007" in kept("import tensorflow as tf\nw = tf.Variable(1.0)\nw -= 0.1\n")
    assert "TL007" in kept("from tensorflow import Variable as V\nw = V(1.0)\nw = 2.0 * w\nw.assign(0.0)\n")
    assert "TL007" in kept('''
        import tensorflow as tf

        class Momentum(tf.Module):
            def __init__(self):
                self.v = tf.Variable(0.0)

            def step(self, g):
                self.v = 0.9 * self.v + g
    ''')
    # a counter next to a variable, and a local alias of a variable held elsewhere
    assert "TL007" not in kept("import tensorflow as tf\nw = tf.Variable(1.0)\ni = 0\ni += 1\n")
    assert "TL007" not in kept('''
        import tensorflow as tf

        class Schedule(tf.Module):
            def __init__(self):
                self.lr = tf.Variable(0.1)

            def decayed(self, decay):
                lr = self.lr
                lr = lr * decay
                return lr
    ''')


TL007_REBINDINGS = {
    # the value rebinding a variable -> whether the rule can take it for a tensor made from the variable:
    # arithmetic on it, or a call through an imported name with it as a positional argument
    "w = w * 2.0": True,
    "w = -w": True,
    "w = (w + 1.0) ** 2": True,
    "w = tf.nn.relu(w)": True,
    "w = tf.math.exp(w)": True,
    "w = not w": False,
    "w = helper(w)": False,
    "w = self._untrack(w)": False,
    "w = tf.identity(*w)": False,
    "w = tf.identity(x=w)": False,
    "w = [w, 1.0]": False,
    "w = w if ok else 0.0": False,
    "w = tf.keras.ops.exp(w)": True,  # keras.ops: a tensor
    "w = tf.keras.backend.variable(w)": False,  # a new variable, not a tensor
    "w = tf.Variable(w)": False,  # (PennyLane's tests wrap values so: 30 files reached libcst)
    "w = tf.compat.v1.Variable(w, dtype=tf.float64)": False,
    "w = tf.keras.layers.Dense(4)(w)": False,  # a call of a call: nothing the model names
}


@pytest.mark.parametrize("statement", ["w = tf.identity(w)", "w = tf.convert_to_tensor(w)", "w = tf.cast(w, tf.int32)",
                                       "w = tf.reshape(w, [-1])", "w = tf.keras.ops.stop_gradient(w)"])
@pytest.mark.parametrize("mode", MODES)
def test_tl007_leaves_a_conversion_alone_and_so_does_its_screen(statement, mode):
    # A conversion asks for a tensor on purpose: the rule is silent, and the screen, which reads the
    # names an import can give the call, rules the file out where every one is a conversion (Addons'
    # `crf.py`: `transition_params = tf.cast(transition_params, inputs.dtype)` reached libcst).
    source = f"import tensorflow as tf\n\ndef step():\n    w = tf.Variable(1.0)\n    {statement}\n    w.assign(1.0)\n"
    assert_screen("TL007", facts_in(mode, source), source, False)
    assert linter.analyse(source, "t.py", [registry.all_rules()["TL007"]], partial=False)[1] == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("statement", TL007_REBINDINGS)
def test_tl007_needs_a_rebinding_the_rule_can_take_for_a_tensor(statement, mode):
    source = (f"import tensorflow as tf\n\ndef helper(v):\n    return v\n\n"
              f"def step(self, x, ok):\n    w = tf.Variable(1.0)\n    {statement}\n    w.assign(x)\n    return w\n")
    attribute = ("import tensorflow as tf\n\nclass Step(tf.Module):\n    def __init__(self):\n"
                 "        self.w = tf.Variable(1.0)\n\n    def step(self, x, ok):\n"
                 f"        {statement.replace('w', 'self.w')}\n")
    expected = TL007_REBINDINGS[statement]
    for text in (source, attribute):
        assert_screen("TL007", facts_in(mode, text), text, expected)
        if expected:  # the table is the rule's: where the screen passes, these the rule reports
            found = linter.analyse(text, "t.py", [registry.all_rules()["TL007"]], partial=False)[1]
            assert [d.code for d in found] == ["TL007"]


TL007_OTHER_OPERANDS = [
    # the rebound target is not among the operands, only something named like it
    ("def step(self, lr):\n    w = tf.Variable(1.0)\n    w = self.w * 2.0\n", "w = self.w"),
    ("def step(self, w):\n    w = tf.Variable(1.0)\n    w = tf.identity(other.w)\n", "other.w"),
    ("class Opt(tf.Module):\n    def __init__(self, lr):\n        self.lr = tf.Variable(lr)\n"
     "    def decay(self, lr):\n        self.lr = tf.identity(lr)\n", "a local `lr`"),
    ("class Opt(tf.Module):\n    def __init__(self, lr):\n        self.lr = tf.Variable(lr)\n"
     "    def decay(self, other):\n        self.lr = other.lr * 0.5\n", "another object's `lr`"),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("body, why", TL007_OTHER_OPERANDS, ids=[w for _, w in TL007_OTHER_OPERANDS])
def test_tl007_needs_the_rebound_name_itself_among_the_operands(body, why, mode):
    # Stop 15's screen compared last names: `self.lr = backend.variable(lr, ...)` in each optimizer of
    # tf.keras's optimizer_v1.py sent it to libcst (693 lines parsed, no finding).
    source = "import tensorflow as tf\n\n" + body
    assert_screen("TL007", facts_in(mode, source), source, False)


def test_tl010_needs_a_weight_assigned_what_can_be_a_tensor():
    assert "TL010" in kept('''
        import tensorflow as tf

        class Masked(tf.keras.layers.Dense):
            def call(self, x):
                self.kernel = self.kernel * self.mask
                return super().call(x)
    ''')
    assert "TL010" in kept("import tensorflow as tf\nlayer = tf.keras.layers.Dense(2)\n"
                           "layer.kernel = tf.clip_by_norm(layer.kernel, 1.0)\n")
    # a new variable, whatever it is made of, is no tensor to the rule (deel-lip's
    # `self.wbar = tf.Variable(self.kernel.read_value())` reached libcst so)
    for value in ("tf.Variable(self.kernel)", "tf.Variable(self.kernel.read_value(), trainable=False)",
                  "tf.compat.v1.Variable(tf.transpose(self.kernel))"):
        tied = ("import tensorflow as tf\nclass Tied(tf.keras.layers.Dense):\n"
                f"    def tie(self):\n        self.kernel = {value}\n")
        assert "TL010" not in kept(tied)
        assert linter.analyse(tied, "t.py", [registry.all_rules()["TL010"]], partial=False)[1] == []
    # `self` outside a class is no layer
    outside = "import tensorflow as tf\nself.kernel = tf.Variable(self.kernel)\n"
    assert "TL010" not in kept(outside)
    assert linter.analyse(outside, "t.py", [registry.all_rules()["TL010"]], partial=False)[1] == []  # nor the rule
    # creating weights, tying them, keeping hyper-parameters named like weights
    assert "TL010" not in kept('''
        import tensorflow as tf

        class Norm(tf.keras.layers.Layer):
            def __init__(self, gamma, other):
                super().__init__()
                self.gamma = gamma
                self.tied = other.kernel

            def build(self, shape):
                self.kernel = self.add_weight(shape=shape)
                self.bias = None
                self.beta = tf.Variable(tf.zeros(shape[-1:]))
                self.moving_mean = self.kernel
    ''')


TL010_CLASSES = {
    # the class around `self.<weight> = <tensor>` -> whether the rule can take the attribute for a weight:
    # the class may derive from a Keras class, or makes the attribute with `self.add_weight(...)`
    ("class G:\n", "self.kernel = fzset(kernel)"): False,
    ("class G:\n", "self.bias = tf.zeros([2])"): False,
    ("class G(six.with_metaclass(Meta)):\n", "self.kernel = tf.zeros([2])"): False,
    ("class G(Generic[T]):\n", "self.kernel = tf.zeros([2])"): False,
    ("class G(registry.Base):\n", "self.kernel = tf.zeros([2])"): False,
    ("class G(tf.keras.layers.Dense):\n", "self.kernel = tf.zeros([2])"): True,
    ("class G(Dense):\n", "self.bias = self.bias * 2.0"): True,
    ("class G(Base):\n", "self.kernel = tf.zeros([2])"): True,
    ("class G:\n    def build(self):\n        self.w = self.add_weight(shape=())\n", "self.w = self.w * 2.0"): True,
    ("class G:\n    def build(self):\n        self.kernel = self.add_weight(shape=())\n",
     "self.kernel = tf.zeros([2])"): True,
    # ... and a value the rule can take for a tensor: a call is one only under `tensorflow.`/`keras.ops.`
    ("class G(Dense):\n", "self.embeddings = Embedding(10, 2)"): False,
    ("class G(Dense):\n", "self.kernel = fzset(kernel)"): False,
    ("class G(Dense):\n", "self.kernel = ops.zeros([2])"): True,
    ("class G(Dense):\n", "self.kernel = tf.math.exp(kernel)"): True,
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("header, store", TL010_CLASSES)
def test_tl010_needs_a_class_whose_attribute_can_be_a_weight(header, store, mode):
    source = ("import tensorflow as tf\nfrom keras.layers import Dense\nfrom utils import fzset, six, Meta, Generic, T\n"
              "from keras import ops\nfrom keras_hub.layers import Embedding\n"
              "registry = load()\n\nclass Base(tf.keras.layers.Dense):\n    pass\n\n"
              f"{header}    def step(self, kernel):\n        {store}\n")
    expected = TL010_CLASSES[(header, store)]
    assert_screen("TL010", facts_in(mode, source), source, expected)
    if expected:  # the table is the rule's: where the screen passes, these the rule reports
        assert codes_reported("TL010", source) == ["TL010"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("source", [
    # A call merely named `Variable` that no import makes a variable factory is a tensor to the model
    # (whatever is under `tensorflow.` it does not know): the rule reports the store, so the screen keeps
    # it (random programs found the screen taking these for new variables).
    "import tensorflow as tf\nclass L(tf.keras.layers.Dense):\n    def call(self, x):\n"
    "        self.beta = tf.math.Variable(1.0)\n",
    "import tensorflow as tf\nlayer = tf.keras.layers.Dense(2)\nlayer.kernel = tf.random.Variable(1.0)\n",
    "import tensorflow as tf\nclass L(tf.keras.layers.Dense):\n    def call(self, x):\n"
    "        kernel = tf.math.Variable(1.0)\n        self.gamma = (kernel)\n",
    "import tensorflow as tf\nclass L(tf.keras.Model):\n    def build(self, s):\n        self.mean = tf.Variable(1.0)\n"
    "    def again(self, x):\n        from tensorflow import math as tf\n        self.mean = tf.keras.Variable(x)\n",
])
def test_tl010_takes_only_a_variable_factory_for_a_new_variable(source, mode):
    assert_screen("TL010", facts_in(mode, source), source, True)
    assert codes_reported("TL010", source) == ["TL010"]


_PADDING = "".join(f"x{i} = {i}\n" for i in range(40))  # (so that the lines read alone stay a small share)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("code, source", [
    # Found by random programs (the screens missed each, both modes unless said):
    # a call in a decorator, which the walk of the lines holding calls skipped (the definition's own
    # line starts after its decorators)
    ("TL015", "import tensorflow as tf\n@deco(tf.gradients(y, x))\ndef f():\n    pass\n"),
    ("TL015", "import tensorflow as tf\n@deco(tf.gradients(y, x))\nclass C:\n    pass\n"),
    # one name aliased to different things in different scopes (only the last import was kept)
    ("TL015", "from tensorflow import gradients as G\ndef f():\n    import numpy as G\nG(y, x)\n"),
    ("TL007", "from tensorflow import Variable as V\ndef f():\n    import numpy as V\nw = V(1.0)\nw -= 1.0\n"),
    # `as` followed by a line continuation
    ("TL015", "from tensorflow import gradients as\\\n    G\nG(y, x)\n"),
    ("TL007", "from tensorflow import Variable as\\\n    V\nw = V(1.0)\nw -= 1.0\n"),
    # ... or a line continuation or comment before `as` (in a parenthesised import)
    ("TL010", "import tensorflow as tf\nfrom tensorflow import Variable \\\n    as TV\n"
              "class Scale(tf.keras.layers.Layer):\n    def build(self, s):\n        self.scale = TV(1.0)\n"
              "    def call(self, x):\n        self.scale = self.scale * 0.99\n        return x\n"),
    ("TL010", "import tensorflow as tf\nfrom tensorflow import (Variable  # the class\n    as TV)\n"
              "class Scale(tf.keras.layers.Layer):\n    def build(self, s):\n        self.scale = TV(1.0)\n"
              "    def call(self, x):\n        self.scale = self.scale * 0.99\n        return x\n"),
    # an annotation without a value, which binds nothing to the model: it reads `v` from the module
    ("TL010", "import tensorflow as tf\nv = tf.Variable(1.0)\nclass L(tf.keras.layers.Layer):\n"
              "    def build(self, s):\n        v: tf.Variable\n        self.w = v\n"
              "    def call(self, x):\n        self.w = self.w * 2.0\n        return x\n"),
    # CRLF line ends: `self.v = w\r\n` gives `v` a variable (lines mode)
    ("TL007", ("import tensorflow as tf\n" + _PADDING + "class M(tf.Module):\n    def __init__(self):\n"
               "        w = tf.Variable(1.0)\n        self.v = w\n    def f(self):\n        self.v -= 1.0\n"
               ).replace("\n", "\r\n")),
])
def test_screens_keep_what_random_programs_showed_they_missed(code, source, mode):
    assert_screen(code, facts_in(mode, source), source, True)
    assert code in codes_reported(code, source)


CONSTANT_OR_WEIGHT = """import tensorflow as tf

class Scale(tf.keras.layers.Layer):
    def build(self, shape):
{body}
    def call(self, x):
        return x * self.beta
"""


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("body, expected", [
    # a constant stored where no creation of the weight runs before it: `_before_every_creation`
    # (Spektral's `self.beta = tf.cast(1.0, self.dtype)` when not trainable reached libcst so)
    ("        if self.trainable:\n            self.beta = self.add_weight(shape=())\n"
     "        else:\n            self.beta = tf.cast(1.0, self.dtype)\n", False),
    ("        if self.mode == 1:\n            self.beta = self.add_weight(shape=())\n"
     "        elif self.mode == 2:\n            self.beta = tf.constant(2.0)\n", False),
    ("        self.beta = tf.zeros([])\n        if self.trainable:\n            self.beta = self.add_weight(shape=())\n", False),
    # ... but a creation before it, in a loop around both, or in another method: the weight is overwritten
    ("        self.beta = self.add_weight(shape=())\n        self.beta = tf.cast(self.beta, tf.float16)\n", True),
    ("        for _ in range(2):\n            self.beta = tf.zeros([])\n            self.beta = self.add_weight(shape=())\n", True),
    ("        self.beta = tf.zeros([])\n    def reset(self):\n        self.beta = self.add_weight(shape=())\n", True),
    ("        if self.trainable:\n            self.beta = self.add_weight(shape=())\n"
     "        self.beta = tf.cast(1.0, self.dtype)\n", True),
])
def test_tl010_leaves_out_a_constant_stored_before_every_creation_of_the_weight(body, expected, mode):
    source = CONSTANT_OR_WEIGHT.format(body=body)
    assert_screen("TL010", facts_in(mode, source), source, expected)
    assert codes_reported("TL010", source) == (["TL010"] if expected else [])


WRAPPER = """import tensorflow as tf

class Norm(tf.keras.layers.Wrapper):
    def build(self, shape, given):
        {build}
        self.v = kernel

    def call(self, x):
        self.v = tf.nn.l2_normalize(self.v)
        return self.layer(x)

    def remove(self):
        kernel = tf.Variable(self.v)
        return kernel
"""


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("build, expected", [
    # `kernel` in `build` is another layer's weight, a parameter, a tensor: no variable to the semantic
    # model, however `remove` binds its own `kernel` (Addons' WeightNormalization reached libcst so)
    ("kernel = self.layer.kernel", False),
    ("kernel = given", False),
    ("kernel = tf.zeros(shape)", False),
    ("kernel = given\n        kernel += 1.0", False),
    # ... and where `build` makes it one, `self.v` is a weight the call overwrites
    ("kernel = tf.Variable(self.layer.kernel)", True),
    ("kernel = self.add_weight(shape=shape)", True),
    ("made = tf.Variable(given)\n        kernel = made", True),
    ("kernel, bias = (tf.Variable(given), None)", True),
])
def test_tl010_takes_a_name_stored_in_self_for_a_variable_as_its_function_binds_it(build, expected, mode):
    source = WRAPPER.format(build=build)
    assert_screen("TL010", facts_in(mode, source), source, expected)
    assert codes_reported("TL010", source) == (["TL010"] if expected else [])


@pytest.mark.parametrize("store", [
    "layer.kernel = tf.zeros([2, 2])\n",
    "layer.bias += 1.0\n",
    "(layer.kernel  # the weights\n ) = tf.zeros([2, 2])\n",
    "layer.kernel \\\n    = tf.zeros([2, 2])\n",
])
def test_tl010_sees_a_built_in_weight_stored_across_gaps(store):
    source = "import tensorflow as tf\nlayer = tf.keras.layers.Dense(2)\n" + store
    assert "TL010" in kept(source)
    assert [d.code for d in linter.analyse(source, "t.py", [registry.all_rules()["TL010"]], partial=False)[1]] == ["TL010"]


LAYER = "import tensorflow as tf\nlayer = tf.keras.layers.Dense(2)\n"


@pytest.mark.parametrize("source,expected", [
    # a weight name as a parameter, a keyword, a local or a dict key: no attribute is stored
    ("import tensorflow as tf\ndef conv(x, kernel, bias=None):\n    kernel = kernel * 2\n"
     "    bias += 1\n    return tf.nn.conv2d(x, filters=kernel), {'kernel': kernel}\n", False),
    ("import tensorflow as tf\nkernel: tf.Tensor = tf.zeros([2])\nlayer.kernel == kernel\n", False),
    # attribute stores, however spelt
    (LAYER + "layer . kernel *= 2.0\n", True),
    (LAYER + "(layer.\n    bias) = tf.zeros([2])\n", True),
    (LAYER + "(layer.  # the weight\n    bias) = tf.zeros([2])\n", True),
    (LAYER + "layer.\\\n  gamma = tf.ones([2])\n", True),
    (LAYER + "(layer.  # the weight\n\n  \\\n  bias) = tf.zeros([2])\n", True),
    # an object the rule takes for no layer: an attribute (Addons' and TFP's weight-norm wrappers
    # store a normalised tensor into `self.layer.kernel` in each call; both reached libcst), a string
    (LAYER + "class Norm(tf.keras.layers.Wrapper):\n    def call(self, x):\n"
     "        kernel = tf.nn.l2_normalize(self.v) * self.g\n        self.layer.kernel = kernel\n"
     "        self.layer.cell.recurrent_kernel = tf.nn.l2_normalize(self.v)\n", False),
    (LAYER + "model.layer.bias = tf.zeros([2])\n'text'.kernel = tf.zeros([2])\n", False),
    # a name no assignment binds to a call the rule can take for a layer: unbound, a parameter, a
    # module made by an attribute's call (Sonnet's deferred_test.py), a layer class's instance whose
    # attribute is no built-in weight name but not of a class of the file
    ("import tensorflow as tf\nlayer.kernel = tf.zeros([2, 2])\n", False),
    ("import tensorflow as tf\ndef tie(layer):\n    layer.kernel = tf.zeros([2, 2])\n", False),
    ("import tensorflow as tf\nclass M(tf.Module):\n    def __init__(self):\n        self.w = tf.Variable(1.0)\n"
     "mod = deferred.Deferred(M)\nmod.w = tf.ones_like(mod.w)\n", False),
    ("import tensorflow as tf\nclass M(tf.keras.layers.Layer):\n    def build(self, shape):\n"
     "        self.w = self.add_weight(shape=shape)\nmod = M()\nmod.w = tf.ones_like(mod.w)\n", True),
    ("import tensorflow as tf\nclass M(tf.keras.layers.Layer):\n    def build(self, shape):\n"
     "        self.w = self.add_weight(shape=shape)\nmod, n = M(), 1\nmod.w = tf.ones_like(mod.w)\n", None),
    # a layer of another library, or made by a function (PyTorch code in transformers' integrations)
    ("import tensorflow as tf\nimport torch.nn as nn\nlayer = nn.Linear(2, 2)\nlayer.bias = tf.zeros([2])\n", False),
    ("import tensorflow as tf\nlayer = make_linear(2, 2)\nlayer.bias = tf.zeros([2])\n", False),
    ("import tensorflow as tf\nclass Q(tf.keras.layers.Dense):\n    pass\nq = Q(2)\nq.bias = tf.zeros([2])\n", True),
    # ... and those it may: a layer read from a model's list or by name
    (LAYER + "model.layers[0].kernel = tf.zeros([2, 2])\n", True),
    (LAYER + "model.get_layer('dense').bias = tf.zeros([2])\n", True),
    # other attributes whose names start with a weight name
    (LAYER + "layer.kernel_size = 3\nlayer.kernels = [tf.zeros([2])]\nlayer.bias_ = tf.zeros([2])\n", False),
])
def test_tl010_needs_a_weight_stored_as_an_attribute(source, expected):
    if expected is None:  # (a tuple's element: the screen keeps the rule, whatever the rule finds)
        assert registry.all_rules()["TL010"].screen(Facts(source))
        return
    assert_screen("TL010", Facts(source), source, expected)
    if expected:
        rule = registry.all_rules()["TL010"]
        assert [d.code for d in linter.analyse(source, "t.py", [rule], partial=False)[1]] == ["TL010"], source


def test_tl010_rules_out_weights_only_read_from_the_text_alone():
    # Neither a store of a built-in weight name nor a variable maker: decided without reading any line.
    f = Facts("import keras\nclass D(keras.layers.Dense):\n    def call(self, x):\n"
              "        return x @ self.kernel + self.bias  # reads kernel and bias\n")
    assert registry.all_rules()["TL010"].screen(f) is False
    assert f._lines is None and not f.compiled


# -- tf.gradients and custom gradients ------------------------------------------------------------------------
def test_tl015_needs_a_call_named_gradients_outside_graph_mode_files():
    assert "TL015" in kept("import tensorflow as tf\ng = tf.gradients(y, x)\n")
    assert "TL015" in kept("from tensorflow import hessians as H\nh = H(y, x)\n")
    assert "TL015" not in kept('import tensorflow as tf\n"""Unlike tf.gradients(y, x), a tape..."""\nn = 1\n')
    assert "TL015" not in kept('''
        import tensorflow as tf

        with tf.Graph().as_default():
            g = tf.gradients(y, x)
    ''')


TL015_IMPORTS = {
    # source -> whether an import can make the call one of the graph gradient functions
    "import tensorflow as tf\ng = tf.gradients(y, x)\n": True,
    "import tensorflow.compat.v2 as tf\ng = tf.gradients(y, x)\n": True,
    "import tensorflow.compat.v1 as tf\ng = tf.gradients(y, x)\n": False,  # (TF1 code: a graph-mode file)
    "import tensorflow.compat.v1\ng = tensorflow.compat.v1.gradients(y, x)\n": True,
    "from tensorflow.python.ops import gradients_impl\ng = gradients_impl.gradients(y, x)\n": True,
    "from tensorflow.keras import backend as K\ng = K.gradients(y, x)\n": True,
    "from tensorflow import gradients as grads\ng = grads(y, x)\n": True,
    "def f():\n    import tensorflow as tf\n    return tf.hessians(y, x)\n": True,
    "try:\n    import tf_keras as keras\nexcept ImportError:\n    keras = None\ng = keras.backend.gradients(y, x)\n": True,
    "from keras.src.utils.module_utils import tensorflow as tf\ng = tf.compat.v1.gradients(y, x)\n": False,
    "import numpy as np\ng = np.gradients(y, x)\n": False,
    "from .ops import gradients_impl\ng = gradients_impl.gradients(y, x)\n": False,
    "from tensorflow import *\ng = gradients(y, x)\n": False,
    "def gradients(y, x):\n    return y\ng = gradients(1, 2)\n": False,
    "import tensorflow as tf\nclass M:\n    def f(self):\n        return self.tf.gradients(y, x)\n": False,
    "import tensorflow as tf\ng = tf.python.ops.gradients.gradients(y, x)\n": True,
}


def test_custom_gradient_rules_need_a_custom_gradient_applied():
    applied = [
        "import tensorflow as tf\n@tf.custom_gradient\ndef f(x):\n    return x, lambda dy: dy\n",
        "import tensorflow as tf\ndef f(x):\n    return x, lambda dy: dy\ng = tf.custom_gradient(f)\n",
        "from tensorflow import custom_gradient as cg\nclass A:\n    @cg\n    def f(self, x):\n        return x, None\n",
    ]
    for source in applied:
        assert Facts(textwrap.dedent(source)).applies_custom_gradient, source  # (each rule then asks more)
    assert not kept('"""See tf.custom_gradient."""\nimport tensorflow as tf\n') & CUSTOM_GRADIENT_RULES


# Tapes and custom gradients are found by their qualified names: a `GradientTape` or `custom_gradient`
# that no import makes TensorFlow's leaves every rule about them silent, and so does the screen.
AUTODIFF_IMPORTS = {
    # source -> (a tape is made, a custom gradient is applied), as the screens see them
    "from tensorflow.python.eager import backprop\nwith backprop.GradientTape() as t:\n    y = t.gradient(x, x)\n":
        (True, False),
    "import tensorflow.compat.v2 as tf\nwith tf.GradientTape() as t:\n    y = t.gradient(x, x)\n": (True, False),
    "from keras.src.utils.module_utils import tensorflow as tf\nwith tf.GradientTape() as t:\n"
    "    y = t.gradient(x, x)\n": (False, False),
    "with GradientTape() as t:\n    y = t.gradient(x, x)\n": (False, False),
    "from tensorflow.python.ops import custom_gradient\n@custom_gradient.custom_gradient\ndef f(x):\n"
    "    return x, lambda dy: dy\n": (False, True),
    "from keras.src import ops\n@ops.custom_gradient\ndef f(x):\n    def grad(*args, upstream=None):\n"
    "        return upstream, upstream\n    return x, grad\n": (False, False),
    "from keras import ops\ndef f(x):\n    return x, lambda dy: (dy, dy)\ng = ops.custom_gradient(f)\n": (False, False),
    "import jax\n@jax.custom_gradient\ndef f(x):\n    return x, lambda dy: (dy, dy)\n": (False, False),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("source", AUTODIFF_IMPORTS)
def test_tapes_and_custom_gradients_need_tensorflows_names(source, mode):
    f = facts_in(mode, source)
    assert (f.makes_tape, f.applies_custom_gradient) == AUTODIFF_IMPORTS[source]
    if AUTODIFF_IMPORTS[source] == (False, False):  # the rules, on the whole file, agree
        assert linter.analyse(source, "t.py", RULES, partial=False)[1] == []


def _many_imports(alias: bool) -> str:
    lines = "".join(f"import module_number_{i}{f' as m{i}' if alias else ''}\n" for i in range(40))
    return ("import tensorflow as tf\n" + lines + "class Scale(tf.keras.layers.Layer):\n"
            "    def __init__(self):\n        super().__init__()\n        self.w = tf.Variable(1.0)\n"
            "    def call(self, x):\n        self.w = tf.multiply(self.w, 0.5)\n        return x * self.w\n")


@pytest.mark.parametrize("alias", [True, False])
def test_a_screen_that_turns_to_the_whole_tree_midway_still_reads_the_class_around_a_store(alias):
    # Reading the imports for the store's value (`tf.multiply` imported?) goes past the share of the
    # text read line by line and compiles the whole tree: the store, read from its line, must still be
    # placed in its class (it was taken for module code, and the finding lost).
    source = _many_imports(alias)
    rule = registry.all_rules()["TL010"]
    assert [d.code for d in linter.analyse(source, "t.py", [rule], partial=False)[1]] == ["TL010"]
    assert "TL010" in kept(source)


def test_variables_followed_through_names_when_the_whole_tree_is_turned_on_midway():
    f = Facts("import tensorflow as tf\nw = tf.Variable(1.0)\n" + "y = w\n" * 10)
    assert f.variable_names == {"w", "y"}


TL015_GRAPH = {
    # source -> whether a call of tf.gradients runs outside the functions the rule counts as graphs
    "import tensorflow as tf\n@tf.function\ndef f(y, x):\n    return tf.gradients(y, x)\n": False,
    "import tensorflow as tf\nclass M(tf.Module):\n    def g(self, y, x):\n        return tf.gradients(y, x)\n": False,
    "import tensorflow as tf\nclass M(tf.Module):\n    if True:\n        def g(self, y, x):\n"
    "            return tf.gradients(y, x)\n": False,
    "import tensorflow as tf\nf = lambda y, x: tf.gradients(y, x)\n": False,
    "import tensorflow as tf\n@register\ndef f(y, x):\n    def inner():\n        return tf.gradients(y, x)\n"
    "    return inner()\n": False,
    "import tensorflow as tf\nclass M:\n    def g(self, y, x):\n        return tf.gradients(y, x)\n": True,
    "import tensorflow as tf\n@tf.function\ndef f(x, g=tf.gradients(y, x)):\n    return g\n": True,
    "import tensorflow as tf\nclass M(tf.Module):\n    g = tf.gradients(y, x)\n": True,
    "import tensorflow as tf\nclass M(tf.Module):\n    def g(self, y, x):\n        def h():\n"
    "            return 1\n        return h\nz = tf.hessians(y, x)\n": True,
    # a function whose name is used other than to call it may be traced (the rule's graph seeds)
    "import tensorflow as tf\ndef make(y, x):\n    def test(self):\n        return tf.gradients(y, x)\n"
    "    return test\n": False,
    "import tensorflow as tf\ndef grads(y, x):\n    return tf.gradients(y, x)\nds = ds.map(grads)\n": False,
    "import tensorflow as tf\nclass M:\n    def g(self, y, x):\n        return tf.gradients(y, x)\n"
    "    def h(self):\n        return self.g\n": False,
    "import tensorflow as tf\nasync def grads(y, x):\n    return tf.gradients(y, x)\nhandlers = [grads]\n": False,
    "import tensorflow as tf\ndef grads(y, x):\n    return tf.gradients(y, x)\nz = grads(y, x)\n": True,
    "import tensorflow as tf\ndef grads(y, x):\n    return tf.gradients(y, x)\ngrads.calls = 0\n": True,
    "import tensorflow as tf\ndef grads(y, x):\n    return tf.gradients(y, x)\nz = (grads)(y, x)\n": True,
    # only the code around the lines that name the call is walked: its alias, a call over several lines
    "from tensorflow import gradients as G\n\n\ndef f(y, x):\n    return G(y, x)\n\n\nz = f(1, 2)\n": True,
    "from tensorflow import gradients as G\n\n\ndef f(y, x):\n    return G(y, x)\n\n\nfs = [f]\n": False,
    "import tensorflow as tf\ndef f(y, x):\n    return (tf\n            .gradients(y, x))\nz = f(1, 2)\n": True,
    "import tensorflow as tf\ndef f(y, x):\n    return tf.hessians(\n        y,\n        x)\n": True,
    "import tensorflow as tf\nclass M(tf.Module):\n    def g(self, y, x):\n        return tf.gradients(y, x)\n"
    "def f(y, x):\n    def inner():\n        return 1\n    return inner\n": False,
}


TL015_MODE_CHECKS = {
    # source -> whether a call of tf.gradients is outside the code the rule counts as checking the mode:
    # a function around it that calls tf.executing_eagerly() itself, or an `if` whose test does
    "import tensorflow as tf\ndef grads(y, x):\n    if tf.executing_eagerly():\n        raise RuntimeError('graphs only')\n"
    "    return tf.gradients(y, x)\nz = grads(1, 2)\n": False,
    # (TFP's diag_jacobian: the check in the function around the loop body that differentiates)
    "import tensorflow as tf\ndef jac(y, x):\n    if not tf.executing_eagerly():\n        def body(j):\n"
    "            return tf.gradients(y[j], x)\n        return body(0)\nz = jac(1, 2)\n": False,
    "import tensorflow as tf\nif not tf.executing_eagerly():\n    g = tf.gradients(y, x)\nelse:\n    g = tf.hessians(y, x)\n": False,
    "from tensorflow import executing_eagerly\ndef grads(y, x):\n    assert not executing_eagerly()\n"
    "    return tf.gradients(y, x)\nimport tensorflow as tf\nz = grads(1, 2)\n": False,
    # a check elsewhere: in another function, in an `if` body rather than its test, in a default
    "import tensorflow as tf\ndef eager():\n    return tf.executing_eagerly()\ndef grads(y, x):\n"
    "    return tf.gradients(y, x)\nz = grads(1, 2)\n": True,
    "import tensorflow as tf\nif ok:\n    eager = tf.executing_eagerly()\n    g = tf.gradients(y, x)\n": True,
    "import tensorflow as tf\ndef grads(y, x, eager=tf.executing_eagerly()):\n    return tf.gradients(y, x)\n"
    "z = grads(1, 2)\n": True,
    "import tensorflow as tf\ndef grads(y, x):\n    check = lambda: tf.executing_eagerly()\n"
    "    return tf.gradients(y, x)\nz = grads(1, 2)\n": True,
    # a check the model may not resolve: its name bound otherwise too, or imported twice
    "import tensorflow as tf\nimport tensorflow as tfe\ntfe = patched(tfe)\ndef grads(y, x):\n"
    "    if tfe.executing_eagerly():\n        raise RuntimeError\n    return tf.gradients(y, x)\nz = grads(1, 2)\n": True,
    "import tensorflow as tf\ndef grads(y, x):\n    from mylib import executing_eagerly\n"
    "    if executing_eagerly():\n        raise RuntimeError\n    return tf.gradients(y, x)\nz = grads(1, 2)\n": True,
    "import tensorflow as tf\nfrom mylib import executing_eagerly\ndef grads(y, x):\n"
    "    if executing_eagerly():\n        raise RuntimeError\n    return tf.gradients(y, x)\nz = grads(1, 2)\n": True,
}


TL015_CALLED_FROM_GRAPHS = {
    # source -> whether a call of tf.gradients may run outside the functions the rule takes for graphs,
    # where a graph function calls the plain function around it by name (TF Keras's optimizer_v1.py:
    # each optimizer's `get_updates`, a method of a derived class, calls `self.get_gradients`)
    "import tensorflow as tf\nclass Optimizer:\n    def get_gradients(self, loss, params):\n"
    "        return tf.gradients(loss, params)\nclass SGD(Optimizer):\n    def get_updates(self, loss, params):\n"
    "        return self.get_gradients(loss, params)\n": False,
    "import tensorflow as tf\n@register\ndef step(y, x):\n    return outer(y, x)\ndef outer(y, x):\n    return inner(y, x)\n"
    "def inner(y, x):\n    return tf.gradients(y, x)\n": False,
    # ... not where only plain functions call it
    "import tensorflow as tf\ndef step(y, x):\n    return grads(y, x)\ndef grads(y, x):\n    return tf.gradients(y, x)\n"
    "z = step(1, 2)\n": True,
    "import tensorflow as tf\nclass Optimizer:\n    def get_gradients(self, loss, params):\n"
    "        return tf.gradients(loss, params)\n    def get_updates(self, loss, params):\n"
    "        return self.get_gradients(loss, params)\n": True,
}


TL015_GRAPH_MODE_FILES = {
    # source -> whether the screen keeps TL015 in a file the rule may take for a graph-mode one
    # (TF1 code: every tf.gradients call in it is silent), and whether the rule reports
    "import tensorflow.compat.v1 as tf\ndef dpg(q, a):\n    return tf.gradients([q], [a])[0]\nz = dpg(1, 2)\n": (False, False),
    "import tensorflow as tf\nimport tensorflow.compat.v1 as v1\nv1.disable_eager_execution()\n"
    "g = tf.gradients(y, x)\n": (False, False),
    "import tensorflow as tf\nfrom tensorflow.compat.v1 import Session\ng = tf.gradients(y, x)\n"
    "with Session() as s:\n    s.run(g)\n": (False, False),
    # ... found on the lines that hold a marker's last part or a name an import binds to one
    "import tensorflow as tf\ng = tf.gradients(y, x)\nsess = (tf.compat.v1\n        .Session())\n": (False, False),
    "import tensorflow as tf\nfrom tensorflow.compat.v1 import Session as S\ng = tf.gradients(y, x)\n"
    "with S() as s:\n    s.run(g)\n": (False, False),
    "from tensorflow.compat import v1 as tf1\ndef f(y, x):\n    return tf1.gradients(y, x)\nz = f(1, 2)\n": (False, False),
    # ... where the model may not resolve the marker, the screen keeps the rule
    "import tensorflow.compat.v1 as tf\ntf = patched(tf)\ng = tf.gradients(y, x)\n": (True, False),
    "import tensorflow as tf\nimport tensorflow.compat.v1 as v1\nif legacy:\n    v1 = None\n"
    "g = tf.gradients(y, x)\nprint(v1)\n": (True, True),
    "import tensorflow as tf\nimport tensorflow.compat.v1 as v1\nv1 = None\nv1.disable_eager_execution()\n"
    "g = tf.gradients(y, x)\n": (True, True),
    "import tensorflow as tf\ndef f(y, x):\n    import tensorflow.compat.v1 as tf1\n    tf1.disable_v2_behavior()\n"
    "    return tf.gradients(y, x)\nz = f(1, 2)\n": (True, False),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("source", TL015_GRAPH_MODE_FILES)
def test_tl015s_screen_leaves_out_the_graph_mode_files_the_rule_surely_takes_for_them(source, mode):
    kept_rule, reports = TL015_GRAPH_MODE_FILES[source]
    assert registry.all_rules()["TL015"].screen(facts_in(mode, source)) is kept_rule
    assert codes_reported("TL015", source) == (["TL015"] if reports else [])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("source", [*TL015_MODE_CHECKS, *TL015_CALLED_FROM_GRAPHS])
def test_tl015s_screen_leaves_out_the_code_the_rule_leaves_out(source, mode):
    # mode-checked code, and plain functions that graph functions call by name
    expected = {**TL015_MODE_CHECKS, **TL015_CALLED_FROM_GRAPHS}[source]
    assert_screen("TL015", facts_in(mode, source), source, expected)
    assert codes_reported("TL015", source) == (["TL015"] if expected else [])


# The whole-tree fixed point that TL015's screen computed up to stop 20, forwards from every seed; the
# screen now searches backwards from the functions it asks about (`_InGraph`), on the lines that
# name them. Both must give every function the same answer.
def graph_functions_forwards(facts) -> set[int]:
    """The ids of functions that the rule's ``_GraphFunctions.graph_functions`` surely holds: its seeds
    the screen can see (decorated functions, methods of a class with a base class, and functions of a
    name the code uses other than to call it: `_named_as_values`, never more than the rule's), and, as
    there, every function nested in one and every function of a name one calls, to a fixed point (TF
    Keras's `Optimizer.get_gradients`, a plain method that each optimizer's `get_updates` calls)."""
    functions = [s for s in facts.statements if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]
    by_name: dict[str, list[ast.AST]] = {}
    for fn in functions:
        by_name.setdefault(fn.name, []).append(fn)
    # (`model.class_of`: the class whose scope the definition is in, its blocks' included)
    seeds = [fn for fn in functions if fn.decorator_list or
             (isinstance(facts.scope_of(fn), ast.ClassDef) and facts.scope_of(fn).bases)]
    for name in named_as_values_whole_tree(facts.tree):
        seeds += by_name.get(name, ())
    graph: set[int] = set()
    work = list(seeds)
    while work:
        fn = work.pop()
        if id(fn) in graph:
            continue
        graph.add(id(fn))
        for node in ast.walk(fn):
            if isinstance(node, ast.Call):
                work += [callee for callee in by_name.get(tl015._callee(node), ()) if id(callee) not in graph]
            elif node is not fn and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and id(node) not in graph:
                work.append(node)
    return graph




def named_as_values_whole_tree(tree: ast.Module) -> set[str]:
    """The names the code uses other than as what a call calls (`return inner`, `dataset.map(fn)`,
    `obj.f` not called), where the rule's ``_GraphFunctions`` counts them too: a name or attribute
    that is neither a call's function nor (a name) the object of an attribute. The rule counts more
    (parameters, keywords, import aliases), never fewer."""
    called: set[int] = set()
    objects: set[int] = set()
    names: list[ast.Name | ast.Attribute] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            called.add(id(node.func))
        elif isinstance(node, ast.Attribute):
            objects.add(id(node.value))
            names.append(node)
        elif isinstance(node, ast.Name):
            names.append(node)
    return {n.id if isinstance(n, ast.Name) else n.attr for n in names
            if id(n) not in called and not (isinstance(n, ast.Name) and id(n) in objects)}


IN_GRAPH_SOURCES = [
    # a chain from a decorated function, through a plain one, to another; a cycle of plain functions
    "import tensorflow as tf\n@tf.function\ndef a(x):\n    return b(x)\ndef b(x):\n    return obj.c(x)\n"
    "def c(x):\n    return x\ndef d(x):\n    return e(x)\ndef e(x):\n    return d(x)\n",
    # nested in a graph function, through a class; a method of a class with a base
    "def outer():\n    class K:\n        def m(self):\n            def inner():\n                pass\n    return K\n"
    "outer_ref = outer\nclass L(Base):\n    def step(self):\n        return helper()\ndef helper():\n    pass\n",
    # a call in a definition's own decorator, default or annotation; a header that goes on where a
    # statement of its body starts; a call on a continuation line
    "@register\ndef f(x=g()) -> h():\n    pass\ndef g():\n    pass\ndef h():\n    pass\n"
    "@tf.function\ndef k():\n    with ctx(\n            j()): z = 1\n    obj.\\\n        l()\n"
    "def j():\n    pass\ndef l():\n    pass\ndef m(a=lambda: n()):\n    pass\ndef n():\n    pass\n",
    # names used as values: returned, passed, an attribute not called, in a comprehension, not as the
    # object of an attribute
    "def p():\n    return q\ndef q():\n    pass\ndef r():\n    pass\nmap(r, xs)\ndef s():\n    pass\nx = obj.s\n"
    "def t():\n    pass\nys = [t for _ in range(2)]\ndef u():\n    pass\nu.attribute = 1\ndef v():\n    pass\nv()\n",
]


def _in_graph_sources():
    from tapelint.registry import builtin_rules
    from tapelint.testing import example_params

    yield from IN_GRAPH_SOURCES
    yield from TL015_CALLED_FROM_GRAPHS
    yield from TL015_MODE_CHECKS
    for rule in builtin_rules():
        for _, example in example_params(rule):
            yield example.code
    for path in sorted(Path(__file__).resolve().parent.parent.joinpath("fixtures").rglob("*.py")):
        yield path.read_text(encoding="utf-8")


def test_tl015s_backward_search_finds_the_graph_functions_the_forward_fixed_point_finds():
    compared = in_graph = 0
    for source in _in_graph_sources():
        f = facts(textwrap.dedent(source))
        if f.syntax_tree() is None:
            continue
        expected = graph_functions_forwards(f)
        shared = tl015._InGraph(f)  # (answers kept between questions)
        for fn in f.statements:
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert shared(fn) is (id(fn) in expected) is tl015._InGraph(f)(fn), (fn.name, source)
                compared += 1
                in_graph += id(fn) in expected
    assert compared > 300 and in_graph > 100  # (the sources hold both kinds)


TL007_USED_AS_VARIABLE = {
    # source -> whether TL007's screen keeps a rebinding `w = w - ...` of a variable: only where some load
    # of the name may need the variable (`_needs_variable`), as the rule asks
    "import tensorflow as tf\nx = tf.constant(1.0)\nwith tf.GradientTape() as tape:\n    tape.watch(x)\n"
    "    acc = tf.Variable(0.0)\n    acc = acc + x * x\ng = tape.gradient(acc, x)\nprint(acc * 2)\n": False,
    "import tensorflow as tf\nw = tf.Variable(1.0)\nw = w - 0.1\nwith tf.GradientTape() as t:\n    y = w * w\n"
    "g = t.gradient(w, [y])\n": False,  # (the target, not a source)
    "import tensorflow as tf\nw = tf.Variable(1.0)\nw = w * 2\nw.assign(3.0)\n": True,
    "import tensorflow as tf\nw = tf.Variable(1.0)\nw = w - 0.1\nwith tf.GradientTape() as t:\n    y = w * w\n"
    "g = t.gradient(y, [w])\n": True,
    "import tensorflow as tf\nw = tf.Variable(1.0)\nw = w - 0.1\nwith tf.GradientTape() as t:\n    y = w * w\n"
    "g = t.gradient(\n    y,\n    [w,\n     w])\n": True,
    "import tensorflow as tf\nw = tf.Variable(1.0)\nw = w - 0.1\nwith tf.GradientTape() as t:\n    y = w * w\n"
    "g = t.gradient(y, sources=w)\n": True,
    "import tensorflow as tf\nopt = tf.keras.optimizers.SGD()\nw = tf.Variable(1.0)\nw = w - 0.1\n"
    "opt.apply_gradients(zip([1.0], [w]))\n": True,
    # ... and, kept where the screen cannot tell (the rule is silent on both)
    "import tensorflow as tf\nw = tf.Variable(1.0)\nw = w - 0.1\nwith tf.GradientTape() as t:\n    y = w * w\n"
    "g = t.gradient(*(y, [w]))\n": True,
    "import tensorflow as tf\nw = tf.Variable(1.0)\nw = w - 0.1\ndef f():\n    return w.read_value()\n": True,
}
TL007_REPORTED = {2, 3, 4, 5, 6}  # (the positions of the sources above where the rule reports)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("position", range(len(TL007_USED_AS_VARIABLE)))
def test_tl007s_screen_keeps_a_rebinding_only_where_the_name_may_be_used_as_the_variable(position, mode):
    source = list(TL007_USED_AS_VARIABLE)[position]
    assert_screen("TL007", facts_in(mode, source), source, TL007_USED_AS_VARIABLE[source])
    assert codes_reported("TL007", source) == (["TL007"] if position in TL007_REPORTED else [])


_MODEL = "import tensorflow as tf\nmodel = tf.keras.Sequential([tf.keras.layers.Dense(1)])\n"
TL006_CARRIED = {
    # source -> whether TL006's screen keeps a conversion out of TensorFlow in a tape: only of a value
    # that may depend on the sources, as `_Dependence` follows them (names computed from them where the
    # tape records, loop and comprehension variables over them; not a batch of the dataset)
    # a batch of the dataset converted: no source reaches it
    _MODEL + "for x, y in dataset:\n    with tf.GradientTape() as tape:\n        x = x.numpy()\n"
    "        loss = tf.reduce_mean(model(x) - y)\n    grads = tape.gradient(loss, model.trainable_variables)\n": False,
    _MODEL + "it = iter(dataset)\nwith tf.GradientTape() as tape:\n    xb, yb = next(it)\n    xb = xb.numpy()\n"
    "    w = [weights[c] for c in yb.numpy()]\n    loss = tf.reduce_mean(model(xb) * w)\n"
    "grads = tape.gradient(loss, model.trainable_variables)\n": False,
    # ... a value computed from the model, a comprehension's or a loop's variable over its weights
    _MODEL + "with tf.GradientTape() as tape:\n    h = model(x)\n    h = h.numpy()\n    loss = tf.reduce_sum(h)\n"
    "grads = tape.gradient(loss, model.trainable_variables)\n": True,
    _MODEL + "with tf.GradientTape() as tape:\n    ws = [float(w) for w in model.trainable_variables]\n"
    "    loss = tf.reduce_sum(model(x)) + sum(ws)\ngrads = tape.gradient(loss, model.trainable_variables)\n": True,
    _MODEL + "s = 0.0\nwith tf.GradientTape() as tape:\n    for w in model.trainable_variables:\n        s = s + w.numpy()\n"
    "    loss = tf.reduce_sum(model(x)) + s\ngrads = tape.gradient(loss, model.trainable_variables)\n": True,
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("source", TL006_CARRIED)
def test_tl006s_screen_keeps_a_conversion_only_of_what_may_depend_on_the_sources(source, mode):
    expected = TL006_CARRIED[source]
    assert_screen("TL006", facts_in(mode, source), source, expected)
    assert codes_reported("TL006", source) == (["TL006"] if expected else [])


_CONV_STEPS = ("    def build(self, input_shape):\n        super().build(input_shape)\n"
               "        self.kernel = tf.Variable(tf.transpose(self.kernel))\n"
               "    def call(self, inputs):\n        self.kernel = tf.transpose(self.kernel * 2.0)\n"
               "        return super().call(inputs)\n")
_CLOSURE = ("def make(kernel):\n    _kernel = {value}\n    class Scale(tf.keras.layers.Layer):\n"
            "        def __init__(self):\n            super().__init__()\n            self.w = _kernel\n"
            "        def call(self, x):\n            self.w = self.w * 2.0\n            return x * self.w\n"
            "    return Scale()\n")
_SCALE_LAYER = ("def make(kernel):\n    _kernel = {value}\n    class Scale(tf.keras.layers.Layer):\n"
                "        def __init__(self):\n            super().__init__()\n            self._kernel_to_be = _kernel\n"
                "        def build(self, input_shape):\n            self.kernel = self.add_weight(name='kernel', shape=(1,))\n"
                "        def call(self, x):\n            return x * self.kernel\n    return Scale()\n")
TL010_KERAS_BASES = {
    # source -> (whether TL010's screen keeps it, whether the rule reports): a weight of a class the
    # model takes for a Keras one only through an import (transformers' TF models derive from their
    # own `keras` module's layers: silent), and what a layer class made in a function stores from it
    "import tensorflow as tf\nfrom mylib import keras\nclass C(keras.layers.Conv1D):\n" + _CONV_STEPS: (False, False),
    "import tensorflow as tf\nfrom mylib import Conv1D\nclass C(Conv1D):\n" + _CONV_STEPS: (False, False),
    "import tensorflow as tf\nclass C(tf.keras.layers.Conv1D):\n" + _CONV_STEPS: (True, True),
    "import tensorflow as tf\nfrom tensorflow.keras.layers import Conv1D\nclass C(Conv1D):\n" + _CONV_STEPS: (True, True),
    "import tensorflow as tf\nclass Base(tf.keras.layers.Conv1D):\n    pass\nclass C(Base):\n" + _CONV_STEPS: (True, True),
    "import tensorflow as tf\nfrom mylib import *\nclass C(Conv1D):\n" + _CONV_STEPS: (True, False),  # (kept)
    "import tensorflow as tf\n" + _CLOSURE.format(value="kernel"): (False, False),
    "import tensorflow as tf\n" + _CLOSURE.format(value="tf.Variable(kernel)"): (True, True),
    "import tensorflow as tf\n" + _SCALE_LAYER.format(value="kernel"): (False, False),  # (innvestigate)
    "import tensorflow as tf\n" + _SCALE_LAYER.format(value="tf.Variable(kernel)"): (True, False),  # (kept)
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("source", TL010_KERAS_BASES)
def test_tl010s_screen_keeps_the_weights_of_classes_the_model_may_take_for_keras_ones(source, mode):
    kept_rule, reports = TL010_KERAS_BASES[source]
    assert_screen("TL010", facts_in(mode, source), source, kept_rule)
    assert codes_reported("TL010", source) == (["TL010"] if reports else [])


BINDING_SOURCES = [
    "import tensorflow.compat.v1 as tf\nimport os.path\nfrom a import (b as c,\n    tf as tf2)\n"
    "def f(tf=1, *a, **k):\n    global g, g\n    lam = lambda x, tf: x\n    [y for y in z]\n"
    "    if (w := 3): pass\n    del q\n    try:\n        pass\n    except E as tf:\n        pass\n"
    "    match v:\n        case {'a': tf, **rest}: pass\n        case [*tf] | Point(x=tf): pass\n"
    "class tf: pass\ndef \\\n  h(): pass\n@deco\nasync def i(j: int = tf) -> tf:\n    async for tf in j: pass\n"
    "    async with k as (tf, l): pass\n    nonlocal m\nfor (n, [o, *p]) in r: pass\nwith s: t: int = 1\n",
]


def test_the_bindings_of_a_name_read_from_its_lines_are_those_the_whole_tree_counts():
    # `Facts.bindings_of` reads the statements covering the lines where the name is written; every
    # name of every source must get the count of the walk over the whole tree (`_bindings_by_name`).
    sources = [*BINDING_SOURCES, *TL015_GRAPH_MODE_FILES, *TL015_MODE_CHECKS, *_in_graph_sources()]
    compared = bound = 0
    for source in sources:
        source = textwrap.dedent(source)
        f = facts(source)
        if f.syntax_tree() is None:
            continue
        whole = f._bindings_by_name
        for name in set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", source)):
            assert f.bindings_of(name) == whole.get(name, 0), (name, source)
            compared += 1
            bound += name in whole
    assert compared > 5000 and bound > 2000


def test_the_bindings_of_a_name_spelt_otherwise_than_cpython_reads_it_come_from_the_whole_tree():
    # `ｔｆ` is `tf` to CPython (NFKC): the lines where `tf` is written do not show that binding.
    source = "import tensorflow.compat.v1 as tf\nｔｆ = None\ntf.gradients(y, x)\n"
    f = facts(source)
    assert f.bindings_of("tf") == f._bindings_by_name["tf"] == 3
    assert not f.surely_refers_to(ast.parse("tf").body[0].value, frozenset({"tensorflow.compat.v1"}))


VARIABLE_IMPORTS = {
    # source -> whether the screens take `w` for a variable made there (as the semantic model does)
    "from tensorflow.python.ops import variables\nw = variables.Variable(1.0)\nw = w - 1.0\nw.assign(0.0)\n": True,
    "from tensorflow.python.ops import resource_variable_ops as rvo\nw = rvo.ResourceVariable(1.0)\nw = w - 1.0\nw.assign(0.0)\n": True,
    "import keras\nw = keras.Variable(1.0)\nw = w - 1.0\nw.assign(0.0)\n": True,
    "from tensorflow.keras import backend as K\nw = K.variable(1.0)\nw = w - 1.0\nw.assign(0.0)\n": True,
    "from tensorflow import Variable as V\nw = V(1.0)\nw = w - 1.0\nw.assign(0.0)\n": True,
    "from tensorflow import Variable as \\\n    V  # the alias\nw = V(1.0)\nw = w - 1.0\nw.assign(0.0)\n": True,
    "from tensorflow import Variable as Vé\nw = Vé(1.0)\nw = w - 1.0\nw.assign(0.0)\n": True,
    "from tensorflow import Variable as Vé\nw = V(1.0)\nw = w - 1.0\n": False,
    "class M:\n    def build(self):\n        w = self.add_weight(shape=())\n        w = w - 1.0\n        w.assign(0.0)\n": True,
    "from keras.src import backend\ndef f(w):\n    w = backend.Variable(w)\n    w = w - 1.0\n": False,
    "class Variable:\n    pass\nw = Variable()\nw = w - 1.0\n": False,
    "from mylib import Variable\nw = Variable(1.0)\nw = w - 1.0\n": False,
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("code, source", [(code, source) for code, table in (
    ("TL015", TL015_IMPORTS), ("TL015", TL015_GRAPH), ("TL018", TL018_CASES), ("TL007", VARIABLE_IMPORTS))
    for source in table])
def test_screens_know_the_qualified_names_and_blocks_their_rules_need(code, source, mode):
    # TL015: a call an import can make tf.gradients, outside the functions the rule takes for graphs;
    # TL018: a step in a block that can enter a tape;
    # TL007: a variable made by what an import makes a variable factory, or by `add_weight`.
    expected = {**TL015_IMPORTS, **TL015_GRAPH, **TL018_CASES, **VARIABLE_IMPORTS}[source]
    if code == "TL007":
        assert bool(facts_in(mode, source).names_made_variables) is expected
        assert codes_reported("TL007", source) == (["TL007"] if expected else [])
    assert_screen(code, facts_in(mode, source), source, expected)


# -- robustness -----------------------------------------------------------------------------------------------
def test_a_syntax_error_is_reported_where_the_text_holds_what_a_rule_looks_for():
    # Python 2 code with a tape: the screens compile it to look closer, and the error is reported.
    source = 'import tensorflow as tf\nwith tf.GradientTape() as t:\n    y = x * x\nprint "y", t.gradient(y, x)\n'
    _, diagnostics = linter.analyse(source, "x.py", RULES, partial=True)
    assert [(d.code, d.location.row) for d in diagnostics] == [("TL000", 4)]
    assert linter.screened(triggered(RULES, source), Facts(source))  # kept: a screen could not decide


def test_a_file_ruled_out_from_its_text_is_not_parsed_and_its_syntax_error_not_reported(monkeypatch):
    # The words are in a comment only: as for a file without them, nothing is compiled or parsed.
    source = "# tf.Variable, layer.kernel, tf.gradients\nprint 'x'\n"
    f = Facts(source)
    assert linter.screened(triggered(RULES, source), f) == [] and not f.compiled
    built = []
    monkeypatch.setattr(screen, "compile_tree", lambda text: built.append(text))
    assert linter.analyse(source, "x.py", RULES, partial=True) == (None, [])
    assert built == []


@pytest.mark.parametrize("source, row", [
    ("import tensorflow as tf\nwith tf.GradientTape() as tape:\n    y = (\n", 3),  # no gradient taken
    ("import tensorflow as tf\nwith tf.GradientTape() as tape:\n    s = 'unterminated\n", 3),
    ("import tensorflow as tf\n@tf.custom_gradient\ndef f(x:\n    pass\n", 3),
])
def test_a_syntax_error_is_reported_in_every_file_that_makes_a_tape_or_uses_custom_gradient(source, row):
    _, diagnostics = linter.analyse(source, "x.py", RULES, partial=True)
    assert [(d.code, d.location.row) for d in diagnostics] == [("TL000", row)]


@pytest.mark.parametrize("source", [
    "# tf.GradientTape(), tf.custom_gradient\nprint 'x'\n" + UNRELATED,  # in a comment only
    '"""Use tf.GradientTape() or @tf.custom_gradient."""\nprint "x"\nw = tf.Variable(1.0)\n' + UNRELATED,
])
def test_a_tape_or_custom_gradient_named_only_in_strings_and_comments_does_not_make_a_file_checked(source):
    # Such a file is treated as one unrelated to autodiff: screened out from a few logical lines, and
    # not parsed. (A short one is compiled whole by the screens, which then report the error.)
    assert linter.analyse(source, "x.py", RULES, partial=True) == (None, [])
    assert not Facts(source).uses_autodiff


@pytest.mark.parametrize("body", ["return 1\n", "x = 1\nbreak\n", "await f()\n", "nonlocal x\n",
                                  "def f(a):\n    global a\n"])
def test_errors_only_the_compiler_finds_are_treated_as_in_a_whole_file_analysis(body):
    # CPython's parser accepts these; its compiler (or symbol table) does not. A whole-file analysis
    # (libcst, after the parser) reports nothing, and neither does the screened one.
    source = "# tf.GradientTape, tf.Variable\n" + body
    assert linter.analyse(source, "x.py", RULES, partial=True)[1] == []
    assert linter.analyse(source, "x.py", RULES, partial=False)[1] == []


def test_compiling_prints_no_warning_about_the_users_code(recwarn, capfd):
    source = '# tf.GradientTape\nimport tensorflow as tf\nif tf is "a":\n    y = "\\d"\n'
    assert linter.analyse(source, "x.py", RULES, partial=True)[1] == []
    assert linter.analyse(source, "x.py", RULES, partial=False)[1] == []
    assert [str(w.message) for w in recwarn] == []
    assert capfd.readouterr().err == ""


def test_a_screen_that_raises_keeps_its_rule():
    class Broken(Rule):
        code, name, summary, message = "XX001", "broken", "", ""

        @classmethod
        def screen(cls, facts):
            raise KeyError("boom")

    source = "import tensorflow as tf\n"
    assert linter.screened([Broken], Facts(source)) == [Broken]


def test_facts_follow_variables_through_names_and_tuples():
    f = facts("import tensorflow as tf\na, b = tf.Variable(1.0), 2\nc = a\nself.d = -c\nself.e = (x := tf.Variable(2.0))\n")
    assert f.variable_names >= {"a", "b", "c", "d", "x"}
    assert f.names_made_variables == {"a", "b", "x"}
    assert f.self_variable_attributes == {"d"}


ALIAS_CASES = [
    "from tensorflow import Variable as V\nw = V(1.0)\n",
    "from tensorflow import (\n    Variable\n    as V,\n)\n",
    "import tensorflow.Variable \\\n    as V\n",
    "from tensorflow import custom_gradient as cg, GradientTape as T\n",
    "from foo import bar as Variable\nw = Variable(1.0)\n",
    "import numpy as np\nwith open('f') as Variable:\n    pass\n",
    "from tensorflow import Variable\n# a bias Variable, not an alias\nw = Variable(1.0)\n",
]


@pytest.mark.parametrize("source", [*ALIAS_CASES, *_all_sources()[:60]])
def test_aliases_read_only_where_the_text_says_as_are_those_of_every_import(source):
    # `unaliases` and `aliases_of` skip reading the imports where no `as` could bind the name asked for.
    lazy, eager = Facts(source), facts(source)
    table = eager._aliases
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", source)) | set(screen.VARIABLE_MAKERS)
    for word in sorted(words):
        assert lazy.unaliases(word) == {word, *table.get(word, ())}, word
    for names in (screen.VARIABLE_MAKERS, {"custom_gradient"}, {"GradientTape"}, {"gradients", "hessians"}):
        assert sorted(Facts(source).aliases_of(names)) == sorted(a for a, n in table.items() if n & set(names))


def test_text_patterns_match_calls_and_aliases_across_gaps_and_whole_names_only():
    from tapelint.screen import MAKER_CALL, TAPE_CALL, call_pattern

    gradients = call_pattern("gradients")
    assert gradients.search("g = tf.gradients(y, x)")
    assert gradients.search("g = (tf.gradients  # old API\n    )(y, x)")
    assert gradients.search("g = tf.gradients \\\n (y, x)")
    assert gradients.search("from tensorflow import gradients as G")
    assert not gradients.search("from tensorflow.python.ops import gradients_impl(")
    assert not gradients.search("apply_gradients(zip(g, v))")
    assert not gradients.search("the gradients of y (and x)")  # words between the name and `(`
    assert not TAPE_CALL.search("FakeGradientTape()")
    assert MAKER_CALL.search("v = resource_variable_ops.ResourceVariable(1.0)")
    assert MAKER_CALL.search("w = self.add_weight(shape=[1])")
    assert not MAKER_CALL.search("trainable_variables = model.trainable_variables")
    assert not MAKER_CALL.search("v = tf.compat.v1.get_variable('v', shape=[1])")
    assert MAKER_CALL.search("from tensorflow.python.ops.variables import Variable as V")


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_lines_are_numbered_as_cpython_numbers_them(newline):
    # A file whose lines end in a lone `\r` (classic Mac OS): CPython counts those as lines, and the
    # screens find statements by the lines where a word is (stop 19 counted `\n` only, and lost TL003).
    source = newline.join(["import tensorflow as tf", "def f(x):", "    with tf.GradientTape(persistent=True) as t:",
                           "        y = x * x", "        g = t.gradient(y, x)", "    return g", ""])
    assert screen.DIFFERENTIATION_CALL.lines(source) == {5}
    assert [d.code for d in linter.analyse(source, "t.py", RULES)[1]] == ["TL003"]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_the_lines_of_several_words_are_numbered_whatever_order_they_are_found_in(newline):
    # Each word is looked for in turn: the second word's matches come after the first's, lines before.
    pattern = screen.Pattern(("beta", "alpha"), screen.WORD_END)
    source = newline.join(["alpha = 1", "", "beta = alpha", "x = 2", "alpha", "betas", "beta"])
    assert pattern.lines(source) == {1, 3, 5, 7}
    assert pattern.lines("") == set()


def test_a_banner_comment_after_a_trigger_word_is_read_in_one_pass():
    # `#[^\n]*` inside a repeated group could split a run of `#` in every possible way: 2**n tries for
    # a comment of n `#`s after a name that is not called (0.17 s at 22, doubling with each more).
    # A subprocess, so that the old behaviour fails with a clear message rather than hanging the suite.
    import subprocess
    import sys

    code = ("from tapelint.screen import MAKER_CALL\n"
            "banner = 'x = Variable  ' + '#' * 400 + chr(10)\n"
            "print(bool(MAKER_CALL.search(banner)), bool(MAKER_CALL.search(banner + '(')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.stdout.split() == ["False", "True"], done.stderr


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("padding", [0, 60])  # (60 lines: the logical lines are read alone)
def test_a_call_in_a_header_that_goes_on_where_a_statement_of_its_body_starts_is_found(mode, padding):
    # Stop 20 took the calls on a line from the innermost statement that covers it: `z = 1`, not the
    # `with` whose header holds the call on that line, and the screen lost TL015.
    source = "import tensorflow as tf\n" + "x = 1\n" * padding + \
        "with tf.name_scope(\n        tf.gradients(y, x)): z = 1\n"
    line = source.count("\n")
    assert sorted(c.func.attr for c in facts(source).calls_on_lines({line})) == ["gradients", "name_scope"]
    assert_screen("TL015", facts_in(mode, source), source, True)
    assert codes_reported("TL015", source) == ["TL015"]


def test_calls_are_found_on_the_lines_a_pattern_matches_wherever_the_statement_starts():
    from tapelint.screen import TAPE_CALL, call_pattern

    source = textwrap.dedent('''\
        import tensorflow as tf

        @tf.custom_gradient(
        )
        def f(x):
            """tf.GradientTape() in a docstring is no call."""
            return x, lambda dy: dy

        def g(x):
            with (
                tf.GradientTape(persistent=True)
            ) as t:
                y = (x *
                     tf.GradientTape.__name__)
            try:
                pass
            except tf.GradientTape():
                pass
    ''')
    f = facts(source)
    assert TAPE_CALL.lines(source) == {6, 11, 17}
    assert sorted(c.lineno for c in f.calls_on_lines({6, 11, 17})) == [11, 17]
    assert f.called({"custom_gradient"}, call_pattern("custom_gradient"))
    assert not facts('"""GradientTape()"""\n').called({"GradientTape"}, TAPE_CALL)
    # a call through an import alias is not on the lines the pattern matches: the whole module is walked
    aliased = "from tensorflow import GradientTape as GT\nwith GT() as t:\n    pass\n"
    assert facts(aliased).called({"GradientTape"}, TAPE_CALL)


def test_every_compound_statement_is_walked_into():
    # Facts.statements descends into the statement types it knows; one it did not would hide stores.
    # (CPython's own statement types: a library imported by other tests may subclass ast.stmt)
    compound = [t for t in ast.stmt.__subclasses__() if getattr(ast, t.__name__, None) is t
                and set(t._fields) & {"body", "orelse", "finalbody", "handlers", "cases"}]
    assert compound and all(t in screen._BLOCKS for t in compound)
    source = textwrap.dedent("""\
        import tensorflow as tf
        try:
            with tf.device("/cpu:0"):
                for i in range(3):
                    while True:
                        if i:
                            match i:
                                case 1:
                                    w = tf.Variable(1.0)
                                    w = w - 1
        except ValueError:
            pass
        finally:
            pass
        """)
    facts = Facts(source)
    assert [s.lineno for s in facts.stores] == [9, 10]
    assert "w" in facts.names_made_variables


CLASS_CASES = {
    # `self.n += 1` in a callback class defined in a test; another class of the file makes `n` a weight
    "another class makes it a variable": ('''
import keras
class Test:
    def test_counter(self):
        class Recorder(keras.callbacks.Callback):
            def __init__(self):
                self.n = 0
            def on_train_batch_end(self, *args):
                self.n += 1
    def test_weight(self):
        class Counter(keras.layers.Layer):
            def build(self, shape):
                self.n = self.add_weight(shape=(), initializer="zeros")
''', set()),
    "a function nested in a method": ('''
import keras
class Norm(keras.layers.Layer):
    def build(self, shape):
        self.s = self.add_weight(shape=shape[-1:], initializer="ones")
    def call(self, x):
        def shrink():
            self.s -= 0.01
        shrink()
        return x * self.s
''', {"TL010"}),
    "a method defined under an if": ('''
import tensorflow as tf
class Model(tf.Module):
    def __init__(self):
        self.w = tf.Variable(1.0)
    if True:
        def step(self, g):
            self.w = self.w - 0.1 * g
''', {"TL007"}),
    "a class nested in a method": ('''
import tensorflow as tf
class Model(tf.Module):
    def __init__(self):
        self.w = tf.Variable(1.0)
    def helper(self):
        class Other:
            def step(self, g):
                self.w = self.w - 0.1 * g
        return Other
''', set()),
}


SCOPE_CASES = {
    "made a variable in another function": ('''
import tensorflow as tf
def make():
    w = tf.Variable(1.0)
    return w
def step(w, g):
    w = w - 0.1 * g
    return w
''', set()),
    "made a variable in the same function": ('''
import tensorflow as tf
def train(grads):
    w = tf.Variable(1.0)
    for g in grads:
        w = w - 0.1 * g
    w.assign(0.0)
''', {"TL007"}),
    "a global made at module level": ('''
import tensorflow as tf
w = tf.Variable(1.0)
def step(g):
    global w
    w = w - 0.1 * g
def grad():
    with tf.GradientTape() as tape:
        y = w * 2.0
    return tape.gradient(y, w)
''', {"TL007"}),
    "a weight assigned a parameter": ('''
import keras
class D(keras.layers.Dense):
    def set(self, kernel):
        self.kernel = kernel
def make():
    kernel = keras.ops.ones((2, 2))
    return kernel
''', set()),
    "a weight assigned a tensor of the same function": ('''
import keras
import tensorflow as tf
class D(keras.layers.Dense):
    def call(self, x):
        k = tf.multiply(self.kernel, 0.5)
        self.kernel = k
        return x
''', {"TL010"}),
    "a weight assigned a new variable of the same function": ('''
import tensorflow as tf
class Linear(tf.keras.layers.Layer):
    def build(self, shape):
        if shape[-1] > 1:
            weight = self.add_weight(shape=shape)
        else:
            weight = tf.Variable(tf.zeros(shape))
        self._weight_var = weight
def other():
    weight = tf.ones((2, 2))
    return weight
''', set()),
    "a weight assigned a tensor of the module": ('''
import keras
import tensorflow as tf
K = tf.ones((2, 2))
class D(keras.layers.Dense):
    def call(self, x):
        self.kernel = K
        return x
''', {"TL010"}),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", {**CLASS_CASES, **SCOPE_CASES}, ids=str)
def test_variable_screens_look_at_the_class_and_scope_of_a_store(case, mode):
    # Each case's expected findings are checked against a whole-file analysis first.
    from tapelint.rules.tl007_variable_rebound import VariableRebound
    from tapelint.rules.tl010_layer_weight_overwritten import LayerWeightOverwritten

    source, expected = {**CLASS_CASES, **SCOPE_CASES}[case]
    whole = {d.code for d in linter.analyse(source, "x.py", RULES, partial=False)[1]}
    assert whole == expected
    for rule in (VariableRebound, LayerWeightOverwritten):
        passed = rule.screen(facts_in(mode, source + UNRELATED))
        if rule.code in expected:
            assert passed, rule.code  # a screen passes wherever its rule reports ...
        elif not expected:
            assert not passed, rule.code  # ... and these are what looking at the class or scope rules out


# (with unrelated code after it, so that the lines read stay a small share of the text)
TAPE_STEP = "import tensorflow as tf\n\ndef fit(opt, model, x, w):\n    {body}\n" + "".join(
    f"\n\ndef unrelated_{i}(a, b):\n    return [a * {i} for _ in range(b)]\n" for i in range(30))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("body,expected", [
    # a step in the body of the tape's `with`, at any depth, read on the whole tree
    ("with tf.GradientTape() as tape:\n        loss = model(x)\n"
     "        opt.minimize(loss, [w], tape=tape)", True),
    ("with tf.GradientTape(persistent=True) as tape:\n        g = tape.gradient(model(x), [w])\n"
     "        if x:\n            opt.apply_gradients(zip(g, [w]))", True),
    ("with tf.GradientTape(True) as tape:\n        y = f(x,\n1)  # a continuation at column 0\n"
     "# a comment at column 0\n        opt.apply(tape.gradient(y, [w]), [w])", True),
    # ... but not recorded by the tape (another function), or a non-persistent tape's
    ("tape = tf.GradientTape(persistent=True)\n    with tape:\n        if x:\n            pass\n        else:\n"
     "            def inner():\n                opt.apply_gradients([(x, w)])", False),
    ("with tf.GradientTape() as tape: opt.apply(tape.gradient(model(x), [w]), [w])", False),
])
def test_tl018_needs_a_step_a_tape_records(mode, body, expected):
    source = TAPE_STEP.format(body=body)
    assert_screen("TL018", facts_in(mode, source), source, expected)


@pytest.mark.parametrize("body", [
    # steps outside every `with` that can enter a tape
    "with tf.GradientTape(persistent=True) as tape:\n        loss = model(x)\n    g = tape.gradient(loss, [w])\n"
    "    with tf.name_scope('step'):\n        opt.apply_gradients(zip(g, [w]))",
    "with tf.GradientTape() as tape:\n        loss = model(x)\n    opt.minimize(loss, [w], tape=tape)",
    "with tf.GradientTape(persistent=True) as tape:\n        step = 'opt.apply_gradients(x)'  # in a string\n"
    "        # opt.minimize(loss) in a comment\n        loss = model(x)",
])
def test_tl018_reads_the_withs_around_each_step_from_indentation(body):
    source = TAPE_STEP.format(body=body)
    f = facts_in("lines", source)
    assert_screen("TL018", f, source, False)
    assert not f.compiled  # decided from the logical lines, without compiling the whole text
