"""What libcst's check of each node it builds costs in the parse of what tapelint hands to libcst.

    python bench/libcst_checks.py [TREE ...] [--rounds 3]   # default: /tmp/tapelint-bench-trees

For each tree: the texts libcst parses in a cold run (the files some screen passes, reduced as the
linter reduces them), parsed with ``libcst.parse_module`` (every node checked as it is built) and
with ``tapelint.linter.parse_unchecked`` (the parser's output taken as it is), alternately, in one
process with the cyclic collector off as in the linter. Prints one table of seconds per round.
"""

from __future__ import annotations

import argparse
import gc
import time
from pathlib import Path

import libcst

from tapelint.linter import parse_unchecked, screened
from tapelint.manifest import real
from tapelint.partial import reduce_for
from tapelint.prefilter import Prefilter
from tapelint.registry import builtin_rules
from tapelint.screen import Facts
from tapelint.source import SourceError, read_source


def kept_texts(tree: Path) -> list[str]:
    rules = [real(r) for r in builtin_rules() if r.default_enabled]
    prefilter = Prefilter(rules)
    texts = []
    for path in sorted(tree.rglob("*.py")):
        try:
            active = prefilter.active(path.read_bytes())
            source = read_source(path) if active else ""
        except (OSError, SourceError):
            continue
        facts = Facts(source)
        kept = screened(active, facts) if active else []
        if kept and facts.syntax_tree() is not None:
            reduction, _ = reduce_for(source, kept, facts.syntax_tree())
            texts.append(reduction.text if reduction else source)
    return texts


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("trees", nargs="*", type=Path, default=[Path("/tmp/tapelint-bench-trees")])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print("| tree | texts | lines | round | checked (s) | unchecked (s) |\n|---|---:|---:|---:|---:|---:|")
    gc.disable()
    for tree in args.trees:
        texts = kept_texts(tree)
        lines = sum(t.count("\n") + 1 for t in texts)
        for n in range(1, args.rounds + 1):
            seconds = []
            for parse in (libcst.parse_module, parse_unchecked):
                start = time.perf_counter()
                for text in texts:
                    try:
                        parse(text)
                    except Exception:  # (libcst's checks reject some valid code: LibCST #1061)
                        pass
                seconds.append(time.perf_counter() - start)
                gc.collect()
            print(f"| {tree} | {len(texts)} | {lines} | {n} | {seconds[0]:.2f} | {seconds[1]:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
