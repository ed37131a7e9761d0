"""Where one process's time goes for the files that hold a trigger word: each rule's screen, then the
stages of the files some screen passes.

    python bench/screen_cost.py [TREE]     # default: /tmp/tapelint-bench-trees (made by lint_speed.py)

Prints four markdown tables. Screens: per rule, the files whose words reach it, those it compiled
first (the syntax tree was built for it), those it passed, and its time, in order (a screen that runs
first pays for what later ones reuse); then each costly screen's own cost, what running all screens
without it saves. Stages, over the files some
screen passes: the partial reduction, libcst's parse of the kept text, the semantic model, the rules.
Reading every file that holds a trigger word: CPython's syntax check through its symbol table (what
reporting a syntax error in each would cost), its syntax tree, and the blanking pass of
`tapelint.logical_lines` that the screens read logical lines from.
One process, the cyclic collector off as in the linter; compare rows within one run.
"""

from __future__ import annotations

import collections
import gc
import symtable
import sys
import time
import warnings
from pathlib import Path

from tapelint.linter import parse, screened
from tapelint.logical_lines import LogicalLines
from tapelint.manifest import real
from tapelint.partial import reduce_for
from tapelint.prefilter import Prefilter
from tapelint.registry import builtin_rules
from tapelint.screen import Facts, compile_tree
from tapelint.semantic.model import SemanticModel
from tapelint.source import read_source

DEFAULT_TREE = Path("/tmp/tapelint-bench-trees")


def main() -> int:
    tree = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_TREE
    rules = [real(r) for r in builtin_rules() if r.default_enabled]
    prefilter = Prefilter(rules)
    reached, compiled, passed = collections.Counter(), collections.Counter(), collections.Counter()
    screen_time: collections.Counter = collections.Counter()
    stages: collections.Counter = collections.Counter()
    triggered = analysed = 0
    sources: list[str] = []
    actives: list[list] = []
    gc.disable()
    for path in sorted(tree.rglob("*.py")):
        active = prefilter.active(path.read_bytes())
        if not active:
            continue
        triggered += 1
        source = read_source(path)
        sources.append(source)
        actives.append(active)
        facts = Facts(source)
        for rule in active:
            was_compiled = facts.compiled
            start = time.perf_counter()
            ok = rule.screen(facts)
            screen_time[rule.code] += time.perf_counter() - start
            reached[rule.code] += 1
            passed[rule.code] += bool(ok)
            compiled[rule.code] += facts.compiled and not was_compiled
        kept = screened(active, facts)
        if not kept:
            continue
        analysed += 1
        t0 = time.perf_counter()
        reduction, _ = reduce_for(source, kept, facts.syntax_tree())  # as the linter reduces
        t1 = time.perf_counter()
        module = parse(reduction.text if reduction else source, str(path), compiled=True)
        t2 = time.perf_counter()
        model = SemanticModel(module, filename=str(path), rows=reduction.rows if reduction else ())
        t3 = time.perf_counter()
        for rule in kept:
            list(rule().check(model))
        t4 = time.perf_counter()
        stages.update({"partial reduction": t1 - t0, "libcst parse": t2 - t1, "semantic model": t3 - t2,
                       "rules": t4 - t3})
        gc.collect()
    print(f"### {tree}: {triggered} files hold a trigger word, {analysed} pass some screen\n")
    print("| rule | reached | compiled for it | passed | screen time (s) |\n|---|---:|---:|---:|---:|")
    for code in sorted(reached):
        print(f"| {code} | {reached[code]} | {compiled[code]} | {passed[code]} | {screen_time[code]:.2f} |")
    print(f"| all | | {sum(compiled.values())} | | {sum(screen_time.values()):.2f} |\n")
    print("| stage, files that pass a screen | time (s) |\n|---|---:|")
    for stage, seconds in stages.items():
        print(f"| {stage} | {seconds:.2f} |")
    # Screens share what they read of a file (its blanked text, logical lines, variable names): a rule's
    # own cost is what leaving its screen out saves, the others still run.
    def all_screens(without: str | None = None) -> float:  # the best of three runs
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            for source, active in zip(sources, actives):
                screened([r for r in active if r.code != without], Facts(source))
            best = min(best, time.perf_counter() - start)
        return best

    every = all_screens()
    print("\n| rule, screen time over 0.01 s | all screens without it (s) | its own cost (s) |\n|---|---:|---:|")
    print(f"| (none left out) | {every:.2f} | |")
    for code in sorted(c for c in reached if screen_time[c] > 0.01):
        without = all_screens(code)
        print(f"| {code} | {without:.2f} | {every - without:.2f} |")
    print(f"\n| every file that holds a trigger word ({len(sources)}) | time (s) |\n|---|---:|")
    for reading, read in (("syntax check (symbol table)", lambda text: symtable.symtable(text, "<x>", "exec")),
                          ("syntax tree (ast)", compile_tree),
                          ("blanking pass (logical lines)", lambda text: LogicalLines(text).code)):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for text in sources:
                try:
                    read(text)
                except SyntaxError:
                    pass
        print(f"| {reading} | {time.perf_counter() - start:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
