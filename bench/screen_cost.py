"""Where one process's time goes for the files that hold a trigger word: each rule's screen, then the
stages of the files some screen passes.

    python bench/screen_cost.py [TREE]     # default: /tmp/tapelint-bench-trees (made by lint_speed.py)

Prints three markdown tables. Screens: per rule, the files whose words reach it, those it compiled
first (the syntax tree was built for it), those it passed, and its time. Stages, over the files some
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
from tapelint.partial import reduce_source
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
    gc.disable()
    for path in sorted(tree.rglob("*.py")):
        active = prefilter.active(path.read_bytes())
        if not active:
            continue
        triggered += 1
        source = read_source(path)
        sources.append(source)
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
        words = sorted({w for r in kept for w in (*r.triggers, *getattr(r, "requires", ()))})
        t0 = time.perf_counter()
        reduction, _ = reduce_source(source, words, facts.syntax_tree())
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
