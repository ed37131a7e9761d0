"""Linting many files fast: the result cache, the byte-level pre-filter and worker processes around
:func:`tapelint.runner.lint_one`.

1. Each file is ``stat``-ed and looked up in the cache (:mod:`tapelint.cache`); a hit costs nothing
   more, and a run where every file hits never imports libcst or the rules.
2. The others are read as bytes; a file that holds none of the trigger words of its rules is done
   without being decoded or parsed (:mod:`tapelint.prefilter`). The rest go through ``lint_one``,
   which analyses the parts of the file the rules can see (:mod:`tapelint.partial`).
3. With more than a few files to read, worker processes (``--jobs``, default: the usable cores) start
   once, get the settings once (the rules of each file were resolved before they started) and take
   batches of files. Results are put back in file order, so the output does not depend on which
   worker finished first. A run over a directory may start them before its files are known
   (:class:`Workers`): they fork and import the linter and the rules while the main process walks
   the tree.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from tapelint.config import Settings, display_path
from tapelint.diagnostics import INTERNAL_ERROR_CODE, Diagnostic
from tapelint.progress import NoProgress

# Fewer files than this to read and lint (after cache hits): no worker processes, which cost more to
# start than they save.
SMALL_RUN = 8
# A file modified less than this before it was read is "racy" (as git calls it): its cache entry is
# checked by content, not by time and size.
RACY_NS = 2_000_000_000


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclass
class Stats:
    """What a run did, for ``--verbose`` and the benchmark."""

    files: int = 0
    cached: int = 0
    read: int = 0
    analysed: int = 0  # passed the pre-filter
    workers: int = 0


@dataclass
class Options:
    jobs: int | None = None  # None: default_jobs()
    cache_dir: Path | None = None  # None: no cache
    partial: bool = True
    progress: Any = None  # tapelint.progress.Progress, or None
    stats: Stats | None = None
    workers: "Workers | None" = None  # started before the files were known (the run closes them)


def run(files: Sequence[Path], settings: Settings, options: Options | None = None) -> list[Diagnostic]:
    """Every diagnostic for ``files``, in a stable order (file, cell, row, column, code)."""
    options = options or Options()
    try:
        return _run(files, settings, options)
    finally:
        if options.workers is not None:  # (unused where no file was left to read: stopped at once)
            options.workers.close()


def _run(files: Sequence[Path], settings: Settings, options: Options) -> list[Diagnostic]:
    stats = options.stats if options.stats is not None else Stats()
    progress = options.progress or NoProgress()
    results: list[tuple | None] = [None] * len(files)
    displays: list[str] = [""] * len(files)
    rulesets: dict[tuple[str, ...], tuple] = {}
    codes_of: dict[tuple, tuple[str, ...]] = {}  # a file's rules -> their codes
    tasks: list[tuple] = []  # (index, absolute path, display name, codes, digest to compare or None)

    cache = None
    if options.cache_dir is not None:
        from tapelint.cache import Cache, settings_key

        rules_by_code = {**settings.catalog}
        key = settings_key(rules_by_code, settings.enabled, settings.per_file_ignores,
                           partial=options.partial, verbose=settings.verbose)
        cache = Cache(options.cache_dir, key)

    stats.files = len(files)
    cwd = str(settings.cwd)
    prefix = cwd if cwd.endswith(os.sep) else cwd + os.sep
    for index, path in enumerate(files):
        rules = settings.rules_for(path)
        if not rules:
            results[index] = ()
            continue
        codes = codes_of.get(rules)
        if codes is None:
            codes = codes_of[rules] = tuple(r.code for r in rules)
            rulesets.setdefault(codes, rules)
        text = str(path)
        if os.path.isabs(text) and text.startswith(prefix):  # what display_path gives, faster
            display, absolute = text[len(prefix):], text
        else:
            display, absolute = display_path(path, settings.cwd), os.path.abspath(path)
        displays[index] = display
        same_content = None
        if cache is not None:
            try:
                st = os.stat(absolute)
            except OSError:
                st = None
            if st is not None:
                hit = cache.get(absolute, st.st_mtime_ns, st.st_size)
                if hit is not None:
                    results[index] = hit
                    stats.cached += 1
                    continue
                entry = cache.entries.get(absolute)
                if entry is not None and entry[1] == st.st_size:
                    same_content = entry[2]
        tasks.append((index, absolute, display, codes, same_content))
    progress.advance(stats.cached)

    if tasks:
        stats.read = len(tasks)
        # Catalog entries may be metadata only (tapelint.manifest.RuleInfo): the rule modules, and
        # libcst with them, are imported by the first file that passes the pre-filter.
        catalog = {rule.code: rule for rules in rulesets.values() for rule in rules}
        jobs = options.jobs or default_jobs()
        now = time.time_ns()
        done = dict(_run_tasks(tasks, catalog, jobs, options.partial, settings.verbose, progress, stats,
                                digests=cache is not None, workers=options.workers))
        for index, absolute, _display, _codes, _same in tasks:
            status, mtime_ns, size, content, encoded = done[index]
            if status == "same":  # unchanged content under a new time: the cached answer, re-stamped
                encoded = cache.entries[absolute][3]
            results[index] = encoded
            if cache is not None and mtime_ns is not None and not _has_internal_error(encoded):
                if now - mtime_ns < RACY_NS:
                    # Changed moments ago: another change within the file system's timestamp
                    # granularity would keep time and size, so next time the content decides.
                    mtime_ns = -1
                cache.put(absolute, mtime_ns, size, content, encoded)
    progress.close()
    if cache is not None:
        cache.save()

    from tapelint.cache import decode

    diagnostics: list[Diagnostic] = []
    for index, encoded in enumerate(results):
        if encoded:
            diagnostics.extend(decode(encoded, displays[index]))
    diagnostics.sort(key=Diagnostic.sort_key)
    return diagnostics


def _has_internal_error(encoded: tuple) -> bool:
    return any(d[0] == INTERNAL_ERROR_CODE for d in encoded)


# -- running the tasks -----------------------------------------------------------------------------------
def _run_tasks(tasks: list[tuple], catalog: dict[str, Any], jobs: int, partial: bool, verbose: bool,
               progress: Any, stats: Stats, digests: bool = True,
               workers: "Workers | None" = None) -> list[tuple[int, tuple]]:
    """``digests``: whether each file's content digest is computed (only a cache stores it);
    ``workers``: processes already started for this run, used whatever the number of files."""
    work = list(tasks)
    if workers is not None:
        return _in_workers(work, workers.catalog, workers.jobs, workers.partial, workers.verbose, progress,
                           stats, workers.digests, workers.take())
    if jobs <= 1 or len(work) < SMALL_RUN:
        return _in_process(work, catalog, partial, verbose, progress, stats, digests)
    return _in_workers(work, catalog, jobs, partial, verbose, progress, stats, digests)


def _in_process(work, catalog, partial, verbose, progress, stats, digests=True) -> list[tuple[int, tuple]]:
    from tapelint import linter

    previous = linter.partial_enabled()
    _init_worker(catalog, partial, verbose, digests=digests)
    try:
        out = []
        for item in work:
            out.append(_lint_task(item))
            progress.advance()
        stats.analysed += _WORKER.analysed
        return out
    finally:
        linter.set_partial(previous)


def _in_workers(work, catalog, jobs, partial, verbose, progress, stats, digests=True,
                pool=None) -> list[tuple[int, tuple]]:
    """``pool``: processes started already (:class:`Workers`), else started here."""
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    batches = _batches(work, jobs)
    if pool is None:
        stats.workers = min(jobs, len(batches))
        pool = _pool(stats.workers, (catalog, partial, verbose, True, digests))
    else:
        stats.workers = jobs
    out: list[tuple[int, tuple]] = []
    finished: set[int] = set()
    try:
        pending = {pool.submit(_lint_batch, batch): n for n, batch in enumerate(batches)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                n = pending.pop(future)
                try:
                    results, analysed = future.result()
                except BrokenProcessPool:
                    continue  # redone below, in this process
                out.extend(results)
                stats.analysed += analysed
                finished.add(n)
                progress.advance(len(batches[n]))
    except BaseException:  # Ctrl-C (workers ignore it) or a bug: stop the workers now
        _stop(pool)
        raise
    pool.shutdown(wait=True)
    leftover = [item for n, batch in enumerate(batches) if n not in finished for item in batch]
    if leftover:  # a worker died (the native parser can crash a process): finish here
        out.extend(_in_process(leftover, catalog, partial, verbose, progress, stats, digests))
    return out


def _pool(workers: int, initargs: tuple):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    method = "fork" if sys.platform.startswith("linux") else "spawn"
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method),
                               initializer=_init_worker, initargs=initargs)


def _stop(pool) -> None:
    """Stop a pool's workers now, whatever they are doing, and drop the work not started."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


class Workers:
    """Worker processes started before the files of a run are known, so that their start (a fork, then
    importing the screens and the rules) overlaps the main process's walk of the tree. :func:`run`
    uses them for every file it reads, however few, and stops them; where no file is left to read
    (none found, or none with rules to run), they are stopped unused."""

    def __init__(self, jobs: int, catalog: dict[str, Any], partial: bool, verbose: bool, digests: bool) -> None:
        self.jobs, self.catalog, self.partial, self.verbose, self.digests = jobs, catalog, partial, verbose, digests
        self._pool = _pool(jobs, (catalog, partial, verbose, True, digests, True))
        self._pool.submit(int)  # (the first task forks them all: see ProcessPoolExecutor)
        self._taken = False

    def take(self):
        """The pool, for one run (which shuts it down when done)."""
        self._taken = True
        return self._pool

    def close(self) -> None:
        """Stop the workers unless a run took them (it shut them down already)."""
        if self._taken:
            return
        self._taken = True
        _stop(self._pool)


def start_workers(paths: Sequence[str], settings: Settings, options: Options) -> Workers | None:
    """:class:`Workers` for a run over ``paths``, where starting them before the walk pays: a directory
    is named (a few named files are linted in this process), more than one job is wanted, and no
    cache is in use (a warm cache leaves nothing to read: workers started early would be wasted)."""
    jobs = options.jobs or default_jobs()
    if jobs <= 1 or options.cache_dir is not None or not any(os.path.isdir(p) for p in paths):
        return None
    catalog = {code: rule for code, rule in settings.catalog.items() if code in settings.enabled}
    return Workers(jobs, catalog, options.partial, settings.verbose, digests=False)


def _batches(work: list[tuple], jobs: int) -> list[list[tuple]]:
    """The tasks in batches small enough to balance the load (a few files hold most of the work),
    large enough that sending them costs nothing; the largest files first, so that the last batches,
    whichever worker takes them, are small files and the workers finish together."""
    work = sorted(work, key=_size, reverse=True)
    size = max(1, min(32, len(work) // (jobs * 8) or 1))
    return [work[i:i + size] for i in range(0, len(work), size)]


def _size(item: tuple) -> int:
    try:
        return os.stat(item[1]).st_size
    except OSError:
        return 0


class _WorkerState:
    catalog: dict[str, Any] = {}
    verbose: bool = False
    rulesets: dict[tuple[str, ...], tuple] = {}
    prefilters: dict[tuple[str, ...], Any] = {}
    analysed: int = 0
    digests: bool = True


_WORKER = _WorkerState()


def _init_worker(catalog: dict[str, Any], partial: bool, verbose: bool, worker: bool = False,
                 digests: bool = True, early: bool = False) -> None:
    """``early``: started before the files were known (:class:`Workers`): import now what a file that
    passes the pre-filter needs (the screens, the rules), while the main process walks the tree."""
    from tapelint import linter

    if worker:  # the parent handles Ctrl-C and stops the workers
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if early:
        from tapelint import screen  # noqa: F401
        from tapelint.manifest import real

        for rule in catalog.values():
            try:
                real(rule)
            except Exception:  # (the first file that needs it reports it)
                pass

    linter.set_partial(partial)
    _WORKER.catalog = catalog
    _WORKER.verbose = verbose
    _WORKER.rulesets = {}
    _WORKER.prefilters = {}
    _WORKER.analysed = 0
    _WORKER.digests = digests


def _lint_batch(batch: Iterable[tuple]) -> tuple[list[tuple[int, tuple]], int]:
    before = _WORKER.analysed
    results = [_lint_task(item) for item in batch]
    return results, _WORKER.analysed - before


def _lint_task(item: tuple) -> tuple[int, tuple]:
    """(index, (status, mtime_ns, size, digest, encoded diagnostics)) for one file; status "same"
    when its content is the cached one (``same`` is that content's digest). The digest is None
    where no cache stores it."""
    from tapelint.cache import digest, encode

    index, absolute, display, codes, same = item
    rules = _WORKER.rulesets.get(codes)
    if rules is None:
        from tapelint.prefilter import Prefilter

        rules = _WORKER.rulesets[codes] = tuple(_WORKER.catalog[c] for c in codes)
        _WORKER.prefilters[codes] = Prefilter(rules)
    try:
        with open(absolute, "rb") as stream:
            st = os.fstat(stream.fileno())
            data = stream.read()
    except OSError:
        return index, ("lint", None, None, None, encode(_lint_one(absolute, display, rules)))
    content = digest(data) if _WORKER.digests else None
    if same is not None and content == same:
        return index, ("same", st.st_mtime_ns, st.st_size, content, ())
    active = _WORKER.prefilters[codes].active(data)
    if not active:
        return index, ("lint", st.st_mtime_ns, st.st_size, content, ())
    _WORKER.analysed += 1
    from tapelint.manifest import real

    active = [real(rule) for rule in active]
    found = _lint_one(absolute, display, active, data)
    return index, ("lint", st.st_mtime_ns, st.st_size, content, encode(found))


def _lint_one(absolute: str, display: str, rules: Sequence, data: bytes | None = None) -> list[Diagnostic]:
    """``data``: the bytes the pre-filter chose ``rules`` from (the file is not read again)."""
    from tapelint.runner import lint_one

    return lint_one(Path(absolute), display, rules, _WORKER.verbose, data=data, prefiltered=data is not None)
