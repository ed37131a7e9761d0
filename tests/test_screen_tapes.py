"""The screens' tape index (tapelint/screen_tapes.py) against the semantic model's (tapelint/semantic/tapes.py).

For every tape the model finds in the fixtures and in every rule's examples, the index on CPython's
tree finds the same creation, name, flags and `with` statements, a use of each of its uses (among the
uses of that name it may be), and the same answer to "does the tape record this differentiation"
and "does it repeat on one tape in a loop". A screen built on the index is then a superset of its rule.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from tapelint import registry
from tapelint.lazy_libcst import cst
from tapelint.screen import Facts
from tapelint.screen_tapes import TapeSites, contains
from tapelint.semantic.model import SemanticModel
from tapelint.source import read_source

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
RULES = [r for r in registry.all_rules().values() if r.origin == "tapelint"]


def _sources() -> list[tuple[str, str]]:
    out = [(str(p.relative_to(FIXTURES)), read_source(p)) for p in sorted(FIXTURES.rglob("*.py"))]
    for rule in RULES:
        for i, example in enumerate([*rule.all_valid(), *rule.all_invalid()]):
            out.append((f"{rule.code}-{i}", textwrap.dedent(example.code)))
    return [(name, text) for name, text in out if "GradientTape" in text]


SOURCES = _sources()


def _mismatches(source: str) -> list[str]:
    model = SemanticModel(cst.parse_module(source))
    sites = Facts(source, ast.parse(source)).tapes
    out = []
    for tape in model.tapes:
        line = model.line_of(tape.create)
        found = [s for s in sites.tapes if s.call.lineno == line and s.name == tape.name]
        if not found:
            out.append(f"tape of line {line} not found")
            continue
        site = found[0]
        if (site.persistent, site.watch_accessed_variables) != (tape.persistent, tape.watch_accessed_variables):
            out.append(f"tape of line {line}: flags differ")
        if {model.line_of(w) for w in tape.withs} != {w.lineno for w in site.withs}:
            out.append(f"tape of line {line}: withs differ")
        for use in tape.uses:
            at = model.line_of(use.node)
            candidates = [u for u in sites.uses if u.node.lineno == at and u.method == use.method
                          and u.name == use.name.value and site in sites.tapes_of(u)]
            if not candidates:
                out.append(f"{use.method} of line {at} not found")
                continue
            if use.method in ("gradient", "jacobian", "batch_jacobian"):
                if model.tapes.records(tape, use.node) not in {sites.records(site, u.node) for u in candidates}:
                    out.append(f"{use.method} of line {at}: records differs")
                if bool(use.repeating_loops) not in {bool(sites.repeating_loops(site, u.node)) for u in candidates}:
                    out.append(f"{use.method} of line {at}: repeating loops differ")
    return out


def test_there_are_tapes_to_compare():
    assert len(SOURCES) > 100


@pytest.mark.parametrize("name, source", SOURCES, ids=[n for n, _ in SOURCES])
def test_the_index_finds_what_the_model_finds(name, source):
    assert _mismatches(source) == []


def _index(source: str) -> TapeSites:
    source = textwrap.dedent(source)
    return Facts(source, ast.parse(source)).tapes


def test_tapes_their_names_flags_and_withs():
    sites = _index("""
        import tensorflow as tf
        from tensorflow import GradientTape as GT

        with tf.GradientTape(persistent=True) as t1, GT(watch_accessed_variables=False) as t2:
            pass
        t3 = tf.GradientTape(persistent=flag)
        with t3:
            pass
        with tf.GradientTape():
            pass
        f(tf.GradientTape())
        """)
    assert [(t.name, t.persistent, t.watch_accessed_variables, [w.lineno for w in t.withs])
            for t in sites.tapes] == [("t1", True, True, [5]), ("t2", False, False, [5]),
                                      ("t3", None, True, [8]), (None, False, True, [10])]


def test_records_as_the_model_tells_it():
    source = textwrap.dedent("""
        import tensorflow as tf

        def step(x):
            with tf.GradientTape() as tape:
                y = x * x
                a = tape.gradient(y, x)
                with tape.stop_recording():
                    b = tape.gradient(y, x)
                def inner():
                    return tape.gradient(y, x)
            c = tape.gradient(y, x)
            return a, b, c
        """)
    sites = _index(source)
    tape, = sites.tapes
    answers = {u.node.lineno: sites.records(tape, u.node) for u in sites.differentiations()}
    assert answers == {7: True, 9: False, 11: None, 12: False}


def test_a_loop_repeats_a_use_only_where_it_does_not_hold_the_tape():
    sites = _index("""
        import tensorflow as tf

        for batch in data:
            with tf.GradientTape() as tape:
                loss = f(batch)
            g = tape.gradient(loss, w)
        t = tf.GradientTape()
        with t:
            y = f(x)
        for v in vs:
            t.gradient(y, v)
        """)
    first, second = sites.tapes
    assert [bool(sites.repeating_loops(first, u.node)) for u in sites.uses_of(first)] == [False]
    assert [bool(sites.repeating_loops(second, u.node)) for u in sites.uses_of(second)] == [True]


def test_a_name_is_the_tapes_of_its_own_function_first():
    sites = _index("""
        import tensorflow as tf

        def a(x):
            with tf.GradientTape(persistent=True) as tape:
                y = x * x
            return tape.gradient(y, x)

        def b(x):
            with tf.GradientTape() as tape:
                y = x * x
            return tape.gradient(y, x)

        def c(tape, y, x):
            return tape.gradient(y, x)

        def d(y, x):
            return tape.gradient(y, x)
        """)
    first, second = sites.tapes
    uses = sites.differentiations()
    # a parameter is no tape the model knows; a free name may be any tape of that name
    assert [sites.tapes_of(u) for u in uses] == [[first], [second], [], [first, second]]


def test_contains_compares_source_spans():
    tree = ast.parse("with a:\n    b(c)\nd\n")
    with_, d = tree.body
    call = with_.body[0].value
    assert contains(with_, call) and contains(call, call.args[0])
    assert not contains(with_, d) and not contains(call, with_)


def test_statements_on_a_line_are_found_in_every_kind_of_block():
    source = textwrap.dedent("""\
        import tensorflow as tf
        a = f(
            1); b = 2
        @deco(
            x)
        def g():
            try:
                pass
            except (E1,
                    E2):
                match y:
                    case [p,
                          q]:
                        z = lambda v: [w for w in v]
        """)
    tree = ast.parse(source)
    sites = TapeSites(tree, lambda call: False, source)
    on = {line: [type(s).__name__ for s in sites.statements_on(line)] for line in range(2, 15)}
    assert on[3] == ["Assign", "Assign"]  # `a = f(...)` ends there, `b = 2` starts there
    assert on[4] == ["FunctionDef"]  # its decorator's line
    assert on[10] == ["FunctionDef", "Try"]  # an except clause's type: an expression of the try
    assert on[13] == ["FunctionDef", "Try", "Match"]  # a case's pattern: an expression of the match
    assert on[14] == ["FunctionDef", "Try", "Match", "Assign"]
    lam = next(n for n in ast.walk(tree) if isinstance(n, ast.Lambda))
    comp = lam.body
    assert sites.function_of(comp) is lam and sites.function_of(lam) is next(
        n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef))
    with pytest.raises(KeyError):  # a node of another tree
        sites.context(ast.parse("x = 1").body[0].value)


def test_a_with_before_the_tape_of_its_name_leaves_the_index_uncertain():
    # In a loop, `with tape:` enters the tape made at the end of the previous pass: the model links
    # them through reaching bindings; the index does not try, and says so (screens then pass).
    sites = _index("""
        import tensorflow as tf

        def step(w, x):
            for i in range(3):
                if i:
                    with tape:
                        y = w * x
                    g = tape.gradient(tf.reduce_sum(y), w)
                tape = tf.GradientTape()
        """)
    assert sites.uncertain
    assert not _index("""
        import tensorflow as tf

        def step(w, x):
            tape = tf.GradientTape()
            with tape:
                y = w * x
            return tape.gradient(y, w)
        """).uncertain


def test_a_hole_belongs_to_the_tape_its_name_is_at_the_stop_recording():
    # The outer tape's `stop_recording` is no hole in the inner tape that reuses the name (the model's
    # TL008 reports the assignment the inner tape records).
    source = textwrap.dedent("""
        import tensorflow as tf

        w = tf.Variable(1.0)
        with tf.GradientTape() as tape:
            with tape.stop_recording():
                with tf.GradientTape() as tape:
                    w.assign(w * 2)
                    loss = w * 3
                g = tape.gradient(loss, w)
        """)
    assert _mismatches(source) == []
    sites = _index(source)
    outer, inner = sites.tapes
    assign = next(n for n in ast.walk(sites.tree) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "assign")
    assert (sites.records(outer, assign), sites.records(inner, assign)) == (False, True)


def test_a_tape_a_closure_enters_before_it_is_made_leaves_the_index_uncertain():
    source = """
        import tensorflow as tf

        def train(w):
            def step():
                with tape:
                    return w * 3
            tape = tf.GradientTape()
            loss = step()
            return tape.gradient(loss, w)
        """
    assert _index(source).uncertain
    certain = _index("""
        import tensorflow as tf

        tape = tf.GradientTape()

        def step(w):
            with tape:
                y = w * 3
            return tape.gradient(y, w)
        """)
    assert not certain.uncertain and [w.lineno for w in certain.tapes[0].withs] == [7]


@pytest.mark.parametrize("rebinding", ["t = other", "for t in ts: pass", "def f(t):\n    pass", "(t := other)"])
def test_another_binding_of_the_name_before_a_with_leaves_the_index_uncertain(rebinding):
    # `with t:` may then enter something else (the model follows reaching bindings; TL016 may report).
    if rebinding.startswith("def"):
        body = "def f(t):\n    t = tf.GradientTape()\n    g = t.gradient(y, x)\n    with t:\n        pass\n"
    else:
        body = f"t = tf.GradientTape()\ng = t.gradient(y, x)\n{rebinding}\nwith t:\n    pass\n"
    assert _index("import tensorflow as tf\n" + body).uncertain


def test_a_name_a_function_binds_to_something_else_is_no_tape_there():
    sites = _index("""
        import tensorflow as tf

        def a(x):
            with tf.GradientTape() as tape:
                y = x * x
            return tape.gradient(y, x)

        def b(x):
            tape = backprop.AbstractGradientTape()  # TensorFlow's own tests
            return tape.gradient(x, x)

        def c(x):
            global tape
            return tape.gradient(x, x)
        """)
    assert [len(sites.tapes_of(u)) for u in sites.differentiations()] == [1, 0, 1]


def test_the_tapes_a_use_may_see_are_those_whose_binding_may_reach_it():
    sites = _index("""
        import tensorflow as tf

        def f(x, flag):
            with tf.GradientTape() as tape:  # 5: replaced by line 7 before any use
                y = x * x
            with tf.GradientTape(persistent=True) as tape:  # 7
                y = x * x
            if flag:
                with tf.GradientTape() as tape:  # 10: only where flag holds
                    y = x * x
            g = tape.gradient(y, x)  # 7 or 10
            for _ in range(3):
                h = tape.gradient(y, x)  # 7 or 10, or 15 from the last pass
                with tf.GradientTape() as tape:  # 15
                    y = x * x
        """)
    first, second = sites.differentiations()
    assert [t.call.lineno for t in sites.tapes_reaching(first)] == [7, 10]
    assert [t.call.lineno for t in sites.tapes_reaching(second)] == [7, 10, 15]


def test_one_call_may_dominate_another_where_every_branch_around_it_holds_the_other():
    source = textwrap.dedent("""
        def f(a, b):
            x = g(a)
            if a:
                y = g(b)
                z = g(a)
            w = g(b) if b else g(a)
            return [g(v) for v in a]
        """)
    tree = ast.parse(source)
    sites = TapeSites(tree, lambda call: False, source)
    calls = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Call)), key=lambda c: (c.lineno, c.col_offset))
    x, y, z, w_then, w_else, comp = calls
    assert sites.may_dominate(x, z) and sites.may_dominate(y, z)
    assert not sites.may_dominate(y, w_then) and not sites.may_dominate(w_then, w_else)
    assert not sites.may_dominate(z, x)  # (it comes after)
    assert sites.conditional_blocks(comp) is None and sites.may_dominate(comp, comp) is False
    assert sites.scope_of(comp).__class__ is ast.ListComp and sites.scope_of(x).__class__ is ast.FunctionDef


def test_a_free_name_bound_otherwise_too_in_its_scope_leaves_the_index_uncertain():
    # The model sees both module bindings of `tape` from inside `step`, and takes it for no one tape.
    sites = _index("""
        import tensorflow as tf

        tape = tf.GradientTape()
        tape = make_context()

        def step(w):
            with tape:
                y = w * 3
            return tape.gradient(y, w)
        """)
    assert sites.uncertain
