"""Lint every .py file of the installed TensorFlow, Keras and NumPy packages.

Prints how many files were linted, TL000 on files CPython compiles (should be 0), TL999 (should be 0),
and how many findings each rule made: each one is a candidate false alarm to read.

    python bench/lint_corpus.py            # all files (thousands; minutes)
    python bench/lint_corpus.py --sample 200
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tapelint.linter import lint_file  # noqa: E402
from tapelint.registry import all_rules  # noqa: E402

PACKAGES = ("tensorflow", "keras", "numpy")


def corpus(sample: int | None = None) -> list[Path]:
    files: list[Path] = []
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit(f"{name} is not installed")
        for root in spec.submodule_search_locations:
            files.extend(sorted(Path(root).rglob("*.py")))
    if sample:
        # every file with a trigger word, plus an even spread of the rest
        hot = [f for f in files if b"GradientTape" in f.read_bytes() or b"custom_gradient" in f.read_bytes()]
        rest = [f for f in files if f not in set(hot)]
        step = max(1, len(rest) // max(1, sample - len(hot)))
        files = hot[:sample] + rest[::step][: max(0, sample - len(hot))]
    return files


def compiles(path: Path) -> bool:
    try:
        compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
        return True
    except (SyntaxError, ValueError):
        return False


def lint_corpus(files: list[Path]):
    rules = list(all_rules().values())
    counts: collections.Counter[str] = collections.Counter()
    bad: list[str] = []
    for path in files:
        for d in lint_file(path, rules):
            counts[d.code] += 1
            if d.code == "TL999" or (d.code == "TL000" and compiles(path)):
                bad.append(f"{path}:{d.location.row}: {d.code} {d.message}")
    return counts, bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=None)
    args = parser.parse_args()
    files = corpus(args.sample)
    start = time.perf_counter()
    counts, bad = lint_corpus(files)
    wall = time.perf_counter() - start
    print(f"| files | wall (s) | TL000 on valid files + TL999 |\n|---|---|---|\n| {len(files)} | {wall:.1f} | {len(bad)} |\n")
    print("| rule | findings |\n|---|---|")
    for code in sorted(all_rules()):
        print(f"| {code} | {counts.get(code, 0)} |")
    for line in bad:
        print(line)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
