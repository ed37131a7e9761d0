"""The pytest plugin: option, ini option, marker, fixture and summary, run in real pytest sessions."""

import importlib.metadata
import subprocess
import sys

import pytest

# The plugin is found through its pytest11 entry point once tapelint is installed; load it by hand otherwise.
INSTALLED = any(e.value == "tapelint.pytest_plugin" for e in importlib.metadata.entry_points(group="pytest11"))
PLUGIN_ARGS = () if INSTALLED else ("-p", "tapelint.pytest_plugin")

GRADIENTS = '''
import tensorflow as tf


@tf.custom_gradient
def softplus(x):
    def grad(dy):
        return dy * tf.sigmoid(x)

    return tf.math.softplus(x), grad


@tf.custom_gradient
def softplus_doubled(x):
    def grad(dy):
        return 2 * dy * tf.sigmoid(x)

    return tf.math.softplus(x), grad


@tf.custom_gradient
def square_scalar_gradient(x):
    def grad(dy):
        return tf.reduce_sum(2 * dy * x)

    return x * x, grad


def train_step(fn):
    x = tf.constant([0.5, -1.0, 2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    return tape.gradient(y, x)
'''


@pytest.fixture
def project(pytester):
    pytester.makepyfile(gradients=GRADIENTS)
    pytester.syspathinsert()
    return pytester


def run(pytester, *args):
    return pytester.runpytest(*PLUGIN_ARGS, "-p", "no:cacheprovider", *args)


def test_the_entry_point_is_declared():
    text = open(__file__.replace("tests/runtime/test_rt_plugin.py", "pyproject.toml")).read()
    assert 'tapelint = "tapelint.pytest_plugin"' in text


def test_option_fast_checks_every_custom_gradient_and_prints_a_summary(project):
    project.makepyfile(test_model='''
from gradients import softplus, softplus_doubled, train_step


def test_good():
    train_step(softplus)


def test_bad():
    train_step(softplus_doubled)
''')
    result = run(project, "--tapelint-runtime=fast")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*GradientCheckError: softplus_doubled (gradients.py:*): wrong gradient for argument `x`*",
        "*tapelint: custom gradients checked*",
        "function*calls*mode*max error*verdict*",
        "softplus_doubled (gradients.py:*)*1*fast*FAILED*",
        "softplus (gradients.py:*)*1*fast*ok*",
    ])


def test_off_by_default_and_no_summary(project):
    project.makepyfile(test_model='''
from gradients import softplus_doubled, train_step


def test_bad_but_unchecked():
    train_step(softplus_doubled)
''')
    result = run(project)
    result.assert_outcomes(passed=1)
    assert "tapelint: custom gradients checked" not in result.stdout.str()


def test_ini_option_and_the_command_line_wins(project):
    project.makeini("[pytest]\ntapelint_runtime = contracts\n")
    project.makepyfile(test_model='''
from gradients import softplus_doubled, square_scalar_gradient, train_step


def test_values_not_checked_in_contracts_mode():
    train_step(softplus_doubled)


def test_shape_checked():
    train_step(square_scalar_gradient)
''')
    result = run(project)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*GradientContractError: square_scalar_gradient*shape *, expected *"])
    result = run(project, "--tapelint-runtime=off")
    result.assert_outcomes(passed=2)


def test_bad_option_values_are_usage_errors(project):
    project.makepyfile(test_model="def test_nothing():\n    pass\n")
    result = run(project, "--tapelint-runtime=everything")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    project.makeini("[pytest]\ntapelint_runtime = sometimes\n")
    result = run(project)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*tapelint_runtime must be one of off, contracts, fast, full*"])


def test_marker_checks_one_test(project):
    project.makepyfile(test_model='''
import pytest
from gradients import softplus_doubled, square_scalar_gradient, train_step


@pytest.mark.gradcheck
def test_marked():
    train_step(softplus_doubled)


def test_unmarked():
    train_step(softplus_doubled)


@pytest.mark.gradcheck(mode="contracts")
def test_marked_contracts():
    train_step(softplus_doubled)
    train_step(square_scalar_gradient)


@pytest.mark.gradcheck(mode="sideways")
def test_bad_mode():
    pass
''')
    result = run(project, "-rA")
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines([
        "E *GradientCheckError: softplus_doubled (gradients.py:*): wrong gradient for argument `x`*",
        "E *GradientContractError: square_scalar_gradient (gradients.py:*): *shape *, expected *",
        "E *@pytest.mark.gradcheck: mode must be contracts, fast or full, got 'sideways'",
    ])
    result.stdout.fnmatch_lines(["PASSED test_model.py::test_unmarked", "FAILED test_model.py::test_marked - *",
                                 "FAILED test_model.py::test_marked_contracts - *",
                                 "FAILED test_model.py::test_bad_mode - *"])


def test_gradcheck_fixture_fails_with_the_message_and_returns_the_report(project):
    project.makepyfile(test_model='''
import tensorflow as tf
from gradients import softplus, softplus_doubled


def test_report(gradcheck):
    report = gradcheck(softplus, tf.constant([0.5, -1.0]), mode="full", seed=3)
    assert report.mode == "full" and report.seed == 3 and report.sources[0].name == "x"


def test_failure(gradcheck):
    gradcheck(softplus_doubled, tf.constant([0.5, -1.0]))
''')
    result = run(project)
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    result.stdout.fnmatch_lines([
        "GradientCheckError: softplus_doubled (gradients.py:*): wrong gradient for argument `x` (shape *",
        "*analytical * numerical *",
    ])
    assert "_engine.py" not in out  # no traceback through the checker or TensorFlow
    assert out.count("wrong gradient for argument `x`") == 1  # said once, not once more as a chained error
    result.stdout.fnmatch_lines(["softplus_doubled (gradients.py:*)*1*fast*FAILED*",  # failures first
                                 "softplus (gradients.py:*)*1*full*ok*"])


def test_importing_the_plugin_does_not_import_tensorflow():
    code = ("import sys, tapelint.pytest_plugin, tapelint.runtime; "
            "from tapelint.runtime import GradientError, GradientCheckError; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_session_with_the_plugin_off_never_imports_tensorflow(pytester):
    pytester.makepyfile(test_plain='''
import sys


def test_plain():
    assert "tensorflow" not in sys.modules
''')
    result = pytester.runpytest_subprocess(*PLUGIN_ARGS, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
