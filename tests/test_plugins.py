"""Third-party rule packs, for real: the example plugin package (tests/plugin_example) is built and
installed with pip into a directory of its own, which subprocesses of `python -m tapelint` get on
PYTHONPATH, so tapelint finds it through the `tapelint` entry-point group as it would a package from
PyPI, and this test environment stays as it was."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_SOURCE = Path(__file__).resolve().parent / "plugin_example"
ORIGIN = "tapelint-example-plugin 0.1.0"

BUGGY = """\
import tensorflow as tf

x = tf.Variable(3.0)
with tf.GradientTape() as tape:
    y = x * x
tape.gradient(y, x)
"""


def _builds_without_isolation() -> bool:
    """setuptools can build a wheel here without fetching anything (bdist_wheel is in setuptools
    70.1 and later, in the `wheel` package before)."""
    try:
        import setuptools
    except ImportError:
        return False
    version = tuple(int(p) for p in setuptools.__version__.split(".")[:2] if p.isdigit())
    return version >= (70, 1) or importlib.util.find_spec("wheel") is not None


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory) -> Path:
    """A directory holding the installed example plugin (its package and .dist-info)."""
    work = tmp_path_factory.mktemp("plugin")
    source = work / "src"
    # Built from a copy: pip builds in the source tree, which must stay clean.
    shutil.copytree(PLUGIN_SOURCE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = work / "site"
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-input",
               "--disable-pip-version-check", "--target", str(site), str(source)]
    if _builds_without_isolation():
        command.insert(4, "--no-build-isolation")
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"installing the example plugin failed:\n{proc.stdout}\n{proc.stderr}"
    assert (site / "tapelint_example_plugin").is_dir()
    return site


def run(*argv, cwd: Path, path: list[Path], module: str = "tapelint") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in [ROOT, *path])
    return subprocess.run([sys.executable, "-m", module, *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_rules_lists_the_plugin_rule_with_its_package(plugin_site, tmp_path):
    proc = run("rules", cwd=tmp_path, path=[plugin_site])
    assert proc.returncode == 0, proc.stderr
    [row] = [line for line in proc.stdout.splitlines() if line.startswith("TPX001")]
    assert row.split()[:5] == ["TPX001", "gradient-result-discarded", "tapelint-example-plugin", "0.1.0", "on"]
    builtin = next(line for line in proc.stdout.splitlines() if line.startswith("TL001"))
    assert builtin.split()[2] == "tapelint"
    rows = json.loads(run("rules", "--output-format", "json", cwd=tmp_path, path=[plugin_site]).stdout)
    assert {r["code"]: r["origin"] for r in rows}["TPX001"] == ORIGIN


def test_rule_docs_name_the_package(plugin_site, tmp_path):
    proc = run("rule", "TPX001", cwd=tmp_path, path=[plugin_site])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"# gradient-result-discarded (TPX001)\n\nProvided by the `{ORIGIN}` package.")
    assert "tape.gradient(y, x)\n" in proc.stdout and "# expect" not in proc.stdout


def test_plugin_rule_lints_with_the_builtin_rules(plugin_site, tmp_path):
    (tmp_path / "train.py").write_text(BUGGY)
    proc = run("check", "--output-format", "concise", cwd=tmp_path, path=[plugin_site])
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == (
        "train.py:6:1: TPX001 the result of `tape.gradient` is thrown away: the backward pass runs for "
        "nothing; assign it\n"
    )
    # Selected, ignored and configured like a built-in rule.
    assert run("check", "--ignore", "TPX", cwd=tmp_path, path=[plugin_site]).returncode == 0
    (tmp_path / "pyproject.toml").write_text('[tool.tapelint]\nper-file-ignores = { "train.py" = ["TPX001"] }\n')
    assert run("check", cwd=tmp_path, path=[plugin_site]).returncode == 0


def test_plugin_output_format(plugin_site, tmp_path):
    (tmp_path / "train.py").write_text(BUGGY)
    proc = run("check", "--output-format", "markdown", cwd=tmp_path, path=[plugin_site])
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("| File | Line | Code | Message |\n| --- | ---: | --- | --- |\n| train.py | 6 | TPX001 |")
    assert proc.stdout.endswith("\n1 finding.\n")


def test_plugin_examples_run_through_tapelint_testing(plugin_site, tmp_path):
    """The plugin's own suite: its examples as tests, through tapelint.testing."""
    proc = run("-q", "-p", "no:cacheprovider", "-p", "no:tapelint", str(PLUGIN_SOURCE / "example_tests.py"),
               cwd=tmp_path, path=[plugin_site], module="pytest")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "8 passed" in proc.stdout


def test_without_the_plugin_its_codes_are_unknown(tmp_path):
    proc = run("check", "--select", "TPX001", cwd=tmp_path, path=[])
    assert proc.returncode == 2
    assert "TPX001" in proc.stderr


# -- clashes ------------------------------------------------------------------------------------------------
def _fake_plugin(root: Path, dist: str, module: str, code: str) -> Path:
    """A second installed plugin (module + .dist-info, as pip lays them out) providing rule ``code``."""
    root.mkdir()
    (root / f"{module}.py").write_text(
        "from tapelint.hookspecs import hookimpl\n"
        "from tapelint.rules.base import Rule\n\n"
        "class Clashing(Rule):\n"
        f"    code = {code!r}\n"
        "    name = 'clashing-rule'\n"
        "    summary = 'clashes'\n"
        "    message = 'clash'\n\n"
        "    def check(self, model):\n"
        "        return ()\n\n"
        "@hookimpl\n"
        "def tapelint_rules():\n"
        "    return [Clashing]\n"
    )
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[tapelint]\nclash = {module}\n")
    return root


def test_a_plugin_reusing_a_builtin_code_is_a_configuration_error(tmp_path):
    site = _fake_plugin(tmp_path / "site", "clash-builtin", "clash_builtin", "TL001")
    proc = run("check", ".", cwd=tmp_path, path=[site])
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == (
        "tapelint: error: rule code TL001 of plugin 'clash-builtin 1.0' (Clashing) clashes with 'tapelint' "
        "(TargetOutsideTape)\n"
    )
    assert run("rules", cwd=tmp_path, path=[site]).returncode == 2


def test_two_plugins_with_one_code_are_a_configuration_error(plugin_site, tmp_path):
    site = _fake_plugin(tmp_path / "site", "clash-plugin", "clash_plugin", "TPX001")
    proc = run("rules", cwd=tmp_path, path=[plugin_site, site])
    assert proc.returncode == 2
    assert proc.stderr.startswith("tapelint: error: rule code TPX001 of plugin ")
    assert "clash-plugin 1.0" in proc.stderr and ORIGIN in proc.stderr


def test_a_plugin_installed_after_a_cached_run_is_seen_by_the_next_run(plugin_site, tmp_path):
    # The rule catalog (the package's own without plugins, one cached in the cache directory with them)
    # follows the plugins installed: adding one, and taking it away again, is noticed without clearing
    # the cache.
    (tmp_path / "train.py").write_text(BUGGY)
    without = run("check", "--output-format", "concise", cwd=tmp_path, path=[])
    assert without.returncode == 0 and without.stdout == "", without.stderr
    with_plugin = run("check", "--output-format", "concise", cwd=tmp_path, path=[plugin_site])
    assert with_plugin.returncode == 1 and with_plugin.stdout.startswith("train.py:6:1: TPX001 "), with_plugin.stderr
    again = run("check", "--output-format", "concise", "--select", "TPX", cwd=tmp_path, path=[])
    assert again.returncode == 2 and "unknown rule code or prefix 'TPX'" in again.stderr
