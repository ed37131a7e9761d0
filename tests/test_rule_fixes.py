"""The built-in rules' fixes where they must hold back: a fix is offered only when it is certain.
(What each fix produces when it applies is checked by the rules' own examples, `Invalid(fixed=...)`.)"""

from __future__ import annotations

import textwrap

import pytest

from tapelint.diagnostics import Applicability
from tapelint.fixer import fix_source
from tapelint.linter import lint_source
from tapelint.registry import builtin_rules

RULES = {r.code: r for r in builtin_rules()}


def fixed(code: str, rule: str, unsafe: bool = True) -> str:
    outcome = fix_source(textwrap.dedent(code), "<test>", [RULES[rule]], unsafe=unsafe)
    assert outcome.errors == []
    return outcome.source


def fixes(code: str, rule: str):
    return [(d.location.row, d.fix.applicability if d.fix else None)
            for d in lint_source(textwrap.dedent(code), "<test>", [RULES[rule]])]


# -- TL002: persistent=True always; `del tape` only after a certain last use --------------------------
@pytest.mark.parametrize("code", [
    # the last use is a return: nothing after it would run
    """
    import tensorflow as tf

    def f(g, x):
        with tf.GradientTape() as t:
            t.watch(x)
            y = g(x)
        j = t.jacobian(y, x)
        return j, t.batch_jacobian(y, x)
    """,
    # a closure may use the tape after the function returns
    """
    import tensorflow as tf

    def f(g, x):
        with tf.GradientTape() as t:
            t.watch(x)
            y = g(x)
        a = t.gradient(y, x)
        b = t.gradient(y, x)
        return lambda: t.gradient(y, x)
    """,
    # the tape is made only on some paths
    """
    import tensorflow as tf

    def f(g, x, train):
        if train:
            with tf.GradientTape() as t:
                t.watch(x)
                y = g(x)
        a = t.gradient(y, x)
        b = t.gradient(y, x)
        return a, b
    """,
    # the code already deletes it
    """
    import tensorflow as tf

    x = tf.Variable(1.0)
    with tf.GradientTape() as t:
        y = x * x
    a = t.gradient(y, x)
    b = t.gradient(y, x)
    del t
    """,
])
def test_tl002_adds_no_del_when_the_last_use_is_not_certain(code):
    out = fixed(code, "TL002", unsafe=False)
    assert "persistent=True" in out
    assert out.count("del t") == code.count("del t")


# -- TL003 (unsafe): only a statement of its own, that nothing after it depends on --------------------------
@pytest.mark.parametrize("code", [
    # the next statement uses the gradients
    """
    import tensorflow as tf

    def step(model, opt, x, y):
        with tf.GradientTape(persistent=True) as tape:
            loss = tf.reduce_mean(model(x) - y)
            grads = tape.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables))
    """,
    # a later statement changes what the call reads
    """
    import tensorflow as tf

    x = tf.Variable(1.0)
    with tf.GradientTape(persistent=True) as tape:
        y = x * x
        g = tape.gradient(y, x)
        y = y + 1.0
    """,
    # the call is nested in an `if` inside the block
    """
    import tensorflow as tf

    x = tf.Variable(1.0)
    with tf.GradientTape(persistent=True) as tape:
        y = x * x
        if True:
            g = tape.gradient(y, x)
    """,
])
def test_tl003_offers_no_fix_when_moving_is_not_certain(code):
    assert [a for _, a in fixes(code, "TL003")] == [None]
    assert fixed(code, "TL003") == textwrap.dedent(code)


def test_tl003_fix_is_unsafe_and_not_applied_by_default():
    code = """
    import tensorflow as tf

    x = tf.Variable(1.0)
    with tf.GradientTape(persistent=True) as tape:
        y = x * x
        g = tape.gradient(y, x)
    """
    assert fixes(code, "TL003") == [(7, Applicability.UNSAFE)]
    assert fixed(code, "TL003", unsafe=False) == textwrap.dedent(code)
    assert fixed(code, "TL003").endswith("    y = x * x\ng = tape.gradient(y, x)\n")


# -- TL001 (unsafe): only statements directly after the tape's block -----------------------------------------
@pytest.mark.parametrize("code", [
    # the loss is computed in another block than the tape's `with`
    """
    import tensorflow as tf

    def step(model, loss_fn, x, y, flag):
        with tf.GradientTape() as tape:
            logits = model(x)
        if flag:
            loss = loss_fn(y, logits)
            return tape.gradient(loss, model.trainable_variables)
    """,
    # a statement in between uses the tape
    """
    import tensorflow as tf

    def step(model, loss_fn, x, y):
        with tf.GradientTape() as tape:
            logits = model(x)
        print(tape.watched_variables())
        loss = loss_fn(y, logits)
        return tape.gradient(loss, model.trainable_variables)
    """,
    # the loss is computed in the gradient call's own statement
    """
    import tensorflow as tf

    w = tf.Variable([1.0, 2.0])
    with tf.GradientTape() as tape:
        y = w * 3.0
    grad = tape.gradient(tf.reduce_sum(y), w)
    """,
])
def test_tl001_offers_no_fix_when_moving_is_not_certain(code):
    assert [a for _, a in fixes(code, "TL001")] == [None]
    assert fixed(code, "TL001") == textwrap.dedent(code)


def test_tl001_fix_is_unsafe_and_keeps_comments():
    code = """
    import tensorflow as tf

    def step(model, loss_fn, x, y):
        with tf.GradientTape() as tape:  # record
            logits = model(x)
        loss = loss_fn(y, logits)  # the loss
        return tape.gradient(loss, model.trainable_variables)
    """
    assert fixes(code, "TL001") == [(8, Applicability.UNSAFE)]
    assert fixed(code, "TL001", unsafe=False) == textwrap.dedent(code)
    assert "    with tf.GradientTape() as tape:  # record\n        logits = model(x)\n        loss = loss_fn(y, logits)  # the loss\n" \
        in fixed(code, "TL001")


# -- the edits a fix shows (JSON, SARIF): rendered from the statements it touches -----------------------
def _sources_with_fixes():
    from pathlib import Path

    fixtures = Path(__file__).resolve().parent.parent / "fixtures" / "buggy"
    sources = [(p.name, p.read_text()) for p in sorted(fixtures.glob("*.py"))]
    sources += [(f"{r.code}-{i}", textwrap.dedent(ex.code)) for r in RULES.values()
                for i, ex in enumerate(r.all_invalid())]
    return sources


@pytest.mark.parametrize("trailing", ["as written", "no last line end"])
def test_edits_rendered_from_the_touched_statements_are_those_of_the_whole_module(trailing):
    from tapelint import fixer, linter

    seen = 0
    for name, source in _sources_with_fixes():
        if trailing != "as written":
            source = source.rstrip("\n")
        module, diagnostics = linter.analyse(source, "t.py", list(RULES.values()))
        for d in diagnostics:
            if d.cst_fix is None or d.fix is None:
                continue
            assert d.fix_scope is not None, (name, d.code)
            statements = fixer._Statements(module, source)
            assert statements.exact == source.endswith("\n"), name  # (else: the whole module's path)
            if statements.exact:
                whole = fixer.fix_edits(module, source, d.cst_fix)
                assert fixer.fix_edits(module, source, d.cst_fix, statements, d.fix_scope) == whole, (name, d.code)
                seen += 1
        # and with_edits, which takes the scoped path where it is exact, gives the whole module's edits
        expected = [fixer.fix_edits(module, source, d.cst_fix) for d in diagnostics if d.cst_fix and d.fix]
        assert [d.fix.edits for d in fixer.with_edits(diagnostics, source, module) if d.cst_fix and d.fix] == expected
    assert seen > 30 or trailing != "as written"


def test_a_fix_of_a_top_level_statement_itself_is_rendered_from_it():
    # TL002's fix at the top level: the statement itself changes (persistent=True); a module without a
    # last line end keeps to the whole module's path
    from tapelint import fixer, linter

    source = ("import tensorflow as tf\n\nx = tf.constant(1.0)\nwith tf.GradientTape() as t:\n    t.watch(x)\n"
              "    y = x * x\n    z = y * y\nprint(t.gradient(y, x))\nprint(t.gradient(z, x))\n")
    module, diagnostics = linter.analyse(source, "t.py", [RULES["TL002"]])
    [d] = [d for d in diagnostics if d.cst_fix is not None]
    statements, above = d.fix_scope  # (`persistent=True` in the `with`, `del t` after the last print)
    assert statements == (2, 4) and id(module.body[3]) not in above
    edits = fixer.with_edits([d], source, module)[0].fix.edits
    assert edits == fixer.fix_edits(module, source, d.cst_fix)
