"""File discovery: what a walk finds, what it skips, and how named paths are treated."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tapelint.config import Overrides, resolve_settings
from tapelint.discovery import discover
from tapelint.errors import UsageError


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n")


def found(root: Path, *paths: str, config: str | None = None, **overrides) -> list[str]:
    """What ``tapelint check PATHS`` would lint, relative to root, with forward slashes."""
    settings = resolve_settings(Overrides(**overrides), {}, cwd=root, config_file=config, isolated=config is None)
    return [p.relative_to(root).as_posix() for p in discover(list(paths) or ["."], settings)]


def test_walk_finds_python_files_sorted(tmp_path):
    touch(tmp_path, "b.py", "a.py", "pkg/z.py", "pkg/sub/y.py", "README.md", "script", "pkg/data.json", "stub.pyi")
    assert found(tmp_path) == ["a.py", "b.py", "pkg/sub/y.py", "pkg/z.py"]


@pytest.mark.parametrize("directory", [
    ".git", ".hg", ".svn", ".venv", "venv", "build", "dist", "__pycache__", ".tox", ".nox", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", ".tapelint_cache", "node_modules", "site-packages", ".eggs",
    "pkg.egg-info", "nested/build", "nested/deeper/node_modules",
])
def test_default_exclusions(tmp_path, directory):
    touch(tmp_path, "keep.py", f"{directory}/skipped.py")
    assert found(tmp_path) == ["keep.py"]


def test_any_directory_with_pyvenv_cfg_is_a_virtualenv(tmp_path):
    touch(tmp_path, "env/pyvenv.cfg", "env/lib/mod.py", "other_env/pyvenv.cfg", "other_env/x.py",
          "plain/env/mod.py")
    # `env` without pyvenv.cfg is an ordinary package.
    assert found(tmp_path) == ["plain/env/mod.py"]


def test_exclude_replaces_the_defaults_extend_exclude_adds(tmp_path):
    touch(tmp_path, "a.py", "build/b.py", "gen/g.py", "pkg/gen/h.py", "pkg/test_x.py")
    assert found(tmp_path, extend_exclude=["gen"]) == ["a.py", "pkg/test_x.py"]
    assert found(tmp_path, extend_exclude=["/gen", "test_*.py"]) == ["a.py", "pkg/gen/h.py"]
    assert found(tmp_path, exclude=["gen"]) == ["a.py", "build/b.py", "pkg/test_x.py"]
    assert found(tmp_path, exclude=["gen,pkg"]) == ["a.py", "build/b.py"]  # comma-separated


def test_config_patterns_are_relative_to_the_config_file(tmp_path):
    touch(tmp_path, "proj/src/gen/g.py", "proj/src/m.py", "proj/gen/top.py")
    (tmp_path / "proj" / "tapelint.toml").write_text("extend-exclude = ['src/gen']\n")
    root = tmp_path / "proj" / "src"
    settings = resolve_settings(Overrides(), {}, cwd=root, config_file="../tapelint.toml")
    assert [p.relative_to(tmp_path).as_posix() for p in discover(["."], settings)] == ["proj/src/m.py"]


def test_gitignore_root_nested_and_negated(tmp_path):
    touch(tmp_path, "a.py", "secret.py", "logs/l.py", "top.py", "pkg/top.py", "pkg/gen_1.py", "pkg/keep_gen.py",
          "pkg/inner/own.py", "pkg/inner/other.py", "other/own.py")
    (tmp_path / ".gitignore").write_text("# comment\nsecret.py\nlogs/\n/top.py\n")
    (tmp_path / "pkg" / ".gitignore").write_text("gen_*.py\n*gen.py\n!keep_gen.py\n")
    (tmp_path / "pkg" / "inner" / ".gitignore").write_text("own.py\n")
    assert found(tmp_path) == ["a.py", "other/own.py", "pkg/inner/other.py", "pkg/keep_gen.py", "pkg/top.py"]
    assert len(found(tmp_path, respect_gitignore=False)) == 10


def test_deeper_gitignore_can_reinclude(tmp_path):
    touch(tmp_path, "pkg/a_gen.py", "pkg/b_gen.py", "c_gen.py")
    (tmp_path / ".gitignore").write_text("*_gen.py\n")
    (tmp_path / "pkg" / ".gitignore").write_text("!a_gen.py\n")
    assert found(tmp_path) == ["pkg/a_gen.py"]


def test_gitignore_above_the_walked_directory_applies_inside_a_repository(tmp_path):
    touch(tmp_path, "repo/src/gen.py", "repo/src/m.py", "repo/src/pkg/gen.py")
    (tmp_path / "repo" / ".git").mkdir()
    (tmp_path / "repo" / ".gitignore").write_text("gen.py\n")
    assert found(tmp_path / "repo" / "src") == ["m.py"]


def test_git_info_exclude(tmp_path):
    touch(tmp_path, "a.py", "local.py")
    (tmp_path / ".git" / "info").mkdir(parents=True)
    (tmp_path / ".git" / "info" / "exclude").write_text("local.py\n")
    assert found(tmp_path) == ["a.py"]


def test_gitignore_outside_a_repository_above_the_walk_is_not_read(tmp_path):
    touch(tmp_path, "src/gen.py")
    (tmp_path / ".gitignore").write_text("gen.py\n")
    assert found(tmp_path / "src") == ["gen.py"]


def test_named_files_are_linted_even_if_excluded_unless_force_exclude(tmp_path):
    touch(tmp_path, "build/b.py", "ignored.py", "gen.py", "script")
    (tmp_path / ".gitignore").write_text("ignored.py\n")
    named = ("build/b.py", "gen.py", "script", "ignored.py")
    assert found(tmp_path, *named, extend_exclude=["gen.py"]) == ["build/b.py", "gen.py", "ignored.py", "script"]
    assert found(tmp_path, *named, extend_exclude=["gen.py"], force_exclude=True) == ["ignored.py", "script"]


def test_named_excluded_directory_is_walked_unless_force_exclude(tmp_path):
    touch(tmp_path, "build/b.py", "build/sub/c.py", "a.py")
    assert found(tmp_path, "build") == ["build/b.py", "build/sub/c.py"]
    assert found(tmp_path, "build", force_exclude=True) == []
    # Still excluded when the walk only passes through it.
    assert found(tmp_path, ".") == ["a.py"]


def test_named_gitignored_directory_is_walked(tmp_path):
    touch(tmp_path, "generated/g.py")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text("generated/\n")
    assert found(tmp_path) == []
    assert found(tmp_path, "generated") == ["generated/g.py"]


def test_duplicates_are_removed(tmp_path):
    touch(tmp_path, "a.py", "pkg/b.py")
    assert found(tmp_path, ".", "pkg", "a.py", "./a.py", "pkg/../a.py") == ["a.py", "pkg/b.py"]


def test_missing_path_is_a_usage_error(tmp_path):
    touch(tmp_path, "a.py")
    with pytest.raises(UsageError, match=r"^nope/x\.py: no such file or directory$"):
        found(tmp_path, "a.py", "nope/x.py")


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlinked_directories_are_not_followed_but_symlinked_files_are(tmp_path):
    touch(tmp_path, "real/a.py", "other/b.py")
    try:
        (tmp_path / "real" / "loop").symlink_to(tmp_path / "real", target_is_directory=True)
        (tmp_path / "real" / "link.py").symlink_to(tmp_path / "other" / "b.py")
    except OSError:
        pytest.skip("cannot create symlinks here")
    assert found(tmp_path, "real") == ["real/a.py", "real/link.py"]


def test_unreadable_directory_warns_and_continues(tmp_path, monkeypatch):
    touch(tmp_path, "a.py", "locked/b.py")
    real_scandir = os.scandir

    def scandir(path):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    # Simulated: chmod 0 does not stop root, which CI containers often are.
    monkeypatch.setattr("tapelint.discovery.os.scandir", scandir)
    warnings: list[str] = []
    settings = resolve_settings(Overrides(), {}, cwd=tmp_path, isolated=True)
    files = discover(["."], settings, warn=warnings.append)
    assert [p.name for p in files] == ["a.py"]
    assert warnings == [f"cannot read directory {tmp_path / 'locked'}: Permission denied"]


DIRECTORIES = ["build", "dist", "x.egg-info", "keep", ".hidden", "_b", "pkg.py"]
FILES = ["a.py", "build.py", "keep.py", ".h.py"]


def _tree(root: Path) -> None:
    """Directories and files with the names the patterns below are about, two levels deep."""
    touch(root, *FILES)
    for first in DIRECTORIES:
        touch(root, *(f"{first}/{f}" for f in FILES), f"{first}/pkg.py")  # pkg.py: a directory above, a file here
        for second in DIRECTORIES:
            if second != "pkg.py":
                touch(root, *(f"{first}/{second}/{f}" for f in FILES[:2]))


@pytest.mark.parametrize("patterns", [
    None,  # the default exclusions
    ["build"], ["build/"], ["*.egg-info"], ["*.egg-info/"], ["build", "build/"], ["b*", "?ist/"],
    ["*.py"], [".*"], ["build.py", "keep/"], ["pkg.py/"], ["pkg.py"], ["p*.py/"],
    # not bare names: gitignore's full rules
    ["keep/build"], ["/build"], ["**/dist"], ["*", "!keep", "!keep/**"], ["[bd]*"],
])
def test_bare_name_exclusions_match_as_gitignore_does(tmp_path, patterns):
    # A walk tests bare-name patterns against each entry's own name only; the result must be what
    # gitignore's rules give for the full paths.
    import pathspec

    _tree(tmp_path)
    settings = resolve_settings(Overrides(exclude=patterns), {}, cwd=tmp_path, isolated=True)
    spec = pathspec.GitIgnoreSpec.from_lines(patterns if patterns is not None else settings.exclude[0].patterns)
    everything = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.py") if p.is_file())

    def excluded(path: str) -> bool:  # the file or a directory above it (git does not look inside those)
        parts = path.split("/")
        return any(spec.match_file("/".join(parts[:i]) + "/") for i in range(1, len(parts))) or spec.match_file(path)

    expected = [p for p in everything if not excluded(p)]
    assert [p.relative_to(tmp_path).as_posix() for p in discover(["."], settings)] == expected
    assert expected != everything or patterns in (["keep/build"],)


@pytest.mark.parametrize("patterns", [
    ["build"], ["build/"], ["*.egg-info"], ["*.egg-info/"], ["b*", "?ist/"], ["*.py"], [".*"], ["pkg.py/"], ["*"],
])
def test_bare_name_patterns_match_every_path_as_gitignore_does(tmp_path, patterns):
    # PatternSet.matches answers bare names without pathspec, for any path: files and directories,
    # under its base or outside it (where gitignore's unanchored patterns still match).
    import pathspec

    from tapelint.config import PatternSet, relative_key

    _tree(tmp_path)
    spec = pathspec.GitIgnoreSpec.from_lines(patterns)
    for base in (tmp_path, tmp_path / "keep", tmp_path / "elsewhere"):
        pattern_set = PatternSet(base, tuple(patterns))
        assert pattern_set.name_matcher is not None
        for path in [tmp_path, *tmp_path.rglob("*")]:
            is_dir = path.is_dir()
            key = relative_key(path, base, is_dir)
            assert pattern_set.matches(path, is_dir) == spec.match_file(key), (base, key)


@pytest.mark.parametrize("patterns", [["keep/build"], ["/build"], ["**/dist"], ["*", "!keep"], ["**"], ["/*"]])
def test_no_pattern_matches_its_own_base_as_gitignore_says(tmp_path, patterns):
    # PatternSet.matches answers for its base directory without pathspec (so a run from a directory
    # with the default exclusions never imports it): what gitignore's rules give for the empty path.
    import pathspec

    from tapelint.config import PatternSet

    assert PatternSet(tmp_path, tuple(patterns)).matches(tmp_path, True) is False
    assert pathspec.GitIgnoreSpec.from_lines(patterns).match_file("") is False
