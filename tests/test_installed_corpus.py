"""A sample of the installed TensorFlow, Keras and NumPy sources (every file with a trigger word,
plus a spread of the rest): the linter finishes with no TL000 on a valid file and no TL999.
The whole corpus, with per-rule finding counts, is bench/lint_corpus.py."""

import importlib.util
import sys
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
