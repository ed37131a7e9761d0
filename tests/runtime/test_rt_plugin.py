"""The pytest plugin: option, ini option, marker, fixture and summary, in real pytest sessions.

Each session runs in a subprocess, as a user's would: the plugin is found through its pytest11 entry point
(or loaded with -p where tapelint is not installed).
"""

import fnmatch
import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INSTALLED = any(e.value == "tapelint.pytest_plugin" for e in importlib.metadata.entry_points(group="pytest11"))
PLUGIN_ARGS = [] if INSTALLED else ["-p", "tapelint.pytest_plugin"]

GRADIENTS = '''
import tensorflow as tf

from fixtures.runtime.correct_gradients import softplus
from fixtures.runtime.wrong_gradients import softplus_scaled, sum_scalar_gradient


def train_step(fn):
    x = tf.constant([0.5, -1.0, 2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    return tape.gradient(y, x)
'''


def session(tmp_path, tests, *args, ini=None):
    """Run pytest on ``tests`` (file name -> source) in a fresh directory; return (exit code, output)."""
    (tmp_path / "gradients.py").write_text(GRADIENTS)
    for name, source in tests.items():
        (tmp_path / name).write_text(source)
    if ini is not None:
        (tmp_path / "pytest.ini").write_text(ini)
    # A fixed width: pytest cuts the short summary to the terminal's width, which differs between machines.
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", COLUMNS="200",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-m", "pytest", *PLUGIN_ARGS, "-p", "no:cacheprovider",
                           "--rootdir", str(tmp_path), *args, str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout + done.stderr


def assert_lines(output, patterns):
    """Every pattern matches a line (fnmatch), in this order."""
    lines = output.splitlines()
    at = 0
    for pattern in patterns:
        for i in range(at, len(lines)):
            if fnmatch.fnmatchcase(lines[i], pattern):
                at = i + 1
                break
        else:
            raise AssertionError(f"no line matches {pattern!r} (after line {at}) in:\n{output}")


def test_the_entry_point_is_declared():
    assert 'tapelint = "tapelint.pytest_plugin"' in (ROOT / "pyproject.toml").read_text()


def test_option_fast_checks_every_custom_gradient_and_prints_a_summary(tmp_path):
    code, out = session(tmp_path, {"test_model.py": '''
from gradients import softplus, softplus_scaled, train_step


def test_good():
    train_step(softplus)


def test_bad():
    train_step(softplus_scaled)
'''}, "--tapelint-runtime=fast")
    assert code == 1
    assert_lines(out, [
        "*GradientCheckError: softplus_scaled (*wrong_gradients.py:*): wrong gradient for argument `x`*",
        "*tapelint: custom gradients checked*",
        "function*calls*mode*max error*verdict*",
        "softplus_scaled (*wrong_gradients.py:*)*1*fast*FAILED*",
        "softplus (*correct_gradients.py:*)*1*fast*ok*",
        "*1 failed, 1 passed*",
    ])


def test_ini_option_contracts_and_the_command_line_wins(tmp_path):
    tests = {"test_model.py": '''
from gradients import softplus_scaled, sum_scalar_gradient, train_step


def test_values_not_checked_in_contracts_mode():
    train_step(softplus_scaled)


def test_shape_checked():
    train_step(sum_scalar_gradient)
'''}
    code, out = session(tmp_path, tests, ini="[pytest]\ntapelint_runtime = contracts\n")
    assert code == 1
    assert_lines(out, ["*GradientContractError: sum_scalar_gradient*shape *, expected *",
                       "*1 failed, 1 passed*"])
    code, out = session(tmp_path, tests, "--tapelint-runtime=off", ini="[pytest]\ntapelint_runtime = contracts\n")
    assert code == 0, out
    assert_lines(out, ["*2 passed*"])


def test_marker_checks_one_test(tmp_path):
    code, out = session(tmp_path, {"test_model.py": '''
import pytest
from gradients import softplus_scaled, sum_scalar_gradient, train_step


@pytest.mark.gradcheck
def test_marked():
    train_step(softplus_scaled)


def test_unmarked():
    train_step(softplus_scaled)


@pytest.mark.gradcheck(mode="contracts")
def test_marked_contracts():
    train_step(softplus_scaled)
    train_step(sum_scalar_gradient)


@pytest.mark.gradcheck(mode="sideways")
def test_bad_mode():
    pass
'''}, "-rA")
    assert code == 1
    assert_lines(out, [
        "E *GradientCheckError: softplus_scaled (*wrong_gradients.py:*): wrong gradient for argument `x`*",
        "E *GradientContractError: sum_scalar_gradient (*wrong_gradients.py:*): *shape *, expected *",
        "E *@pytest.mark.gradcheck: mode must be contracts, fast or full, got 'sideways'",
    ])
    assert_lines(out, ["PASSED test_model.py::test_unmarked", "FAILED test_model.py::test_marked - *",
                       "FAILED test_model.py::test_marked_contracts - *", "FAILED test_model.py::test_bad_mode - *",
                       "*3 failed, 1 passed*"])


def test_gradcheck_fixture_fails_with_the_message_and_returns_the_report(tmp_path):
    code, out = session(tmp_path, {"test_model.py": '''
import tensorflow as tf
from gradients import softplus, softplus_scaled


def test_report(gradcheck):
    report = gradcheck(softplus, tf.constant([0.5, -1.0]), mode="full", seed=3)
    assert report.mode == "full" and report.seed == 3 and report.sources[0].name == "x"


def test_failure(gradcheck):
    gradcheck(softplus_scaled, tf.constant([0.5, -1.0]))
'''})
    assert code == 1
    assert_lines(out, [
        "GradientCheckError: softplus_scaled (*wrong_gradients.py:*): wrong gradient for argument `x` (shape *",
        "*analytical * numerical *",
        "softplus_scaled (*wrong_gradients.py:*)*1*fast*FAILED*",  # failures first in the summary
        "softplus (*correct_gradients.py:*)*1*full*ok*",
    ])
    assert "_engine.py" not in out  # no traceback through the checker or TensorFlow
    # Said once in the failure's report, not again as a chained error (the short summary repeats it once more).
    report = out.split("short test summary info")[0]
    assert report.count("wrong gradient for argument `x`") == 1


def test_bad_option_values_are_usage_errors(tmp_path):
    tests = {"test_nothing.py": "def test_nothing():\n    pass\n"}
    code, out = session(tmp_path, tests, "--tapelint-runtime=everything")
    assert code == 4 and "invalid choice: 'everything'" in out
    code, out = session(tmp_path, tests, ini="[pytest]\ntapelint_runtime = sometimes\n")
    assert code == 4
    assert_lines(out, ["*tapelint_runtime must be one of off, contracts, fast, full*"])


def test_a_session_with_the_plugin_off_never_imports_tensorflow(tmp_path):
    code, out = session(tmp_path, {"test_plain.py": '''
import sys


def test_plain(request):
    assert request.config.pluginmanager.hasplugin("tapelint") or request.config.pluginmanager.hasplugin(
        "tapelint.pytest_plugin")
    assert "tensorflow" not in sys.modules
'''})
    assert code == 0, out
    assert "tapelint: custom gradients checked" not in out


def test_importing_the_plugin_does_not_import_tensorflow():
    code = ("import sys, tapelint.pytest_plugin, tapelint.runtime; "
            "from tapelint.runtime import GradientError, GradientCheckError; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
