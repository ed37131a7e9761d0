"""Property tests over generated programs (issue 6: never crashes, never loses code).

Two sources of programs:

- ``hypothesmith``'s generic Python programs (from CPython's grammar, and from libcst's node types),
  given a trailing comment of every rule's trigger words so the pre-filter lets them through to the
  parser and the rules. They almost never make a rule fire, but they reach odd syntax.
- :func:`tf_programs`, a strategy of TensorFlow-flavoured programs: TensorFlow imported under aliases,
  gradient tapes in every form the rules know (persistent or not, entered or not, differentiated
  inside and outside their `with` blocks, watched or not, nested), `tf.Variable`s rebound, optimizer
  steps, `tf.custom_gradient` functions with gradient functions of various arities, `.numpy()`, loops,
  nested functions and classes, written with tabs or spaces, LF or CRLF line endings, `;`, comments,
  blank lines and `# noqa` comments. These make the rules and their fixes fire (a test checks that
  they do, so the properties cannot hold vacuously).

The properties:

1. Linting never raises, never reports an internal error (TL999), and reports a syntax error (TL000)
   exactly where CPython's parser rejects the text.
2. ``--fix`` (safe, and with unsafe fixes) produces text that parses, drops no fix, keeps every
   comment, and is a fixed point: fixing it again changes nothing and reports the same findings.
3. Fixing never changes a file whose findings have no applicable fix.

Every test is derandomized (and uses no example database), so CI sees the same programs every run.
"""

from __future__ import annotations

import ast
import io
import os
import sys
import tokenize
import traceback
from collections import Counter
from dataclasses import dataclass, field

import hypothesmith
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tapelint import linter
from tapelint.diagnostics import INTERNAL_ERROR_CODE, PARSE_ERROR_CODE
from tapelint.fixer import applicable, fix_source, with_edits
from tapelint.prefilter import triggered
from tapelint.registry import builtin_rules

# hypothesmith compiles what it generates, and CPython warns about odd code such as `"a"()`
pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning")

# Known bugs outside what this file's author may change, tolerated here so the other properties keep
# running; each has a strict xfail test at the end of this file, which fails once the bug is fixed: then
# delete the test, its entry here and (for TL006) the recursion guard below.
KNOWN_INTERNAL_ERRORS = (
    "rule TL006 (leaves-tensorflow) crashed on this file: RecursionError",
)


def _recursion_guarded(rule):
    """``rule`` running with a recursion budget of a few thousand frames rather than the linter's
    30,000: TL006's known runaway recursion then fails in milliseconds rather than a second per lint."""

    class Guarded(rule):
        def check(self, model):
            depth, frame = 0, sys._getframe()
            while frame is not None:
                depth, frame = depth + 1, frame.f_back
            limit = sys.getrecursionlimit()
            sys.setrecursionlimit(min(limit, depth + 3000))
            try:
                return list(super().check(model))
            finally:
                sys.setrecursionlimit(limit)

    Guarded.__name__ = Guarded.__qualname__ = rule.__name__
    return Guarded


RULES = [_recursion_guarded(r) if r.code == "TL006" else r for r in builtin_rules()]
TRIGGER_WORDS = sorted({w for r in RULES for w in (*r.triggers, *r.requires)})


# TAPELINT_PROPERTY_SCALE=20 runs twenty times as many examples (the default keeps the suite fast).
SCALE = float(os.environ.get("TAPELINT_PROPERTY_SCALE", "1"))


def _settings(n: int):
    return settings(max_examples=max(1, int(n * SCALE)), deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


# -- a strategy of TensorFlow-flavoured programs -------------------------------------------------------
@dataclass
class Simple:
    """A simple statement (its text may span lines inside brackets)."""

    text: str


@dataclass
class Compound:
    """A compound statement: clauses such as ``if x:`` / ``else:``, each a header and a body.
    ``decorators`` are lines before the first header."""

    clauses: list[tuple[str, list]]
    decorators: list[str] = field(default_factory=list)


@dataclass
class Ctx:
    tf: str  # how `tensorflow` is spelled: `tf`, `tensorflow`, `T`...
    tape: str  # the GradientTape callable
    variable: str  # the Variable callable
    custom_gradient: str  # the decorator
    np: str
    functions: list[str] = field(default_factory=list)


VARIABLES = ["w", "b", "v"]
TENSORS = ["x", "y", "z", "loss", "h"]
TAPES = ["tape", "t", "g2"]
GRADS = ["dw", "grads", "gw", "d2"]
TAPE_ARGS = ["", "", "", "persistent=True", "persistent=False", "watch_accessed_variables=False", "True", "False",
             "persistent=True, watch_accessed_variables=False", "watch_accessed_variables=False,",
             "persistent=False,  # recorded once\n", "*args", "**options"]
NOQA = ["  # noqa", "  # noqa: TL002", "  # NOQA:TL007", "  # noqa: TL001, TL003", "  # noqa:TL005",
        "  # noqa: TL014", "  # noqa TL002", "# noqa:TL002,TL007"]
COMMENTS = ["  # a comment", "  # type: ignore", "#", "  # expect: nothing"]


def _imports(draw) -> tuple[list[Simple], Ctx]:
    form = draw(st.sampled_from(["tf", "tf", "tensorflow", "T", "from", "compat"]))
    np_alias = draw(st.sampled_from(["np", "numpy"]))
    lines = [Simple("import numpy as np" if np_alias == "np" else "import numpy")]
    if form == "tf":
        lines.append(Simple("import tensorflow as tf"))
        ctx = Ctx("tf", "tf.GradientTape", "tf.Variable", "tf.custom_gradient", np_alias)
    elif form == "tensorflow":
        lines.append(Simple("import tensorflow"))
        ctx = Ctx("tensorflow", "tensorflow.GradientTape", "tensorflow.Variable", "tensorflow.custom_gradient",
                  np_alias)
    elif form == "T":
        lines.append(Simple("import tensorflow as T"))
        ctx = Ctx("T", "T.GradientTape", "T.Variable", "T.custom_gradient", np_alias)
    elif form == "compat":
        lines.append(Simple("import tensorflow.compat.v2 as tf"))
        ctx = Ctx("tf", "tf.GradientTape", "tf.Variable", "tf.custom_gradient", np_alias)
    else:
        lines.append(Simple("import tensorflow as tf"))
        lines.append(Simple("from tensorflow import GradientTape as GT, Variable, custom_gradient"))
        ctx = Ctx("tf", "GT", "Variable", "custom_gradient", np_alias)
    draw(st.randoms(use_true_random=False)).shuffle(lines)
    return lines, ctx


def _expr(draw, ctx: Ctx, depth: int = 0) -> str:
    """A tensor-ish expression over the usual names."""
    tf = ctx.tf
    atoms = [*VARIABLES, *TENSORS, "2.0", "0.5", f"{tf}.constant(1.0)", f"{tf}.ones([3])", "self.w", "data"]
    if depth >= 2 or draw(st.integers(0, 2)) == 0:
        return draw(st.sampled_from(atoms))
    a = _expr(draw, ctx, depth + 1)
    b = _expr(draw, ctx, depth + 1)
    form = draw(st.integers(0, 14))
    return [
        f"{a} * {b}", f"{a} + {b}", f"({a} - {b}) ** 2", f"{tf}.sin({a})", f"{tf}.reduce_sum({a})",
        f"{tf}.matmul({a}, {b})", f"{a}.numpy()", f"float({a})", f"model({a}, training=True)",
        f"{tf}.cast({a} > 0.0, {tf}.int32)", f"{ctx.np}.mean({a})", f"{tf}.reduce_mean({tf}.square({a} - {b}))",
        f"-{a}", f"{tf}.stop_gradient({a})", f"loss_fn({a}, {b})",
    ][form]


def _sources(draw, ctx: Ctx) -> str:
    return draw(st.sampled_from([*VARIABLES, "x", "[w, b]", "[b, w]", "model.trainable_variables",
                                 "self.trainable_variables", "(w, v)", "data"]))


def _tape_scenario(draw, ctx: Ctx, depth: int, in_function: bool) -> list:
    """A tape made, entered (or not), recorded on and differentiated (once, twice, inside, outside)."""
    name = draw(st.sampled_from(TAPES))
    args = draw(st.sampled_from(TAPE_ARGS))
    made = f"{ctx.tape}({args})"
    form = draw(st.sampled_from(["with", "with", "with", "with", "bound", "not_entered", "two", "oneline",
                                 "parenthesized", "async", "hole", "rebound", "closure"]))
    out: list = []
    body: list = []
    if draw(st.booleans()):
        body.append(Simple(f"{name}.watch({draw(st.sampled_from(['x', 'w', 'data', 'h']))})"))
    targets = []
    for _ in range(draw(st.integers(1, 3))):
        target = draw(st.sampled_from(TENSORS))
        targets.append(target)
        body.append(Simple(f"{target} = {_expr(draw, ctx)}"))
    if draw(st.integers(0, 3)) == 0:
        body.append(Simple(f"{draw(st.sampled_from(VARIABLES))}.assign_add({_expr(draw, ctx)})"))
    if depth < 2 and draw(st.integers(0, 4)) == 0:
        body.extend(_tape_scenario(draw, ctx, depth + 1, in_function))
    if draw(st.integers(0, 3)) == 0:  # differentiated inside its own context (TL003)
        at = draw(st.integers(0, len(body)))
        body.insert(at, Simple(f"{draw(st.sampled_from(GRADS))} = {name}.gradient({draw(st.sampled_from(targets))}, "
                               f"{_sources(draw, ctx)})"))
    if draw(st.integers(0, 5)) == 0:
        body.append(Simple(f"opt.apply_gradients(zip({draw(st.sampled_from(GRADS))}, [w, b]))"))
    if form == "with":
        out.append(Compound([(f"with {made} as {name}:", body)]))
    elif form == "bound":
        out.append(Simple(f"{name} = {made}"))
        out.append(Compound([(f"with {name}:", body)]))
    elif form == "two":
        out.append(Compound([(f"with {made} as {name}, {ctx.tape}() as outer:", body)]))
    elif form == "parenthesized":
        out.append(Compound([(f"with ({made} as {name}):", body)]))
    elif form == "async":
        out.append(Compound([(f"async with {made} as {name}:", body)]))
    elif form == "hole":  # the rest of the block in `with t.stop_recording():` (a nested tape may reuse `t`)
        at = draw(st.integers(0, len(body)))
        hole = Compound([(f"with {name}.stop_recording():", body[at:] or [Simple("pass")])])
        out.append(Compound([(f"with {made} as {name}:", body[:at] + [hole])]))
    elif form == "rebound":  # the name bound to something else before `with t:` (a tape no more)
        out.append(Simple(f"{name} = {made}"))
        out.append(Simple(f"{name} = make_context()"))
        out.append(Compound([(f"with {name}:", body)]))
    elif form == "closure" and in_function:  # a nested function enters the tape made after it
        out.append(Compound([(f"def enter_{depth}():", [Compound([(f"with {name}:", body)])])]))
        out.append(Simple(f"{name} = {made}"))
        out.append(Simple(f"enter_{depth}()"))
    elif form == "oneline":
        out.append(Compound([(f"with {made} as {name}:", body[-1:])]))
        out[-1].oneline = True
    else:
        out.append(Simple(f"{name} = {made}"))
        out.extend(body)
    # after the block: more computation (TL001), differentiations (TL002, TL004, TL005...), updates (TL007)
    if draw(st.integers(0, 2)) == 0:
        for _ in range(draw(st.integers(1, 3))):
            target = draw(st.sampled_from(TENSORS))
            targets.append(target)
            out.append(Simple(f"{target} = {_expr(draw, ctx)}"))
    for _ in range(draw(st.integers(0, 3))):
        method = draw(st.sampled_from(["gradient", "gradient", "gradient", "jacobian", "batch_jacobian"]))
        grad = draw(st.sampled_from(GRADS))
        call = f"{name}.{method}({draw(st.sampled_from(targets))}, {_sources(draw, ctx)})"
        if draw(st.integers(0, 4)) == 0:
            call = f"{name}.{method}(\n    {draw(st.sampled_from(targets))},\n\t{_sources(draw, ctx)},\n)"
        if in_function and draw(st.integers(0, 5)) == 0:
            out.append(Simple(f"return {call}"))
            return out
        out.append(Simple(f"{grad} = {call}"))
        if draw(st.integers(0, 2)) == 0:
            out.append(_rebind(draw, ctx, grad))
    if draw(st.integers(0, 5)) == 0:
        out.append(Simple(f"del {name}"))
    if draw(st.integers(0, 3)) == 0:
        out.append(_optimizer_step(draw, ctx))
    return out


def _rebind(draw, ctx: Ctx, grad: str, v: str | None = None) -> Simple:
    v = v or draw(st.sampled_from(VARIABLES))
    return Simple(draw(st.sampled_from([
        f"{v} = {v} - 0.1 * {grad}", f"{v} -= lr * {grad}", f"{v} += {grad}", f"{v} = {v} + (-lr) * {grad}",
        f"{v} = ({v}) - {grad}", f"{v} = {v} * 2.0", f"{v}.assign_sub(0.1 * {grad})", f"{v} = {v} - {grad}; z = 1",
        f"{v} -= (lr * {grad})", f"{v}: float = {v} - {grad}", f"self.{v} = self.{v} - {grad}",
        f"{v} = {v} - {grad}  # the update",
    ])))


def _optimizer_step(draw, ctx: Ctx) -> Simple:
    grad = draw(st.sampled_from(GRADS))
    return Simple(draw(st.sampled_from([
        f"opt.apply_gradients(zip({grad}, [w, b]))", f"opt.apply_gradients(zip([w, b], {grad}))",
        f"opt.apply_gradients({grad})", f"opt.apply_gradients(zip({grad}, model.trainable_variables))",
        f"optimizer.apply_gradients(zip(model.trainable_variables, {grad}))", "opt.minimize(loss, [w, b])",
        f"opt.apply({grad}, [w, b])",
    ])))


def _custom_gradient(draw, ctx: Ctx) -> Compound:
    n_in = draw(st.integers(1, 3))
    params = ["x", "y", "z"][:n_in]
    if draw(st.booleans()):
        params.insert(0, "self")
    grad_params = draw(st.sampled_from(["dy", "dy", "dy, variables=None", "dy, variables", "*dys", "upstream"]))
    n_out = draw(st.integers(0, 4))
    returned = ", ".join(draw(st.sampled_from(["dy", "dy * x", "None", "upstream", "[dy]", "(dy, dy)"]))
                         for _ in range(n_out))
    grad_body = [Simple(f"return {returned}" if n_out else draw(st.sampled_from(["return", "pass", "return grad"])))]
    if draw(st.booleans()):
        grad_body.insert(0, Simple(f"s = dy * {_expr(draw, ctx)}"))
    grad_def = Compound([(f"def grad({grad_params}):", grad_body)])
    if draw(st.integers(0, 4)) == 0:
        grad_def = Simple(f"grad = lambda {grad_params}: ({returned or 'None'})")
    result = draw(st.sampled_from(["r, grad", "(r, grad)", "r", "grad, r", "r, grad(r)", "[r, grad]",
                                   "(r, r), grad"]))
    name = draw(st.sampled_from(["f", "clip", "straight_through", "call"]))
    ctx.functions.append(name)
    body = [Simple(f"r = {_expr(draw, ctx)}"), grad_def, Simple(f"return {result}")]
    decorators = [f"@{ctx.custom_gradient}"]
    if draw(st.integers(0, 3)) == 0:
        decorators.insert(0, f"@{ctx.tf}.function")
    if draw(st.integers(0, 4)) == 0:
        return Compound([(f"def _{name}({', '.join(params)}):", body)])  # wrapped below by the caller
    return Compound([(f"def {name}({', '.join(params)}):", body)], decorators)


def _scenario(draw, ctx: Ctx, depth: int, in_function: bool) -> list:
    """The shapes the fixes are for (TL007's update, TL005's unwatched tensor, TL014's pairing), with
    random tapes and statements around them: random statements alone seldom line them up."""
    tf = ctx.tf
    kind = draw(st.sampled_from(["update", "watch", "pair"]))
    v = draw(st.sampled_from(VARIABLES))
    grad = draw(st.sampled_from(GRADS))
    if kind == "update":  # TL007
        out = [Simple(f"{v} = {ctx.variable}({draw(st.sampled_from(['2.0', f'{tf}.zeros([3])']))})")]
        loop = [*_tape_scenario(draw, ctx, depth + 1, in_function), Simple(f"{grad} = tape.gradient(loss, {v})"),
                _rebind(draw, ctx, grad, v)]
        if draw(st.booleans()):
            return [*out, Compound([("for step in range(100):", loop)])]
        return [*out, *loop]
    if kind == "watch":  # TL005
        x = draw(st.sampled_from(["x", "h", "data"]))
        made = draw(st.sampled_from([f"{x}: {tf}.Tensor", f"{x}: tf.Tensor = None"]))
        body = [Simple(f"y = {draw(st.sampled_from(['model', 'f', 'tf.sin']))}({x})")]
        if draw(st.booleans()):
            body.append(Simple(f"loss = {_expr(draw, ctx)}"))
        tape = draw(st.sampled_from(TAPES))
        inner = [Compound([(f"with {ctx.tape}({draw(st.sampled_from(['', 'persistent=True']))}) as {tape}:", body)]),
                 Simple(f"return {tape}.gradient(y, {x})" if draw(st.booleans()) else f"{grad} = {tape}.gradient(y, {x})")]
        if draw(st.booleans()):
            inner.insert(0, Simple(f"{x} = {tf}.constant([1.0, 2.0])"))
            made = "model"
        ctx.functions.append("input_gradient")
        return [Compound([(f"def input_gradient(model, {made}):", inner)])]
    # TL014
    sources = draw(st.sampled_from(["[w, b]", "model.trainable_variables", "[v]"]))
    steps = [f"opt.apply_gradients(zip({sources}, {grad}))", f"opt.apply_gradients({grad})",
             f"optimizer.apply_gradients({grad})  # step"]
    return [*_tape_scenario(draw, ctx, depth + 1, in_function), Simple(f"{grad} = tape.gradient(loss, {sources})"),
            Simple(draw(st.sampled_from(steps)))]


def _statement(draw, ctx: Ctx, depth: int, in_function: bool) -> list:
    tf = ctx.tf
    kinds = ["tape", "tape", "tape", "tape", "variable", "tensor", "rebind", "optimizer", "misc", "scenario",
             "scenario"]
    if depth < 2:
        kinds += ["for", "if", "def", "def", "custom_gradient", "class", "while", "try", "match"]
    kind = draw(st.sampled_from(kinds))
    if kind == "scenario":
        return _scenario(draw, ctx, depth, in_function)
    if kind == "tape":
        return _tape_scenario(draw, ctx, depth, in_function)
    if kind == "variable":
        v = draw(st.sampled_from(VARIABLES))
        init = draw(st.sampled_from(["2.0", f"{tf}.zeros([3])", f"{tf}.random.normal([3, 3])", "0",
                                     f"{ctx.np}.ones(3)", "[1.0, 2.0]"]))
        extra = draw(st.sampled_from(["", "", ", trainable=False", ", name='v'", ", dtype=tf.float64"]))
        return [Simple(f"{v} = {ctx.variable}({init}{extra})")]
    if kind == "tensor":
        x = draw(st.sampled_from(TENSORS))
        return [Simple(f"{x} = " + draw(st.sampled_from([
            f"{tf}.constant([1.0, 2.0])", f"{tf}.ones([2, 3])", f"{ctx.np}.linspace(-1.0, 1.0, 5)",
            f"{tf}.range(10)", _expr(draw, ctx), f"{tf}.convert_to_tensor({ctx.np}.zeros(3))",
            f"{tf}.clip_by_value(w, -0.5, 0.5)", f"{x} * 2.0", f"{tf}.round(self.w / 0.1) * 0.1",
        ])))]
    if kind == "rebind":
        return [_rebind(draw, ctx, draw(st.sampled_from(GRADS)))]
    if kind == "optimizer":
        return [_optimizer_step(draw, ctx)]
    if kind == "misc":
        fn = draw(st.sampled_from(ctx.functions or ["f"]))
        return [Simple(draw(st.sampled_from([
            "pass", "print(loss)", f"dz = {tf}.gradients(y, x)", "z = y.numpy()", "del tape", "t.watch(x)",
            f"opt = {tf}.keras.optimizers.SGD(0.1)", "lr = 0.01", "x, y = data", "global w", "...",
            "assert loss is not None", f"w = {tf}.Variable(w)", "tape.reset()", "tape.stop_recording()",
            f"h = {fn}(x=h, y={tf}.constant(0.1))", f"z = self.{fn}(x, y=z)", f"y = {fn}(x, w)",
            "dense.kernel = tf.clip_by_norm(dense.kernel, 1.0)", "model.layers[0].bias = model.layers[0].bias * 0.0",
            "self.w = tf.where(tf.abs(self.w) < 1e-3, 0.0, self.w)", "self.w -= 0.01",
            "grads = grads + [dw]", "variables = variables + model.trainable_variables", "loss = loss + z",
            "x, *rest = data", 'print(f"{loss=} {w.numpy():.3f}")', "grads = [tape.gradient(l, w) for l in (y, z)]",
            "fn = lambda: tape.gradient(y, w)", "if (y := w * 2.0) is not None: pass",
            "dw = tape.gradient(target=loss, sources=w)", "tape = None", "t, tape = tape, t",
            "with tf.name_scope('x'): pass", "dense = tf.keras.layers.Dense(8)",
        ])))]
    if kind == "match":
        return [Compound([("match step:", [Compound([("case 0:", _block(draw, ctx, depth + 2, in_function))]),
                                            Compound([("case _:", [Simple("pass")])])])])]
    if kind == "for":
        body = _block(draw, ctx, depth + 1, in_function)
        clauses = [("for step in range(3):", body)]
        if draw(st.integers(0, 4)) == 0:
            clauses.append(("else:", [Simple("pass")]))
        return [Compound(clauses)]
    if kind == "while":
        return [Compound([("while step < 10:", [*_block(draw, ctx, depth + 1, in_function), Simple("step += 1")])])]
    if kind == "if":
        clauses = [("if train:", _block(draw, ctx, depth + 1, in_function))]
        if draw(st.booleans()):
            clauses.append(("elif step % 2:", _block(draw, ctx, depth + 1, in_function)))
        if draw(st.booleans()):
            clauses.append(("else:", _block(draw, ctx, depth + 1, in_function)))
        return [Compound(clauses)]
    if kind == "try":
        return [Compound([("try:", _block(draw, ctx, depth + 1, in_function)),
                          ("except ValueError as exc:", [Simple("raise")]),
                          ("finally:", [Simple("pass")])])]
    if kind == "def":
        name = draw(st.sampled_from(["train_step", "step", "jac", "inner", "sgd"]))
        ctx.functions.append(name)
        params = draw(st.sampled_from(["x, y", "model, x", "x: tf.Tensor", "data", "", "w, lr=0.1", "*args, **kw"]))
        body = _block(draw, ctx, depth + 1, True)
        if draw(st.booleans()):
            body.append(Simple(f"return {draw(st.sampled_from([*TENSORS, *GRADS, 'None', 'loss, grads']))}"))
        decorators = draw(st.sampled_from([[], [], [f"@{tf}.function"], ["@staticmethod"]]))
        head = "async def" if draw(st.integers(0, 9)) == 0 else "def"
        return [Compound([(f"{head} {name}({params}):", body)], decorators)]
    if kind == "custom_gradient":
        node = _custom_gradient(draw, ctx)
        if not node.decorators:  # the call form: tf.custom_gradient(_f)
            name = node.clauses[0][0].split("(")[0][len("def _"):]
            return [node, Simple(f"{name} = {ctx.custom_gradient}(_{name})")]
        return [node]
    # a class with a train_step
    body = _block(draw, ctx, depth + 2, True)
    body.append(Simple(draw(st.sampled_from(["return {'loss': loss}", "return loss", "pass"]))))
    method = Compound([("def train_step(self, data):", body)])
    members: list = [method]
    if draw(st.booleans()):
        members.insert(0, Compound([("def __init__(self):", [Simple("super().__init__()"),
                                                               Simple(f"self.w = {ctx.variable}(1.0)")])]))
    return [Compound([(f"class Model({tf}.keras.Model):", members)])]


def _block(draw, ctx: Ctx, depth: int, in_function: bool) -> list:
    out: list = []
    for _ in range(draw(st.integers(1, 3 if depth else 6))):
        out.extend(_statement(draw, ctx, depth, in_function))
    return out


@st.composite
def tf_programs(draw) -> str:
    """A TensorFlow-flavoured program, as text."""
    imports, ctx = _imports(draw)
    statements = [*imports, *_block(draw, ctx, 0, False)]
    if draw(st.integers(0, 3)) == 0:
        statements.append(Compound([('if __name__ == "__main__":', _block(draw, ctx, 1, False))]))
    style = _Style(
        indent=draw(st.sampled_from(["    ", "    ", "  ", "\t", "        "])),
        newline=draw(st.sampled_from(["\n", "\n", "\r\n", "mixed"])),
        draw=draw,
    )
    lines: list[str] = []
    if draw(st.integers(0, 5)) == 0:
        lines.append(draw(st.sampled_from(['"""A module docstring."""', "# -*- coding: utf-8 -*-",
                                           "#!/usr/bin/env python", "from __future__ import annotations"])))
    style.render(statements, "", lines)
    text = ""
    for line in lines:
        for part in line.split("\n"):
            text += part + style.eol()
    if draw(st.integers(0, 5)) == 0:
        text = text.rstrip("\r\n")  # no newline at the end of the file
    return text


@dataclass
class _Style:
    indent: str
    newline: str
    draw: object

    def eol(self) -> str:
        if self.newline == "mixed":
            return self.draw(st.sampled_from(["\n", "\r\n"]))
        return self.newline

    def decoration(self) -> str:
        choice = self.draw(st.integers(0, 24))
        if choice < 2:
            return self.draw(st.sampled_from(NOQA))
        if choice == 2:
            return self.draw(st.sampled_from(COMMENTS))
        if choice == 3:
            return "  "  # trailing whitespace
        return ""

    def render(self, statements: list, indent: str, lines: list[str]) -> None:
        draw = self.draw
        i = 0
        while i < len(statements):
            s = statements[i]
            choice = draw(st.integers(0, 19))
            if choice == 0:
                lines.append("")
            elif choice == 1:
                lines.append(indent + draw(st.sampled_from(["# a comment line", "#", "# noqa", "    # odd indent"])))
            if isinstance(s, Simple):
                text = s.text
                # join with following simple statements by `;`
                while i + 1 < len(statements) and isinstance(statements[i + 1], Simple) and \
                        "\n" not in text and "\n" not in statements[i + 1].text and draw(st.integers(0, 9)) == 0:
                    i += 1
                    text += draw(st.sampled_from(["; ", ";"])) + statements[i].text
                parts = text.split("\n")
                lines.append(indent + parts[0])
                lines.extend(indent + p if p else p for p in parts[1:])
                lines[-1] += self.decoration()
            else:
                for decorator in s.decorators:
                    lines.append(indent + decorator + self.decoration())
                for header, body in s.clauses:
                    oneline = getattr(s, "oneline", False) or (
                        len(body) == 1 and isinstance(body[0], Simple) and "\n" not in body[0].text
                        and not header.startswith(("def", "class", "async")) and draw(st.integers(0, 9)) == 0)
                    if oneline and len(body) == 1 and isinstance(body[0], Simple) and "\n" not in body[0].text:
                        lines.append(indent + header + " " + body[0].text + self.decoration())
                        continue
                    lines.append(indent + header + self.decoration())
                    inner = indent + (self.indent if draw(st.integers(0, 14)) else draw(st.sampled_from(["   ", "\t"])))
                    self.render(body or [Simple("pass")], inner, lines)
            i += 1


# -- oracles ------------------------------------------------------------------------------------------------
def cpython_parses(source: str) -> bool:
    """What the linter's TL000 must agree with: CPython's parser (not its compiler: `return` outside a
    function parses)."""
    try:
        compile(source, "<property>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def cpython_compiles(source: str) -> bool:
    try:
        compile(source, "<property>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def comments(source: str) -> Counter:
    return Counter(tok.string for tok in tokenize.generate_tokens(io.StringIO(source).readline)
                   if tok.type == tokenize.COMMENT)


def summary(diagnostics) -> list[tuple]:
    return [(d.code, d.location.row, d.location.column, d.end_location.row, d.end_location.column, d.message,
             d.fix.applicability if d.fix else None) for d in diagnostics]


def apply_edits(source: str, edits) -> str:
    """Apply text edits (1-based rows and columns, rows split at "\\n" as the fixer counts them) the way an
    editor applying the JSON output's edits would: from the last to the first."""
    starts = [0]
    for i, char in enumerate(source):
        if char == "\n":
            starts.append(i + 1)

    def offset(loc):
        return starts[loc.row - 1] + loc.column - 1

    out = source
    for edit in sorted(edits, key=lambda e: (e.location, e.end_location), reverse=True):
        out = out[:offset(edit.location)] + edit.content + out[offset(edit.end_location):]
    return out


# -- property 1: linting never raises ---------------------------------------------------------------------
def check_lints_cleanly(source: str, *, partial: bool | None = None, known: tuple[str, ...] | None = None) -> list:
    """Lint ``source`` with every built-in rule; no exception, no TL999 (but the ``known`` ones, by
    default :data:`KNOWN_INTERNAL_ERRORS`), TL000 exactly where CPython's parser fails. Returns the
    diagnostics (with their fixes' text edits filled in)."""
    module, diagnostics = linter.analyse(source, "generated.py", RULES, partial=partial)
    known = KNOWN_INTERNAL_ERRORS if known is None else known
    diagnostics = [d for d in diagnostics if not (d.code == INTERNAL_ERROR_CODE and d.message.startswith(known))]
    codes = [d.code for d in diagnostics]
    assert INTERNAL_ERROR_CODE not in codes, [d.message for d in diagnostics if d.code == INTERNAL_ERROR_CODE]
    if triggered(RULES, source):
        assert (PARSE_ERROR_CODE in codes) == (not cpython_parses(source)), [d.message for d in diagnostics]
    else:
        assert diagnostics == []
    if PARSE_ERROR_CODE in codes:
        assert codes == [PARSE_ERROR_CODE]
        return diagnostics
    offered = [d for d in diagnostics if d.fix is not None]
    with_edits(diagnostics, source, module)
    # every fix can be rendered, and its edits (what JSON and SARIF output show) make the same change
    assert all(d.fix is not None for d in offered), "a fix could not be rendered"
    from tapelint.fixer import apply_cst_fixes

    for d in offered:
        assert apply_edits(source, d.fix.edits) == apply_cst_fixes(module, [d.cst_fix]), d.code
    return diagnostics


# -- property 2 and 3: fixing ----------------------------------------------------------------------------
def check_fixes(source: str, diagnostics: list, *, unsafe: bool) -> list:
    """Fix ``source``; returns the codes of the fixes applied."""
    outcome = fix_source(source, "generated.py", RULES, unsafe=unsafe)
    assert outcome.errors == [], outcome.errors  # a fix that would not parse is a bug of the rule's fix
    if not any(applicable(d.cst_fix, unsafe) for d in diagnostics):
        assert outcome.source == source  # property 3: nothing to fix, nothing changed
        assert outcome.applied == []
        return []
    if outcome.source == source:
        return []
    # the output parses wherever the input did (property 2) ...
    assert cpython_parses(outcome.source), outcome.source
    if cpython_compiles(source):
        assert cpython_compiles(outcome.source), outcome.source
        # ... loses no comment, `# noqa` included ...
        assert comments(outcome.source) == comments(source)
    # ... and is a fixed point: fixing it again changes nothing, and the same findings remain
    again = fix_source(outcome.source, "generated.py", RULES, unsafe=unsafe)
    assert again.source == outcome.source, "a second --fix changed the code again"
    assert again.applied == [] and again.errors == []
    assert summary(again.remaining) == summary(outcome.remaining)
    # whatever the line endings, a fix keeps them: no LF-only lines in a CRLF file
    if "\r\n" in source and "\n" not in source.replace("\r\n", ""):
        assert "\n" not in outcome.source.replace("\r\n", ""), "a fix introduced LF line endings in a CRLF file"
    return [d.code for d in outcome.applied]


# -- the tests ---------------------------------------------------------------------------------------------
# Every rule's trigger words, in a comment at the end, so generic programs get past the pre-filter.
TRIGGERS_COMMENT = "\n# " + " ".join(TRIGGER_WORDS) + "\n"


def check_generic(source: str) -> None:
    source += TRIGGERS_COMMENT
    for partial in (True, False):  # the screen and the partial analysis, then every rule on the whole file
        diagnostics = check_lints_cleanly(source, partial=partial)
    if cpython_parses(source):
        check_fixes(source, diagnostics, unsafe=True)


@_settings(60)
@given(hypothesmith.from_grammar())
def test_grammar_programs_lint_cleanly(source):
    check_generic(source)


@_settings(30)
@given(hypothesmith.from_node())
def test_libcst_node_programs_lint_cleanly(source):
    check_generic(source)


def _tokenizer_check():
    """bench/logical_lines_check.py, loaded once: its comparison with CPython's tokenizer."""
    import importlib.util
    from pathlib import Path

    module = sys.modules.get("logical_lines_check")
    if module is None:
        spec = importlib.util.spec_from_file_location(
            "logical_lines_check", Path(__file__).resolve().parent.parent / "bench" / "logical_lines_check.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules["logical_lines_check"] = module
    return module


def check_logical_lines(source: str) -> None:
    """The strings, comments and logical lines tapelint.logical_lines finds are CPython's tokenizer's,
    and every screen answers from logical lines as from the whole tree."""
    import bisect
    import re

    from tapelint.logical_lines import _STRING_OR_COMMENT, LogicalLines
    from tapelint.screen import Facts, compile_tree

    try:
        strings, logical = _tokenizer_check().tokens(source)
    except (tokenize.TokenError, SyntaxError):
        return
    lines = LogicalLines(source)
    if lines.code is None:
        assert "\r" in source.replace("\r\n", ""), source  # lone CRs: what a valid program may be left unread for
        return
    assert [m.span() for m in _STRING_OR_COMMENT.finditer(source)] == strings
    firsts = [first for first, _ in logical]
    for word in sorted(set(re.findall(r"[^\W\d]\w*", lines.code)))[:40]:
        for at in lines.occurrences(word):
            assert lines.span(at) == logical[bisect.bisect_right(firsts, at) - 1], (word, at)
    tree = compile_tree(source)
    if tree is not None:
        for rule in RULES:
            assert rule.screen(Facts(source)) == rule.screen(Facts(source, tree)), rule.code


@_settings(60)
@given(hypothesmith.from_grammar())
def test_logical_lines_are_the_tokenizers_on_generated_programs(source):
    check_logical_lines(source)


def test_logical_lines_are_the_tokenizers_on_tf_programs():
    @settings(_settings(max(1, int(40 * SCALE))), phases=[Phase.explicit, Phase.generate])
    @given(tf_programs())
    def check(source):
        check_logical_lines(source)

    check()


FIXING_RULES = {"TL001", "TL002", "TL003", "TL005", "TL007", "TL014"}

def check_tf_program(source: str, seen: Counter | None = None) -> None:
    """Properties 1-3 for one program: linted in part and whole (the same findings), fixed safely and
    unsafely."""
    diagnostics = check_lints_cleanly(source)
    whole = check_lints_cleanly(source, partial=False)
    assert summary(whole) == summary(diagnostics), "the partial analysis found something else"
    safe = check_fixes(source, diagnostics, unsafe=False)
    unsafe = check_fixes(source, diagnostics, unsafe=True)
    if seen is not None:
        seen["programs"] += 1
        seen.update(d.code for d in diagnostics)
        seen["fixed programs"] += bool(unsafe)
        seen.update(f"fixed {code}" for code in safe + unsafe)


def minimal_failure(source: str, check) -> tuple[str, BaseException]:
    """``source`` with as many lines deleted as can be while ``check`` still fails at the same place:
    much faster than Hypothesis's shrinking of a whole program, which each try costs a lint and fixes."""
    def failure(text: str):
        try:
            check(text)
        except Exception as exc:  # noqa: BLE001 - any failure, compared by where it happened
            frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == __file__]
            return type(exc), frames[-1].lineno if frames else None, exc
        return None

    first = failure(source)
    assert first is not None
    lines = source.splitlines(keepends=True)
    size = max(1, len(lines) // 2)
    while size >= 1:
        i, shrunk = 0, False
        while i < len(lines):
            candidate = lines[:i] + lines[i + size:]
            got = failure("".join(candidate))
            if got is not None and got[:2] == first[:2]:
                lines, shrunk = candidate, True
            else:
                i += size
        if not shrunk:
            size //= 2
    return "".join(lines), failure("".join(lines))[2]


def test_tf_programs_lint_and_fix_cleanly():
    """Properties 1-3 over TensorFlow-flavoured programs; then, over the same (derandomized) sample,
    that the programs did make the rules and their fixes fire, so the properties held of something."""
    examples = 40  # _settings scales it (TAPELINT_PROPERTY_SCALE); the sample is derived from `check`'s text
    seen = Counter()

    @settings(_settings(examples), phases=[Phase.explicit, Phase.generate])  # see minimal_failure
    @given(tf_programs())
    def check(source):
        try:
            check_tf_program(source, seen)
        except Exception as exc:
            small, error = minimal_failure(source, check_tf_program)
            raise AssertionError(f"{error}\n\nA smallest failing program, in lines:\n{small!r}") from exc

    check()
    drawn = max(1, int(examples * SCALE))
    assert seen["programs"] == drawn
    assert seen["fixed programs"] >= drawn // 3, seen
    assert {code for code in FIXING_RULES if seen[f"fixed {code}"]} == FIXING_RULES, seen
    assert sum(seen[r.code] > 0 for r in RULES) >= 12, seen


ENCODINGS = {
    # name: (how the file starts, a line of non-ASCII text, the bytes' encoding)
    "utf-8": (b"", "# na\u00efve \u2603", "utf-8"),
    "bom": (b"\xef\xbb\xbf", "# caf\u00e9", "utf-8"),
    "latin-1": (b"# -*- coding: latin-1 -*-\n", "# caf\u00e9", "latin-1"),
}


@_settings(10)
@given(tf_programs(), st.sampled_from(sorted(ENCODINGS)))
def test_fixing_a_file_keeps_its_bytes_but_for_the_fixes(program, encoding):
    """``--fix`` through the file level: the file ends up holding exactly the text fixing produces, in
    the file's encoding, BOM and line endings; a file without fixes keeps its bytes; a second ``--fix``
    writes nothing."""
    from pathlib import Path
    import tempfile

    from tapelint.runner import fix_one
    from tapelint.source import decode

    head, extra, codec = ENCODINGS[encoding]
    newline = "\r\n" if "\r\n" in program else "\n"
    text = (head.decode("ascii").lstrip("\ufeff") if encoding != "bom" else "") + program.rstrip("\r\n") + \
        newline + extra + newline
    data = (head if encoding == "bom" else b"") + text.encode(codec)
    expected = fix_source(decode(data), "generated.py", RULES, unsafe=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "generated.py"
        path.write_bytes(data)
        result = fix_one(path, "generated.py", RULES, unsafe=True)
        assert result.errors == []
        assert not [d for d in result.diagnostics if d.code == INTERNAL_ERROR_CODE
                    and not d.message.startswith(KNOWN_INTERNAL_ERRORS)]
        written = path.read_bytes()
        if expected.source == text:
            assert written == data
        else:
            assert written == (head if encoding == "bom" else b"") + expected.source.encode(codec)
            assert result.fixed == len(expected.applied)
        again = fix_one(path, "generated.py", RULES, unsafe=True)
        assert again.fixed == 0 and again.errors == [] and path.read_bytes() == written


def test_fixes_apply_in_a_file_that_parses_but_does_not_compile():
    """Found by the properties: the fixer checked a fix's result with CPython's compiler, so in a file
    the compiler already rejects (a name used before its `global` statement, `return` outside a function)
    every fix was dropped as "would produce invalid code". Now such a file gets its fixes, checked for
    syntax only."""
    source = ("import tensorflow as tf\n\nx = tf.Variable(1.0)\nwith tf.GradientTape() as tape:\n"
              "    y = x * x\na = tape.gradient(y, x)\nb = tape.gradient(y, x)\nglobal x\n")
    assert cpython_parses(source) and not cpython_compiles(source)
    diagnostics = check_lints_cleanly(source)
    assert [d.code for d in diagnostics] == ["TL002"]
    assert check_fixes(source, diagnostics, unsafe=False) == ["TL002"]
    assert "persistent=True" in fix_source(source, "generated.py", RULES).source


def test_fixing_prints_no_syntax_warning_about_the_users_code():
    """The fixer checks its result with CPython's compiler, which warns about code such as `"a"()`; those
    warnings went to stderr on every `--fix` of such a file."""
    import warnings

    source = ("import tensorflow as tf\n\nx = tf.Variable(1.0)\nwith tf.GradientTape() as tape:\n"
              "    y = x * x\na = tape.gradient(y, x)\nb = tape.gradient(y, x)\nc = 'a'()\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outcome = fix_source(source, "generated.py", RULES)
    assert [d.code for d in outcome.applied] == ["TL002"]
    assert [w for w in caught if issubclass(w.category, SyntaxWarning)] == []


def test_tl006_self_referencing_update_in_a_loop_does_not_crash():
    check_lints_cleanly("import tensorflow as tf\n\nfor step in range(3):\n    w = w - dw\n"
                        "    g = t.gradient(y, w)\n    with tf.GradientTape() as t:\n        pass\n",
                        known=())
