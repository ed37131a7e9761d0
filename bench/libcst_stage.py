"""What libcst's stage costs a cold run: tapelint as it is, tapelint with that stage taken out, and ruff,
alternated round by round.

    python bench/libcst_stage.py [--tree TREE] [--rounds 7]

Every cold run of tapelint reads each file's bytes (the pre-filter), the text of those holding a
trigger word (the screens: logical lines, and CPython's syntax tree where a screen asks for it),
and hands the few files some screen passes to libcst: CPython's syntax tree of the whole text (to
reduce it), the reduction, libcst's parse of what is kept, libcst's import in each worker, the
semantic model and the rules. The second command runs the same pipeline, with the same workers,
but stops each file that passes a screen once CPython has compiled its whole text: what is left is
the least a linter with the same pre-filter and screens pays if its model and rules ran on CPython's
syntax tree (a port to `ast`) and cost nothing more. Its difference from the first is the most
such a port could save; its ratio to ruff, whether the cold target (at most ruff's wall time) can be
met that way at all.

Each round runs, in TREE, ``tapelint check --no-cache --exit-zero -q .`` as it is, then with the
stage taken out, then ``ruff check --no-cache --exit-zero -q .``; the script prints one markdown
table of medians: wall time, CPU time (the process and its workers) and the ratio to ruff's wall
time. Nothing is cached by either tool.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_AS_IT_IS = "import sys; sys.path.insert(0, {root!r}); from tapelint.cli import main; sys.exit(main())"
# tapelint.linter._analyse up to the screens, then CPython's compile of the whole text of a file that
# passes one (what a model on `ast` would read), and no finding: libcst is never imported.
_WITHOUT_LIBCST = """
import sys
sys.path.insert(0, {root!r})
import tapelint.linter as linter
from tapelint.prefilter import triggered
from tapelint.screen import Facts

def compiled_only(source, filename, rules, verbose, partial, prefiltered=False):
    active = list(rules) if prefiltered else triggered(rules, source)
    if active:
        facts = Facts(source)
        if linter.screened(active, facts):
            facts.syntax_tree()
    return None, []

linter._analyse = compiled_only
from tapelint.cli import main
sys.exit(main())
"""


def _timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds (user and system, of the command and every process it waited for)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, default=Path("/tmp/tapelint-bench-trees"))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--ruff", default=shutil.which("ruff", path=str(Path(sys.executable).parent))
                        or shutil.which("ruff") or "ruff")
    args = parser.parse_args(argv)

    check = ["check", "--no-cache", "--exit-zero", "-q", "."]
    commands = [
        ("tapelint cold", [sys.executable, "-c", _AS_IT_IS.format(root=str(ROOT)), *check]),
        ("tapelint cold, libcst's stage taken out", [sys.executable, "-c", _WITHOUT_LIBCST.format(root=str(ROOT)), *check]),
        ("ruff check, defaults", [args.ruff, *check]),
    ]
    walls: dict[str, list[float]] = {label: [] for label, _ in commands}
    cpus: dict[str, list[float]] = {label: [] for label, _ in commands}
    for _ in range(args.rounds):
        for label, cmd in commands:
            wall, cpu = _timed(cmd, args.tree)
            walls[label].append(wall)
            cpus[label].append(cpu)
    ruff = statistics.median(walls[commands[-1][0]])
    print(f"{args.tree}: {args.rounds} rounds, load {os.getloadavg()[0]:.1f} at the end\n")
    print("| run | median wall (ms) | median CPU (ms) | wall, times ruff's |\n|---|---:|---:|---:|")
    for label, _ in commands:
        wall, cpu = statistics.median(walls[label]), statistics.median(cpus[label])
        print(f"| {label} | {wall * 1000:.0f} | {cpu * 1000:.0f} | {wall / ruff:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
