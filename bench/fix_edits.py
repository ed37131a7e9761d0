"""What rendering fixes' text edits costs (JSON, SARIF and the cache hold them), for the fixes of given files.

    python bench/fix_edits.py FILE [FILE ...]

For each file: its findings with every built-in rule (the whole-file analysis, as a file with fixes
gets), then each fix's edits rendered two ways, best of three: by rebuilding and regenerating the whole
module with libcst (``fixer.fix_edits`` without a scope), and from the top-level statements the fix
touches (``Diagnostic.fix_scope``, what ``fixer.with_edits`` does). Prints one markdown table, and checks
that both give the same edits. Compare rows within one run.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tapelint import fixer, linter, registry
from tapelint.source import read_source


def _best(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    rules = list(registry.all_rules().values())
    print("| file | lines | fixes | whole module (s) | touched statements (s) |\n|---|---:|---:|---:|---:|")
    for name in argv:
        source = read_source(Path(name))
        module, diagnostics = linter.analyse(source, name, rules)
        fixed = [d for d in diagnostics if d.cst_fix is not None and d.fix is not None]
        if module is None or not fixed:
            print(f"| {name} | {source.count(chr(10))} | 0 | | |")
            continue

        def whole():
            return [fixer.fix_edits(module, source, d.cst_fix) for d in fixed]

        def scoped():
            statements = fixer._Statements(module, source)
            if not statements.exact:
                return whole()
            return [fixer.fix_edits(module, source, d.cst_fix, statements, d.fix_scope)
                    if d.fix_scope is not None else fixer.fix_edits(module, source, d.cst_fix) for d in fixed]

        if whole() != scoped():
            print(f"{name}: the two ways give different edits", file=sys.stderr)
            return 1
        print(f"| {name} | {source.count(chr(10))} | {len(fixed)} | {_best(whole):.3f} | {_best(scoped):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
