"""Worker processes (``--jobs``): the same output, byte for byte, as one process; the progress bar
only on a terminal."""

from __future__ import annotations

import io
import shutil
import time
from pathlib import Path

import pytest

from tapelint import cli, config, discovery, engine, progress, registry

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """The fixtures, copied (so that no cache lands in the repository), as the current directory."""
    shutil.copytree(FIXTURES / "buggy", tmp_path / "buggy")
    shutil.copytree(FIXTURES / "correct", tmp_path / "correct")
    (tmp_path / "plain").mkdir()
    for i in range(20):  # files the pre-filter skips, between the others
        (tmp_path / "plain" / f"m{i:02}.py").write_text(f"VALUE = {i}\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def output(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["check", "--no-cache", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("fmt", ["concise", "json", "text"])
def test_two_jobs_print_exactly_what_one_job_prints(tree, capsys, fmt):
    one = output(capsys, "--jobs", "1", "--output-format", fmt)
    assert one[0] == 1 and one[1].count("TL0") > 40
    assert output(capsys, "--jobs", "2", "--output-format", fmt) == one
    assert output(capsys, "--jobs", "3", "--output-format", fmt, "--whole-files") == one


def test_workers_are_used_and_results_keep_file_order(tree):
    settings = config.resolve_settings(config.Overrides(), registry.all_rules(), cwd=tree, isolated=True)
    files = discovery.discover(["."], settings)
    stats = engine.Stats()
    parallel = engine.run(files, settings, engine.Options(jobs=2, stats=stats))
    assert stats.workers == 2 and stats.read == len(files) and 0 < stats.analysed < len(files)
    serial = engine.run(files, settings, engine.Options(jobs=1))
    key = [(d.filename, d.location, d.code, d.message) for d in serial]
    assert [(d.filename, d.location, d.code, d.message) for d in parallel] == key
    assert key == sorted(key, key=lambda k: (k[0], k[1].row, k[1].column, k[2]))


def test_workers_take_the_largest_files_first_in_balanced_batches(tmp_path):
    # The last batches hold the smallest files, so the workers finish together; each task once; a file
    # that cannot be read (it is reported later) counts as empty.
    sizes = [5, 900, 40, 0, 7000, 12, 300] * 10
    work = []
    for i, size in enumerate(sizes):
        path = tmp_path / f"f{i}.py"
        path.write_text("x" * size)
        work.append((i, str(path), path.name, ("TL001",), None))
    work.append((len(work), str(tmp_path / "gone.py"), "gone.py", ("TL001",), None))
    batches = engine._batches(work, jobs=2)
    order = [item for batch in batches for item in batch]
    assert sorted(order) == sorted(work)
    assert [sizes[i] if i < len(sizes) else 0 for i, *_ in order] == sorted(sizes + [0], reverse=True)
    assert {len(b) for b in batches[:-1]} == {4}  # 71 tasks, 2 workers: 71 // 16 = 4 a batch


def test_a_few_files_are_linted_without_workers(tree):
    settings = config.resolve_settings(config.Overrides(), registry.all_rules(), cwd=tree, isolated=True)
    files = discovery.discover(["buggy/tl002_gan_single_tape.py", "plain"], settings)[: engine.SMALL_RUN - 1]
    stats = engine.Stats()
    engine.run(files, settings, engine.Options(jobs=4, stats=stats))
    assert stats.workers == 0


def test_jobs_must_be_a_positive_number(tree, capsys):
    for bad in ("0", "-1", "two"):
        code, out, err = output(capsys, "--jobs", bad)
        assert code == 2 and out == "" and err.startswith("tapelint: error: argument -j/--jobs:")


# -- progress bar ------------------------------------------------------------------------------------------
class Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_progress_bar_only_on_a_terminal(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    assert progress.wanted(Stream(True))
    assert not progress.wanted(Stream(False))  # piped or redirected
    assert not progress.wanted(Stream(True), quiet=True)
    assert not progress.wanted(Stream(True), verbose=True)
    monkeypatch.setenv("TERM", "dumb")
    assert not progress.wanted(Stream(True))


def test_progress_bar_draws_then_erases_itself():
    stream = Stream(True)
    bar = progress.Progress(10, stream, delay=0)
    bar.advance(5)
    assert "5/10 files" in stream.getvalue() and stream.getvalue().startswith("\r[")
    bar.close()
    assert stream.getvalue().endswith("\r\x1b[K")


def test_no_progress_bar_when_piped(tree, capsys):
    code, out, err = output(capsys, "--jobs", "2")
    assert "\r" not in err and "files" not in err


# -- workers started before the walk -----------------------------------------------------------------------
def test_workers_start_before_the_walk_only_for_a_tree_without_a_cache(tree):
    settings = config.resolve_settings(config.Overrides(), registry.all_rules(), cwd=tree, isolated=True)
    assert engine.start_workers(["buggy/tl002_gan_single_tape.py"], settings, engine.Options(jobs=2)) is None
    assert engine.start_workers(["."], settings, engine.Options(jobs=1)) is None
    assert engine.start_workers(["."], settings, engine.Options(jobs=2, cache_dir=tree / "c")) is None
    workers = engine.start_workers(["plain", "buggy/tl002_gan_single_tape.py"], settings, engine.Options(jobs=2))
    assert workers is not None and workers.jobs == 2
    workers.close()


def test_workers_started_early_lint_every_file_read_however_few(tree):
    settings = config.resolve_settings(config.Overrides(), registry.all_rules(), cwd=tree, isolated=True)
    files = discovery.discover(["buggy/tl002_gan_single_tape.py"], settings)
    serial = engine.run(files, settings, engine.Options(jobs=1))
    stats = engine.Stats()
    options = engine.Options(jobs=2, stats=stats)
    options.workers = engine.start_workers(["."], settings, options)
    processes = list(options.workers._pool._processes.values())
    early = engine.run(files, settings, options)
    assert stats.workers == 2 and [d.code for d in early] == [d.code for d in serial] == ["TL002"]
    assert_stopped(processes)  # shut down with the run


def test_workers_started_early_are_stopped_unused_where_nothing_is_read(tree):
    settings = config.resolve_settings(config.Overrides(), registry.all_rules(), cwd=tree, isolated=True)
    options = engine.Options(jobs=2)
    options.workers = engine.start_workers(["."], settings, options)
    processes = list(options.workers._pool._processes.values())
    assert engine.run([], settings, options) == []
    assert_stopped(processes)


def test_a_failed_walk_stops_the_workers_started_for_it(tree, capsys, monkeypatch):
    started = []
    real_start = engine.start_workers

    def start(*args, **kwargs):
        workers = real_start(*args, **kwargs)
        started.append(list(workers._pool._processes.values()))
        return workers

    monkeypatch.setattr(engine, "start_workers", start)
    code, out, err = output(capsys, "--jobs", "2", ".", "missing.py")
    assert code == 2 and "missing.py" in err
    assert started and started[0]
    assert_stopped(started[0])


def assert_stopped(processes, seconds: float = 10.0) -> None:
    # (the pool's own thread may reap a process while this one waits for it: ask again until it is seen)
    deadline = time.monotonic() + seconds
    while any(p.is_alive() for p in processes) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(p.is_alive() for p in processes)
