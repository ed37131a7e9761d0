"""How tight each rule's screen is, and whether it ever rules out a file where its rule reports.

    python bench/screen_precision.py collect TREE [TREE ...] [--data DIR]
    python bench/screen_precision.py check [CODE ...] [--data DIR] [--show]

``collect`` lints the trees as ``--whole-files`` does (every file that holds a trigger word of some
rule goes to libcst whole, no screen asked) and keeps, for each such file the pre-filter passes, its
text and the findings of each rule (JSON lines under DIR, default /tmp/tapelint-screen-data; one
file per worker). It costs a whole-file run: minutes on a few thousand files.

``check`` then asks each rule's screen, as the code stands now, about every collected file that
holds the rule's trigger words, and prints one table: how many files the pre-filter alone would
send to libcst, how many the screen passes, how many hold a finding of the rule, and how many of
those the screen rules out (misses: must be 0), with the screens' time. Rerun ``collect`` after a
change to what the rules report.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def collect(trees: list[str], data: Path) -> int:
    import tapelint.linter as linter
    from tapelint.prefilter import triggered

    data.mkdir(parents=True, exist_ok=True)
    for old in data.glob("*.jsonl"):
        old.unlink()
    analyse = linter._analyse

    def recording(source, filename, rules, verbose, partial, prefiltered=False):
        active = list(rules) if prefiltered else triggered(rules, source)
        if not active:
            return None, []
        module, diagnostics = analyse(source, filename, active, verbose, False, True)
        record = {"file": os.path.abspath(filename), "source": source,
                  "findings": collections.Counter(d.code for d in diagnostics)}
        with open(data / f"{os.getpid()}.jsonl", "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
        return module, diagnostics

    linter._analyse = recording  # (worker processes are forked: they run this too)
    from tapelint.cli import main as tapelint

    for tree in trees:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.chdir(tree):
            tapelint(["check", "--no-cache", "--exit-zero", "--quiet", "."])
    print(f"{sum(1 for p in data.glob('*.jsonl') for _ in open(p, encoding='utf-8'))} files collected in {data}")
    return 0


def check(codes: list[str], data: Path, show: bool) -> int:
    from tapelint import registry
    from tapelint.prefilter import triggered
    from tapelint.screen import Facts

    records = [json.loads(line) for p in sorted(data.glob("*.jsonl")) for line in open(p, encoding="utf-8")]
    rules = [r for r in registry.all_rules().values() if r.origin == "tapelint" and (not codes or r.code in codes)]
    print(f"{len(records)} files collected in {data}\n")
    print("| rule | pre-filter passes | screen passes | files with findings | misses | screen time (ms) |")
    print("|---|---:|---:|---:|---:|---:|")
    failed = 0
    for rule in rules:
        passes = found = misses = candidates = 0
        spent = 0.0
        for record in records:
            if not triggered([rule], record["source"]):
                continue
            candidates += 1
            facts = Facts(record["source"])
            start = time.perf_counter()
            try:
                kept = bool(rule.screen(facts))
            except Exception:
                kept = True  # (as the linter does)
            spent += time.perf_counter() - start
            passes += kept
            if record["findings"].get(rule.code):
                found += 1
                if not kept:
                    misses += 1
                    print(f"MISS {rule.code} {record['file']}", file=sys.stderr)
            elif kept and show:
                print(f"pass {rule.code} {record['file']}", file=sys.stderr)
        failed += misses
        print(f"| {rule.code} | {candidates} | {passes} | {found} | {misses} | {spent * 1000:.0f} |")
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["collect", "check"])
    parser.add_argument("args", nargs="*", help="trees (collect) or rule codes (check)")
    parser.add_argument("--data", type=Path, default=Path("/tmp/tapelint-screen-data"))
    parser.add_argument("--show", action="store_true", help="check: list the files each screen passes")
    args = parser.parse_args(argv)
    if args.command == "collect":
        return collect([str(Path(t).resolve()) for t in args.args], args.data)
    return check(args.args, args.data, args.show)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
