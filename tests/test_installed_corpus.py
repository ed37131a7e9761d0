"""A sample of the installed TensorFlow, Keras and NumPy sources (every file with a trigger word,
plus a spread of the rest): the linter finishes with no TL000 on a valid file and no TL999.
The whole corpus, with per-rule finding counts, is bench/lint_corpus.py."""

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "lint_corpus.py"
spec = importlib.util.spec_from_file_location("lint_corpus", BENCH)
lint_corpus = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lint_corpus)


def test_installed_sources_sample_lints_without_internal_errors():
    files = lint_corpus.corpus(sample=150)
    assert len(files) == 150
    counts, bad = lint_corpus.lint_corpus(files)
    assert bad == []


def test_screens_answer_from_logical_lines_as_from_the_whole_tree_on_installed_sources():
    # An even spread of the installed files that hold some rule's trigger word: every screen gives
    # the same answer read from the logical lines around its words as from the whole syntax tree.
    from tapelint.linter import screened
    from tapelint.prefilter import triggered
    from tapelint.registry import builtin_rules
    from tapelint.screen import Facts, compile_tree
    from tapelint.source import read_source

    rules = list(builtin_rules())
    sources = [read_source(p) for p in lint_corpus.corpus()]
    sources = [s for s in sources if triggered(rules, s)]
    step = max(1, len(sources) // 400)
    checked = read_locally = 0
    for source in sources[::step]:
        tree = compile_tree(source)
        if tree is None:
            continue
        active = triggered(rules, source)
        local = Facts(source)
        assert screened(active, local) == screened(active, Facts(source, tree))
        checked += 1
        read_locally += not local.compiled
    assert checked >= 300
    assert read_locally > checked // 2  # most are decided without compiling the whole file
