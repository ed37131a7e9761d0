"""Where a cold run's time goes, stage by stage, in one process.

    python bench/lint_stages.py [TREE ...]     (default: the trees lint_speed.py builds)

Runs ``tapelint check --no-cache --jobs 1`` on the trees in this process, with a timer around each
stage of a file's way (the pre-filter, the screens, CPython's whole-text compiles, the reduction to
the parts the rules see, libcst's parse, the semantic model and the rules), and prints one table of
seconds, and the lines libcst parses. Stages nest (the screens' compiles are inside the screens; the parse and the model run in
`run_deep`'s thread), so the rows do not add up to the total. Compare runs of two checkouts
alternately (``PYTHONPATH=/tmp/before python bench/lint_stages.py``): the figures move with the
machine's load.
"""

from __future__ import annotations

import contextlib
import io
import sys
import time
from pathlib import Path

STAGES = [  # (module, attribute, label)
    ("tapelint.prefilter", "Prefilter.active", "pre-filter (raw bytes)"),
    ("tapelint.linter", "screened", "screens"),
    ("tapelint.screen", "compile_tree", "whole-text compiles (CPython)"),
    ("tapelint.partial", "reduce_source", "reduction to the parts rules see"),
    ("tapelint.linter", "parse", "libcst parse"),
    ("tapelint.linter", "_check", "semantic model and rules"),
    ("tapelint.engine", "_lint_task", "per file, in all"),
]


def _wrap(totals: dict[str, float], owner, name: str, label: str) -> None:
    inner = getattr(owner, name)

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            totals[label] = totals.get(label, 0.0) + time.perf_counter() - start

    setattr(owner, name, timed)


def main(argv: list[str]) -> int:
    started = time.perf_counter()
    import importlib

    totals: dict[str, float] = {}
    for module_name, attribute, label in STAGES:
        owner = importlib.import_module(module_name)
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part)
        _wrap(totals, owner, name, label)
    import tapelint.linter

    lines = 0
    parse = tapelint.linter.parse  # (timed by now)

    def counted(text, *args, **kwargs):
        nonlocal lines
        lines += text.count("\n") + 1
        return parse(text, *args, **kwargs)

    tapelint.linter.parse = counted
    from tapelint.cli import main as tapelint

    trees = argv or [str(p) for p in _default_trees()]
    with contextlib.redirect_stdout(io.StringIO()):  # the findings: not what is measured here
        tapelint(["check", "--no-cache", "--exit-zero", "--quiet", "--jobs", "1", *trees])
    total = time.perf_counter() - started
    print("| stage | seconds |\n|---|---:|")
    for _module, _attribute, label in STAGES:
        print(f"| {label} | {totals.get(label, 0.0):.2f} |")
    print(f"| the whole run, start-up included | {total:.2f} |")
    print(f"\nLines libcst parses (the texts handed to it, reduced or whole): {lines}")
    return 0


def _default_trees() -> list[Path]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from lint_speed import default_trees

    return default_trees()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
