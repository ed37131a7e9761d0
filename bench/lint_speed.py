"""tapelint's speed next to ruff's, on the same files in the same run.

    python bench/lint_speed.py                      # installed tensorflow/python + keras (copied)
    python bench/lint_speed.py --tree ~/src/project --tree ~/src/other
    python bench/lint_speed.py --repeats 5 --select TL001,TL002   # other rules, more repeats

Run it with the Python of an environment that has tapelint, libcst and ruff installed (and, for the
default trees, tensorflow and keras). The default trees are copied once to /tmp/tapelint-bench-trees
(outside site-packages, which every linter skips) and reused.

For each tree it prints one markdown table: wall time, CPU time (user + system, all processes) and
peak memory (the largest resident set of any one process, as /usr/bin/time reports it) of

- tapelint cold: no cache (the cache directory is emptied before each run);
- tapelint warm: every file in the cache;
- tapelint on one file (Python start-up included), for a file that libcst parses, one with trigger
  words that every screen rules out, and one without trigger words: the first run ever (no cache
  directory), and as a pre-commit hook runs it (the cache directory of earlier runs is there, this
  file changed);
- ``ruff check`` with its default rules, without and with its cache, and ``ruff check --select ALL``
  (without cache);
- a bare ``libcst.parse_module`` of every file that reaches libcst in tapelint (those that pass the
  pre-filter and some rule's screen), whole, in one process;
- CPython's syntax check (its symbol table) of every file that passes the pre-filter, in one process:
  the least any linter that reads those files with CPython's parser pays;

then tapelint's files per second, and the comparison of the findings of a partial analysis (the
default) with those of a whole-file analysis (``--whole-files``) of the same tree: the number of files
compared and of files whose findings differ (expected: 0).

Cold times are the median of ``--repeats`` runs; every tool first runs once untimed, so that Python
bytecode and the page cache are warm for all of them alike (PYTHONDONTWRITEBYTECODE is removed from
the environment of the runs: an installed tapelint has its bytecode compiled). On a shared machine,
compare tools within one table, not across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TREES_DIR = Path(tempfile.gettempdir()) / "tapelint-bench-trees"


@dataclass
class Measure:
    wall: float
    cpu: float
    rss_mb: float
    returncode: int
    stdout: str = ""


# The measured command runs as the child of a small helper process: a child started by this (large)
# process would inherit its resident-set high-water mark through fork/exec, and report it as its own.
_HELPER = """
import json, os, subprocess, sys, time
report, cwd, cmd = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
start = time.perf_counter()
proc = subprocess.Popen(cmd, cwd=cwd)
_, status, usage = os.wait4(proc.pid, 0)
wall = time.perf_counter() - start
with open(report, "w") as f:
    json.dump({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "maxrss": usage.ru_maxrss,
               "returncode": os.waitstatus_to_exitcode(status)}, f)
"""


def run_measured(cmd: list[str], cwd: Path, env: dict[str, str], capture: bool = False) -> Measure:
    """Wall and CPU time (the command and its worker processes) and peak memory (the largest
    resident set of any one of its processes)."""
    with tempfile.NamedTemporaryFile("r", suffix=".json", delete=False) as report:
        path = report.name
    try:
        proc = subprocess.run([sys.executable, "-c", _HELPER, path, str(cwd), json.dumps(cmd)], env=env,
                              stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, text=True)
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    finally:
        os.unlink(path)
    # ru_maxrss is in KiB on Linux, bytes on macOS.
    rss = data["maxrss"] / (1024 * 1024 if sys.platform == "darwin" else 1024)
    return Measure(data["wall"], data["cpu"], rss, data["returncode"], proc.stdout if capture else "")


def median(measures: list[Measure]) -> Measure:
    return Measure(statistics.median(m.wall for m in measures), statistics.median(m.cpu for m in measures),
                   max(m.rss_mb for m in measures), measures[-1].returncode)


# -- trees ------------------------------------------------------------------------------------------------
def default_trees() -> list[Path]:
    """One tree holding copies of the installed tensorflow/python and keras sources (made once, then
    reused)."""
    import importlib.util

    wanted = {"tensorflow_python": ("tensorflow", "python"), "keras": ("keras",)}
    for name, parts in wanted.items():
        target = DEFAULT_TREES_DIR / name
        if target.is_dir():
            continue
        spec = importlib.util.find_spec(parts[0])
        if spec is None or not spec.submodule_search_locations:
            sys.exit(f"{parts[0]} is not installed: pip install tensorflow-cpu keras, or pass --tree")
        source = Path(list(spec.submodule_search_locations)[0]).joinpath(*parts[1:])
        print(f"copying {source} to {target} ...", file=sys.stderr)
        tmp = target.with_name(target.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(source, tmp, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so"))
        tmp.rename(target)
    return [DEFAULT_TREES_DIR]


def tapelint_files(tree: Path, select: str | None) -> tuple[list[Path], list[Path], list[Path]]:
    """The files tapelint lints in ``tree``, those of them that pass the pre-filter, and those of
    these that some rule's screen passes too: the files libcst parses."""
    sys.path.insert(0, str(ROOT))
    from tapelint import config, discovery, registry
    from tapelint.linter import screened
    from tapelint.prefilter import Prefilter
    from tapelint.screen import Facts
    from tapelint.source import SourceError, read_source

    catalog = registry.all_rules()
    overrides = config.Overrides(select=[select] if select else None)
    settings = config.resolve_settings(overrides, catalog, cwd=tree, isolated=True)
    files = discovery.discover([str(tree)], settings)
    analysed, parsed = [], []
    prefilters: dict = {}
    for path in files:
        rules = settings.rules_for(path)
        pf = prefilters.get(rules) or prefilters.setdefault(rules, Prefilter(rules))
        active = pf.active(path.read_bytes())
        if active:
            analysed.append(path)
            try:
                facts = Facts(read_source(path))
            except SourceError:
                continue
            if facts.syntax_tree() is None or screened(active, facts):
                parsed.append(path)
    return files, analysed, parsed


# `python -m`/`-c` put the current directory (the tree) first on sys.path, where a tree that holds a
# copy of some package's sources (libcst's, say) would shadow the installed one.
_UNSHADOW = "import sys; sys.path[:] = [p for p in sys.path if p not in ('', '.')]\n"
RUN_TAPELINT = _UNSHADOW + "from tapelint.cli import main; sys.exit(main(sys.argv[1:]))"
PARSE_ONLY = _UNSHADOW + """
import libcst
for path in open(sys.argv[1], encoding="utf-8").read().splitlines():
    with open(path, "rb") as f:
        data = f.read()
    try:
        libcst.parse_module(data)
    except Exception:
        pass
"""

# The least that any linter reading these files with CPython's own parser pays: its syntax check,
# through the symbol table (no syntax tree of Python objects is built).
SYNTAX_ONLY = _UNSHADOW + """
import symtable, warnings
warnings.simplefilter("ignore")
for path in open(sys.argv[1], encoding="utf-8").read().splitlines():
    with open(path, "rb") as f:
        data = f.read()
    try:
        symtable.symtable(data.decode("utf-8", "replace"), path, "exec")
    except Exception:
        pass
"""


# -- the benchmark ------------------------------------------------------------------------------------------
def bench_tree(tree: Path, args: argparse.Namespace, env: dict[str, str]) -> str:
    py = sys.executable
    ruff = shutil.which("ruff", path=str(Path(py).parent)) or shutil.which("ruff")
    files, analysed, parsed = tapelint_files(tree, args.select)
    cache = Path(tempfile.mkdtemp(prefix="tapelint-bench-cache-"))
    base = [py, "-c", RUN_TAPELINT, "check", "--isolated", "--exit-zero", "--quiet", "--output-format", "concise",
            "--cache-dir", str(cache)]
    if args.select:
        base += ["--select", args.select]
    if args.jobs:
        base += ["--jobs", str(args.jobs)]
    rows: list[tuple[str, Measure | None, str]] = []

    def cold_tapelint(extra: list[str], target: list[str]) -> Measure:
        shutil.rmtree(cache, ignore_errors=True)
        return run_measured(base + extra + target, tree, env)

    # Warm-ups: bytecode (tapelint's and ruff's own), the page cache.
    for path in (analysed or files)[:1]:
        run_measured(base + [str(path)], tree, env)
    run_measured([py, "-c", _UNSHADOW + "import libcst, tapelint.cli, tapelint.rules.base"], tree, env)
    if ruff:
        run_measured([ruff, "check", "--no-cache", "--exit-zero", "--quiet", "."], tree, env)

    rows.append(("tapelint cold (no cache)", median([cold_tapelint([], ["."]) for _ in range(args.repeats)]),
                 f"{len(files)} files, {len(analysed)} pass the pre-filter, {len(parsed)} the screens"))
    run_measured(base + ["."], tree, env)  # fill the cache
    rows.append(("tapelint warm (all cached)", median([run_measured(base + ["."], tree, env)
                                                       for _ in range(args.repeats)]), ""))
    one_with = sorted(parsed, key=lambda p: p.stat().st_size)[len(parsed) // 2] if parsed else None
    skipped = [p for p in files if p not in set(analysed)]
    one_without = sorted(skipped, key=lambda p: p.stat().st_size)[len(skipped) // 2] if skipped else None
    screened_out = [p for p in analysed if p not in set(parsed)]
    one_screened = sorted(screened_out, key=lambda p: p.stat().st_size)[len(screened_out) // 2] if screened_out else None
    for label, one in (("parsed", one_with), ("screened out", one_screened), ("without trigger words", one_without)):
        if one is None:
            continue
        target = [str(one.relative_to(tree))]
        lines = one.read_bytes().count(b"\n")
        note = f"{one.relative_to(tree)} ({lines} lines)"
        rows.append((f"tapelint one file, first run ({label})",
                     median([cold_tapelint([], target) for _ in range(args.repeats)]), note + ", no cache yet"))

        def precommit() -> Measure:
            # The cache directory of earlier runs exists (rule metadata included); this file changed.
            shutil.rmtree(cache, ignore_errors=True)
            other = next(p for p in files if p != one)
            run_measured(base + [str(other.relative_to(tree))], tree, env)
            return run_measured(base + target, tree, env)

        rows.append((f"tapelint one file, pre-commit ({label})", median([precommit() for _ in range(args.repeats)]),
                     "cache present, this file changed"))
    if ruff:
        ruff_cache = Path(tempfile.mkdtemp(prefix="ruff-bench-cache-"))
        rows.append(("ruff check (defaults, no cache)", median([
            run_measured([ruff, "check", "--no-cache", "--exit-zero", "--quiet", "."], tree, env)
            for _ in range(args.repeats)]), ""))
        warm_cmd = [ruff, "check", "--cache-dir", str(ruff_cache), "--exit-zero", "--quiet", "."]
        run_measured(warm_cmd, tree, env)
        rows.append(("ruff check (defaults, cached)", median([run_measured(warm_cmd, tree, env)
                                                              for _ in range(args.repeats)]), ""))
        rows.append(("ruff check --select ALL (no cache)", median([
            run_measured([ruff, "check", "--no-cache", "--select", "ALL", "--exit-zero", "--quiet", "."], tree, env)
            for _ in range(args.repeats)]), ""))
        shutil.rmtree(ruff_cache, ignore_errors=True)
        ruff_files = run_measured([ruff, "check", "--show-files", "."], tree, env, capture=True).stdout
        rows[-3] = (rows[-3][0], rows[-3][1], f"{sum(1 for line in ruff_files.splitlines() if line.strip())} files")
    else:
        rows.append(("ruff", None, "not installed"))
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as listing:
        listing.write("\n".join(str(p) for p in parsed))
    rows.append(("libcst.parse_module of the files that pass the screens, whole (1 process)",
                 run_measured([py, "-c", PARSE_ONLY, listing.name], tree, env), f"{len(parsed)} files"))
    with open(listing.name, "w", encoding="utf-8") as out:
        out.write("\n".join(str(p) for p in analysed))
    rows.append(("CPython's syntax check (symbol table) of the files that pass the pre-filter (1 process)",
                 run_measured([py, "-c", SYNTAX_ONLY, listing.name], tree, env),
                 f"{len(analysed)} files: the least a linter reading them with CPython's parser pays"))
    os.unlink(listing.name)

    comparison = ""
    if not args.no_compare:
        comparison = compare(tree, base, env, cache)
    shutil.rmtree(cache, ignore_errors=True)

    cold = rows[0][1]
    out = [f"### {tree}", "", "| run | wall (s) | CPU (s) | peak RSS (MB) | notes |", "|---|---:|---:|---:|---|"]
    for label, m, note in rows:
        if m is None:
            out.append(f"| {label} | | | | {note} |")
        else:
            out.append(f"| {label} | {m.wall:.2f} | {m.cpu:.2f} | {m.rss_mb:.0f} | {note} |")
    out.append("")
    out.append(f"tapelint cold: {len(files) / cold.wall:.0f} files/s ({len(files)} files). " + comparison)
    return "\n".join(out)


def compare(tree: Path, base: list[str], env: dict[str, str], cache: Path) -> str:
    """Findings of the partial analysis against a whole-file analysis of every analysed file."""
    outputs = []
    for extra in ([], ["--whole-files"]):
        cmd = [c for c in base if c not in ("--quiet",)]
        i = cmd.index("--output-format")
        cmd[i + 1] = "json"
        outputs.append(run_measured(cmd + ["--no-cache"] + extra + ["."], tree, env, capture=True).stdout)
    partial, whole = (json.loads(o or "[]") for o in outputs)

    def by_file(found):
        out: dict[str, list] = {}
        for d in found:
            out.setdefault(d["filename"], []).append(
                (d["code"], d["location"]["row"], d["location"]["column"], d["end_location"]["row"],
                 d["end_location"]["column"], d["message"]))
        return out

    p, w = by_file(partial), by_file(whole)
    differing = sorted(f for f in set(p) | set(w) if sorted(p.get(f, [])) != sorted(w.get(f, [])))
    text = (f"Partial vs whole-file analysis: {len(partial)} vs {len(whole)} findings, "
            f"{len(differing)} files differ.")
    for f in differing[:10]:
        text += f"\n  differs: {f}"
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", action="append", type=Path, help="a directory to lint (repeatable)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each cold measure (median)")
    parser.add_argument("--select", help="rules to enable (tapelint --select), default: the default selection")
    parser.add_argument("--jobs", type=int, help="tapelint --jobs (default: tapelint's default, the cores)")
    parser.add_argument("--no-compare", action="store_true", help="skip the partial-vs-whole comparison")
    args = parser.parse_args()
    trees = [t.resolve() for t in args.tree] if args.tree else default_trees()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    # tapelint runs from a snapshot of this checkout: an edit made meanwhile (its cache key includes
    # tapelint's own sources) must not turn warm runs cold.
    snapshot = Path(tempfile.mkdtemp(prefix="tapelint-bench-src-"))
    shutil.copytree(ROOT / "tapelint", snapshot / "tapelint", ignore=shutil.ignore_patterns("__pycache__"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(snapshot), env.get("PYTHONPATH")]))
    env["NO_COLOR"] = "1"
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f} at start" if hasattr(os, "getloadavg") else "")
    try:
        for tree in trees:
            print(bench_tree(tree, args, env))
            print()
    finally:
        shutil.rmtree(snapshot, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
