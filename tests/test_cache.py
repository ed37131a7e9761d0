"""The result cache (.tapelint_cache): a hit returns the same diagnostics without linting; a change of
content, settings or tapelint invalidates; a corrupt cache is ignored; ``--no-cache`` writes nothing;
a fully cached run imports neither libcst nor the rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tapelint import cache, cli, engine

ROOT = Path(__file__).resolve().parent.parent
BUGGY = """import tensorflow as tf

x = tf.Variable(3.0)
with tf.GradientTape() as tape:
    y = x * x
    z = y * y
dz = tape.gradient(z, x)
dy = tape.gradient(y, x)
"""
CLEAN = "import os\nprint(os.sep)\n"


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(cache.ENV_CACHE_DIR, raising=False)
    (tmp_path / "a.py").write_text(BUGGY)
    (tmp_path / "b.py").write_text(CLEAN)
    return tmp_path


@pytest.fixture
def lint_calls(monkeypatch):
    """The files that were actually linted (not answered from the cache)."""
    calls: list[str] = []
    real = engine._lint_one

    def counting(absolute, display, rules, data=None):
        calls.append(display)
        return real(absolute, display, rules, data)

    monkeypatch.setattr(engine, "_lint_one", counting)
    return calls


def tapelint(capsys, *argv: str) -> tuple[int, str]:
    code = cli.main(["check", "--jobs", "1", "--output-format", "json", *argv])
    out, _ = capsys.readouterr()
    return code, out


def age(path: Path, seconds: float = 10) -> None:
    """Make a file look older than the "racy" window, as files usually are."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - int(seconds * 1e9)))


def test_a_hit_gives_the_same_diagnostics_without_linting(project, capsys, lint_calls):
    age(project / "a.py"), age(project / "b.py")
    first = tapelint(capsys)
    assert first[0] == 1 and json.loads(first[1])
    assert sorted(lint_calls) == ["a.py"]  # b.py has no trigger word: not linted either way
    lint_calls.clear()
    assert tapelint(capsys) == first
    assert lint_calls == []


def test_the_cached_answer_is_for_the_bytes_whose_digest_is_stored(project, capsys, monkeypatch):
    """A file is read once: the content the pre-filter and the linter see is the content digested, so
    an edit made while the run reads files cannot pair one version's digest with another's findings."""
    from tapelint import runner

    def second_read(path):
        (project / "a.py").write_text(CLEAN)  # what a second read would see: an edit meanwhile
        raise AssertionError("the file was read again")

    monkeypatch.setattr(runner, "read_source", second_read)
    code, out = tapelint(capsys)
    assert code == 1 and {d["code"] for d in json.loads(out)} == {"TL002"}
    assert (project / "a.py").read_text() == BUGGY


def test_the_cache_directory_is_marked_and_ignored_by_git(project, capsys):
    tapelint(capsys)
    directory = project / ".tapelint_cache"
    assert (directory / ".gitignore").read_text().splitlines()[-1] == "*"
    assert (directory / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")


def test_a_changed_file_is_linted_again(project, capsys, lint_calls):
    age(project / "a.py")
    tapelint(capsys)
    (project / "a.py").write_text(BUGGY.replace("dy = tape.gradient(y, x)\n", ""))
    lint_calls.clear()
    code, out = tapelint(capsys)
    assert lint_calls == ["a.py"] and code == 0 and json.loads(out) == []


def test_a_change_that_keeps_size_and_time_is_seen_in_a_recent_file(project, capsys, lint_calls):
    # Within the file system's timestamp granularity, time and size can stay the same: a file
    # changed moments before it was linted is checked by content next time.
    path = project / "a.py"
    tapelint(capsys)
    st = path.stat()
    path.write_text(BUGGY.replace("dy = tape.gradient(y, x)", "dy = tape.gradient(x, y)"))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    lint_calls.clear()
    tapelint(capsys)
    assert lint_calls == ["a.py"]


def test_a_touched_but_unchanged_file_is_a_hit(project, capsys, lint_calls):
    path = project / "a.py"
    age(path, 20)
    first = tapelint(capsys)
    age(path, 10)  # a new time, the same content (a checkout does this)
    lint_calls.clear()
    assert tapelint(capsys) == first
    assert lint_calls == []


def test_other_settings_use_another_cache(project, capsys, lint_calls):
    age(project / "a.py")
    tapelint(capsys)
    lint_calls.clear()
    code, out = tapelint(capsys, "--select", "TL003")
    assert lint_calls == ["a.py"] and code == 0
    lint_calls.clear()
    tapelint(capsys)  # the first settings' entries are still there
    assert lint_calls == []


def test_another_version_uses_another_cache(project, capsys, lint_calls, monkeypatch):
    age(project / "a.py")
    tapelint(capsys)
    monkeypatch.setattr(cache, "__version__", "99.0")
    lint_calls.clear()
    tapelint(capsys)
    assert lint_calls == ["a.py"]


def test_an_edited_tapelint_source_uses_another_cache(project, capsys, lint_calls, monkeypatch):
    age(project / "a.py")
    tapelint(capsys)
    real = cache.package_fingerprint
    monkeypatch.setattr(cache, "package_fingerprint", lambda: real() + [("rules/tl999_new.py", 1, 2)])
    lint_calls.clear()
    tapelint(capsys)
    assert lint_calls == ["a.py"]


@pytest.mark.parametrize("garbage", [b"", b"TLC1", b"TLC1\x00\x01garbage", b"not a cache at all", b"TLC1" + b"\xff" * 64])
def test_a_corrupt_cache_is_ignored(project, capsys, lint_calls, garbage):
    age(project / "a.py")
    first = tapelint(capsys)
    for path in (project / ".tapelint_cache").glob("*.cache"):
        path.write_bytes(garbage)
    lint_calls.clear()
    assert tapelint(capsys) == first
    assert lint_calls == ["a.py"]
    lint_calls.clear()
    tapelint(capsys)  # and rewritten
    assert lint_calls == []


def test_no_cache_writes_nothing_and_reads_nothing(project, capsys, lint_calls):
    tapelint(capsys, "--no-cache")
    assert not (project / ".tapelint_cache").exists()
    age(project / "a.py")
    tapelint(capsys)
    lint_calls.clear()
    tapelint(capsys, "--no-cache")
    assert lint_calls == ["a.py"]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_no_cache_digests_nothing(project, capsys, monkeypatch, jobs):
    """Only a cache stores a file's digest: without one, no file is hashed (in workers either)."""
    for index in range(engine.SMALL_RUN):  # enough files for workers
        (project / f"m{index}.py").write_text(BUGGY)

    def no_digest(data):
        raise AssertionError("a file was hashed")

    monkeypatch.setattr(cache, "digest", no_digest)
    code = cli.main(["check", "--jobs", jobs, "--output-format", "json", "--no-cache"])
    found = json.loads(capsys.readouterr()[0])
    assert code == 1 and len(found) == engine.SMALL_RUN + 1 and {d["code"] for d in found} == {"TL002"}
    assert cli.main(["check", "--jobs", jobs, "--output-format", "json"]) == 2  # a cache hashes them
    assert "a file was hashed" in capsys.readouterr()[1]


def test_cache_dir_option_and_environment(project, capsys, tmp_path, monkeypatch):
    tapelint(capsys, "--cache-dir", "elsewhere")
    assert (project / "elsewhere" / "CACHEDIR.TAG").is_file()
    assert not (project / ".tapelint_cache").exists()
    monkeypatch.setenv(cache.ENV_CACHE_DIR, str(project / "from-env"))
    tapelint(capsys)
    assert (project / "from-env" / "CACHEDIR.TAG").is_file()


def test_the_cache_lives_next_to_the_configuration(project, capsys):
    (project / "pkg").mkdir()
    (project / "pyproject.toml").write_text("[tool.tapelint]\n")
    os.chdir(project / "pkg")
    (project / "pkg" / "c.py").write_text(BUGGY)
    tapelint(capsys, ".")
    assert (project / ".tapelint_cache").is_dir() and not (project / "pkg" / ".tapelint_cache").exists()


def test_concurrent_writers_merge_and_never_tear(tmp_path):
    one, two = cache.Cache(tmp_path, "k"), cache.Cache(tmp_path, "k")
    one.put("/a.py", 1, 2, b"d", ())
    two.put("/b.py", 3, 4, b"e", (("TL001", "n", "m", 1, 1, 1, 2, None, None, None, None),))
    one.save()
    two.save()  # read what `one` wrote, then added its own entry
    merged = cache.Cache(tmp_path, "k").entries
    assert set(merged) == {"/a.py", "/b.py"}
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_diagnostics_survive_the_round_trip(tmp_path):
    from tapelint import linter, registry

    _, diagnostics = linter.analyse(BUGGY, "a.py", list(registry.all_rules().values()))
    from tapelint.fixer import with_edits

    diagnostics = with_edits(diagnostics, BUGGY, linter.analyse(BUGGY, "a.py", list(registry.all_rules().values()))[0])
    assert diagnostics and any(d.fix is not None for d in diagnostics)
    back = cache.decode(cache.encode(diagnostics), "a.py")
    assert [(d.code, d.message, d.location, d.end_location, d.fix, d.url, d.cell, d.noqa_row) for d in back] == \
        [(d.code, d.message, d.location, d.end_location, d.fix, d.url, d.cell, d.noqa_row) for d in diagnostics]


# -- what a cached run costs -------------------------------------------------------------------------------
PROBE = """
import sys
from tapelint.cli import main
code = main(sys.argv[1:])
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("libcst", "tensorflow", "keras", "numpy", "xml"))
rules = sorted(m for m in sys.modules if m.startswith("tapelint.rules.tl"))
# What a run that lints nothing new has no use for (plugin machinery where no plugin is installed,
# gitignore patterns where the defaults are bare names, formats it does not write, a TOML reader where
# there is no configuration file): each costs milliseconds of every pre-commit run.
optional = sorted(m for m in ("importlib.metadata", "pluggy", "pathspec", "email", "tomllib", "tempfile",
                              "difflib", "tapelint.reporting.junit", "tapelint.reporting.sarif",
                              "tapelint.reporting.json_format") if m in sys.modules)
print("HEAVY", heavy, "RULES", rules, "OPTIONAL", optional, file=sys.stderr)
sys.exit(code)
"""


def _probe(cwd: Path, *argv: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop(cache.ENV_CACHE_DIR, None)
    return subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_a_fully_cached_run_imports_neither_libcst_nor_the_rules(project):
    age(project / "a.py"), age(project / "b.py")
    cold = _probe(project, "check", ".")
    assert cold.returncode == 1 and "HEAVY ['libcst" in cold.stderr
    warm = _probe(project, "check", ".")
    assert warm.returncode == 1 and warm.stdout == cold.stdout
    assert "HEAVY [] RULES [] OPTIONAL []" in warm.stderr


def test_version_imports_neither_libcst_nor_tensorflow(tmp_path):
    proc = _probe(tmp_path, "--version")
    assert proc.returncode == 0 and proc.stdout.startswith("tapelint ")
    assert "HEAVY [] RULES []" in proc.stderr


def test_a_changed_file_without_trigger_words_imports_no_rule(project):
    # pre-commit on a file unrelated to autodiff: read, searched, done; the parser is never loaded.
    _probe(project, "check", ".")
    (project / "b.py").write_text(CLEAN + "print(1)\n")
    proc = _probe(project, "check", "b.py")
    assert proc.returncode == 0 and "HEAVY [] RULES []" in proc.stderr


def test_a_changed_file_loads_only_the_modules_of_the_rules_its_words_trigger(project):
    # pre-commit on a file that holds only `custom_gradient`: the four custom-gradient rules are imported
    # from their own modules, not every rule and plugin.
    _probe(project, "check", ".")
    (project / "b.py").write_text("import tensorflow as tf\n\n@tf.custom_gradient\ndef f(x):\n"
                                  "    return x, lambda dy: dy\n")
    proc = _probe(project, "check", "b.py")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "RULES ['tapelint.rules.tl011_custom_gradient_arity', 'tapelint.rules.tl012_custom_gradient_variables', " \
           "'tapelint.rules.tl013_custom_gradient_return', 'tapelint.rules.tl019_custom_gradient_keyword_tensors']" \
           in proc.stderr, proc.stderr


def test_a_catalog_entry_loads_the_registrys_own_class():
    from tapelint import manifest, registry

    for code, rule in registry.all_rules().items():
        entry = manifest.RuleInfo(**{k: tuple(v) if isinstance(v, list) else v for k, v in manifest.describe(rule).items()})
        assert entry.load() is rule, code


def test_the_packaged_catalog_describes_the_rules_as_they_are():
    from tapelint import manifest, registry
    from tapelint.rules import _catalog

    hint = "tapelint/rules/_catalog.py is out of date: run `python -m tapelint.manifest`"
    assert _catalog.SOURCES == manifest.rules_digest(), hint
    assert [dict(row) for row in _catalog.ROWS] == [manifest.describe(r) for r in registry.builtin_rules()], hint
    assert {code: entry.load() for code, entry in manifest.builtin_catalog().items()} == \
        {r.code: r for r in registry.builtin_rules()}


def test_a_packaged_catalog_written_from_other_rule_modules_is_not_used(monkeypatch):
    # A rule edited in a development install: its metadata may have changed, so the rules are imported.
    from tapelint import manifest, registry

    assert manifest.builtin_catalog() is not None
    monkeypatch.setattr(manifest, "rules_digest", lambda: "edited")
    assert manifest.builtin_catalog() is None
    assert manifest.catalog(None) == registry.all_rules()


def test_a_first_run_without_a_cache_on_a_file_without_trigger_words_imports_no_rule(project):
    # pre-commit in a fresh clone (no cache yet, or --no-cache): the packaged catalog names the rules.
    (project / "b.py").write_text(CLEAN + "print(1)\n")
    for argv in (["check", "--no-cache", "b.py"], ["check", "b.py"]):
        proc = _probe(project, *argv)
        assert proc.returncode == 0 and "HEAVY [] RULES []" in proc.stderr, (argv, proc.stderr)


def test_a_changed_file_every_screen_rules_out_imports_no_libcst(project):
    # pre-commit on a model file that mentions `kernel` and makes a variable, but where no rule can report:
    # the rule modules are imported for their screens, libcst (0.12 s) is not.
    _probe(project, "check", ".")
    (project / "b.py").write_text("import tensorflow as tf\n\nclass Dense(tf.Module):\n"
                                  "    def __init__(self, n):\n        self.kernel = tf.Variable(tf.zeros([n, n]))\n"
                                  "        self.kernel_size = n\n")
    proc = _probe(project, "check", "b.py")
    assert proc.returncode == 0 and "HEAVY [] RULES ['tapelint.rules.tl007_variable_rebound', " \
        "'tapelint.rules.tl010_layer_weight_overwritten'] OPTIONAL" in proc.stderr, proc.stderr
