"""Cold runs of tapelint from two (or more) checkouts and of ruff, alternated round by round.

    python bench/alternate.py --checkout /tmp/head --checkout . [--tree TREE] [--rounds 9]

This machine's speed drifts by a quarter within the hour, so a figure measured now and one measured
an hour ago do not compare; runs interleaved round by round do. Each round runs
``tapelint check --no-cache --exit-zero -q .`` in TREE with each checkout first on ``sys.path`` (the
same interpreter and dependencies), then ``ruff check --no-cache --exit-zero -q .``, and the script
prints one markdown table: the median wall time of each, and its ratio to ruff's. Compile the
checkouts' bytecode first (``python -m compileall -q CHECKOUT/tapelint``), or the first round pays it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

_RUN = "import sys; sys.path.insert(0, {root!r}); from tapelint.cli import main; sys.exit(main())"


def _timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", action="append", required=True, type=Path,
                        help="a checkout of tapelint (repeat: each is run in every round)")
    parser.add_argument("--tree", type=Path, default=Path("/tmp/tapelint-bench-trees"))
    parser.add_argument("--rounds", type=int, default=9)
    # The ruff of this interpreter's environment first (as lint_speed.py finds it), then PATH's.
    parser.add_argument("--ruff", default=shutil.which("ruff", path=str(Path(sys.executable).parent))
                        or shutil.which("ruff") or "ruff")
    args = parser.parse_args(argv)

    commands = [(f"tapelint, {c}", [sys.executable, "-c", _RUN.format(root=str(c.resolve())),
                                    "check", "--no-cache", "--exit-zero", "-q", "."]) for c in args.checkout]
    commands.append(("ruff check, defaults", [args.ruff, "check", "--no-cache", "--exit-zero", "-q", "."]))
    times: dict[str, list[float]] = {label: [] for label, _ in commands}
    for _ in range(args.rounds):
        for label, cmd in commands:
            times[label].append(_timed(cmd, args.tree))
    ruff = statistics.median(times[commands[-1][0]])
    print(f"{args.tree}: {args.rounds} rounds, load {os.getloadavg()[0]:.1f} at the end\n")
    print("| run | median wall (ms) | times ruff's |\n|---|---:|---:|")
    for label, _ in commands:
        median = statistics.median(times[label])
        print(f"| {label} | {median * 1000:.0f} | {median / ruff:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
