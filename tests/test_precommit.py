"""The pre-commit hook (.pre-commit-hooks.yaml), run by the real `pre-commit` tool on a real `git commit`.

Like `pre-commit try-repo`, the hook repository is a snapshot of this checkout's working tree (so
uncommitted changes are what is tested); a temporary project repository points at it from its
`.pre-commit-config.yaml`. pre-commit installs tapelint from the snapshot into its own environment
(from PyPI or the configured index: libcst, pluggy, pathspec), so this test takes a minute.

pre-commit is in the `dev` extra: without it this test fails rather than skips.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

BAD = """\
import tensorflow as tf

x = tf.Variable(3.0)
with tf.GradientTape() as tape:
    y = x * x
    z = y * y
dz_dx = tape.gradient(z, x)
dy_dx = tape.gradient(y, x)
"""

GOOD = """\
import tensorflow as tf


def train_step(model, optimizer, x, y):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss
"""


def _notebook(*cells: str) -> str:
    return json.dumps({
        "cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                   "source": c.splitlines(keepends=True)} for c in cells],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5,
    }, indent=1) + "\n"


BAD_NOTEBOOK = _notebook(
    "import tensorflow as tf\nx = tf.Variable(3.0)\nwith tf.GradientTape() as t:\n    y = x * x\n    z = y * y\n",
    "dz = t.gradient(z, x)\ndy = t.gradient(y, x)\n",
)


def _git_env(home: Path) -> dict[str, str]:
    # Nothing of the caller's git state (a test run from inside a git hook sets GIT_DIR...) leaks in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") and k != "PRE_COMMIT"}
    env.update(
        HOME=str(home), PRE_COMMIT_HOME=str(home / "pre-commit-cache"), GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Test", GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="Test", GIT_COMMITTER_EMAIL="test@example.com",
        PYTHONPATH=str(ROOT),  # for `python -m tapelint` below; pre-commit's own env ignores it
    )
    env.pop("NO_COLOR", None)
    return env


def _run(*argv: str, cwd: Path, env: dict[str, str], check: bool = True, timeout: int = 600):
    proc = subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, f"{' '.join(argv)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _snapshot(env: dict[str, str], dest: Path) -> str:
    """This checkout's working tree (tracked and untracked, not ignored) as a one-commit repository."""
    listed = _run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT, env=env).stdout
    dest.mkdir()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    _run("git", "init", "-q", cwd=dest, env=env)
    _run("git", "add", "-A", cwd=dest, env=env)
    _run("git", "commit", "-q", "-m", "snapshot", cwd=dest, env=env)
    return _run("git", "rev-parse", "HEAD", cwd=dest, env=env).stdout.strip()


def test_commit_is_blocked_by_a_finding_then_passes_after_the_fix(tmp_path):
    try:
        import pre_commit  # noqa: F401
    except ImportError:
        pytest.fail("pre-commit is not installed: it is in the `dev` extra (pip install -e '.[dev]')")
    if shutil.which("git") is None:
        pytest.fail("git is not installed")
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: nothing for pre-commit to install the hook from")
    env = _git_env(tmp_path)
    rev = _snapshot(env, tmp_path / "hook-repo")

    project = tmp_path / "project"
    project.mkdir()
    _run("git", "init", "-q", cwd=project, env=env)
    (project / ".pre-commit-config.yaml").write_text(
        "repos:\n"
        f"  - repo: {json.dumps(str(tmp_path / 'hook-repo'))}\n"
        f"    rev: {rev}\n"
        "    hooks:\n"
        "      - id: tapelint\n"
    )
    (project / "bad.py").write_text(BAD)
    (project / "good.py").write_text(GOOD)
    (project / "analysis.ipynb").write_text(BAD_NOTEBOOK)
    (project / "README.md").write_text("GradientTape notes\n")
    _run(sys.executable, "-m", "pre_commit", "install", cwd=project, env=env)
    _run("git", "add", ".", cwd=project, env=env)

    blocked = _run("git", "commit", "-m", "add training code", cwd=project, env=env, check=False)
    output = blocked.stdout + blocked.stderr
    assert blocked.returncode != 0, output
    assert "tapelint" in output and "Failed" in output
    assert "bad.py:8:9: TL002 [*] tape `tape` is not persistent" in output
    assert "analysis.ipynb:cell 2:2:6: TL002 [*] tape `t` is not persistent" in output
    assert "good.py" not in output and "README.md" not in output
    assert _run("git", "rev-list", "--all", cwd=project, env=env).stdout == ""  # nothing was committed

    fixed = _run(sys.executable, "-m", "tapelint", "check", "--fix", "bad.py", "analysis.ipynb", cwd=project, env=env)
    assert fixed.stdout == "Found 2 errors (2 fixed, 0 remaining).\n"
    _run("git", "add", ".", cwd=project, env=env)
    passed = _run("git", "commit", "-m", "add training code", cwd=project, env=env, check=False)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "tapelint" in passed.stdout + passed.stderr and "Passed" in passed.stdout + passed.stderr
    assert "tf.GradientTape(persistent=True) as tape" in (project / "bad.py").read_text()
