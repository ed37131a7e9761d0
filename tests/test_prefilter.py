"""The byte-level pre-filter (tapelint/prefilter.py) chooses exactly the rules whose trigger words the
decoded text holds (``triggered``), however the words nest in one another, whatever order the rules
come in and whichever words other rules have searched for already."""

from __future__ import annotations

import textwrap
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tapelint import registry
from tapelint.prefilter import Prefilter, triggered

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
RULES = [r for r in registry.all_rules().values() if r.origin == "tapelint"]
# Words that hold one another ("gradients" in "apply_gradients", "gradient" in both), and filler.
WORDS = ["gradient", "gradients", "apply_gradients", "GradientTape", "Tape", ".apply(", "apply", "kernel", "x"]


def _rule(triggers: tuple[str, ...], requires: tuple[str, ...], n: int) -> type:
    return type(f"R{n}", (), {"code": f"T{n:03d}", "triggers": triggers, "requires": requires})


def _codes(rules) -> list[str]:
    return [r.code for r in rules]


def test_the_built_in_rules_on_every_fixture_and_example():
    texts = [p.read_text(encoding="utf-8") for p in sorted(FIXTURES.rglob("*.py"))]
    texts += [textwrap.dedent(e.code) for r in RULES for e in (*r.all_invalid(), *r.all_valid())]
    prefilter = Prefilter(RULES)
    for text in texts:
        assert _codes(prefilter.active(text.encode("utf-8"))) == _codes(triggered(RULES, text)), text


def test_a_rule_whose_required_word_is_missing_is_not_active_whatever_its_triggers():
    tape_rules = [r for r in RULES if r.requires]  # TL014, TL018: a step word, and a tape
    assert tape_rules
    text = "opt.apply_gradients(zip(g, v))\nopt.minimize(loss, v)\nx.apply(y)\n"
    assert not set(_codes(tape_rules)) & set(_codes(Prefilter(RULES).active(text.encode())))
    assert set(_codes(tape_rules)) <= set(_codes(Prefilter(RULES).active(("import tensorflow as tf\n"
                                                                          "t = tf.GradientTape()\n" + text).encode())))


def test_files_in_other_ascii_compatible_encodings_choose_what_their_text_chooses():
    for encoding, prefix in (("latin-1", "# -*- coding: latin-1 -*-\n"), ("utf-8-sig", ""), ("cp1252", "# coding=cp1252\n")):
        text = prefix + "s = 'é'\nwith tf.GradientTape() as tape:\n    y = x * x\ng = tape.gradient(y, x)\n"
        data = text.encode(encoding)
        assert _codes(Prefilter(RULES).active(data)) == _codes(triggered(RULES, text)), encoding
        assert "TL003" in _codes(triggered(RULES, text))


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(WORDS + [" ", "\n", "."]), max_size=12),
    specs=st.lists(st.tuples(st.lists(st.sampled_from(WORDS), max_size=3, unique=True),
                             st.lists(st.sampled_from(WORDS), max_size=2, unique=True)), min_size=1, max_size=6),
)
def test_any_rules_and_text_choose_what_the_text_test_chooses(pieces, specs):
    text = "".join(pieces)
    rules = [_rule(tuple(t), tuple(r), n) for n, (t, r) in enumerate(specs)]
    expected = _codes(triggered(rules, text))
    assert _codes(Prefilter(rules).active(text.encode())) == expected
    # the order of the rules (so of the words searched before) changes nothing but the order
    assert _codes(Prefilter(rules[::-1]).active(text.encode())) == expected[::-1]


def test_the_rules_about_variables_trigger_on_every_spelling_of_a_variable_maker():
    # The semantic model takes these calls' results for variables; a file whose only maker is one of
    # them (`K.variable(...)` in tf.keras code) must reach the rules. `keras.backend.variable` was missed.
    from tapelint.semantic import names as N

    makers = {name.rsplit(".", 1)[-1] for name in N.VARIABLE_FACTORIES} | set(N.VARIABLE_METHODS)
    assert "variable" in makers
    spellings = [f"w = x.{m}(1.0)" for m in makers] + [f"from x import {m} as make" for m in makers]
    for code in ("TL007", "TL010"):
        rule = registry.all_rules()[code]
        assert [s for s in spellings if not Prefilter([rule]).active(s.encode())] == [], code
    # The word alone, as in prose, does not make a file worth reading for them.
    assert Prefilter([registry.all_rules()["TL007"]]).active(b"# the variable holds the state\n") == []


def test_runs_words_share_are_searched_once_and_settle_them():
    prefilter = Prefilter(RULES)
    assert {"radient", "ariable", "moving_"} <= set(prefilter._bytes) - prefilter.words
    # texts holding a shared run and not the words, the words and not the run's other holders, both
    for text in ["gradient descent\n", "radient", "moving_average = 1\n", "moving_mean\n", "a variable\n",
                 "v = K.variable(1.0)\n", "from keras.backend import variable as make\n", "ResourceVariable\n",
                 "with tf.GradientTape() as t:\n    pass\n", "@tf.custom_gradient\ndef f(x): ...\n", ""]:
        assert _codes(prefilter.active(text.encode())) == _codes(triggered(RULES, text)), text
