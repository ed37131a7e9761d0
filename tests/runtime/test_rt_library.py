"""The fixture library end to end: every correct gradient passes, every wrong one is caught and named."""

import warnings

import pytest
import tensorflow as tf

from fixtures.runtime import correct_gradients, wrong_gradients
from tapelint.runtime import (GradientCheckError, GradientContractError, GradientError, NondeterminismError,
                              check_gradients, checking)

DTYPES = [tf.float32, tf.float64]
CORRECT = sorted(correct_gradients.CASES)
WRONG = sorted(wrong_gradients.CASES)


@pytest.mark.parametrize("mode", ["fast", "full"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("name", CORRECT)
def test_correct_gradient_passes(name, dtype, mode):
    for seed in range(3 if mode == "fast" else 1):
        fn, args, kwargs = correct_gradients.CASES[name](dtype, seed)
        report = check_gradients(fn, *args, mode=mode, seed=seed, **kwargs)
        assert report.mode == mode
        assert report.sources, name
        # Finite differences in float64 agree to ~1e-9; in float32 (a layer that refuses float64) to ~1e-3.
        bound = 1e-6 if report.reference_dtype == "float64" else 2e-2
        for source in report.sources:
            assert source.dtype == dtype.name
            assert source.max_rel_error < bound, (name, source)


@pytest.mark.parametrize("mode", ["fast", "full"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("name", WRONG)
def test_wrong_gradient_is_caught_with_the_culprit(name, dtype, mode):
    case = wrong_gradients.CASES[name]
    fn, args, kwargs = case.make(dtype, 0)
    with pytest.raises(case.error) as info:
        check_gradients(fn, *args, mode=mode, **kwargs)
    assert type(info.value) is case.error
    for fragment in case.says:
        assert fragment in str(info.value), (fragment, str(info.value))


def _train_step(fn, args, kwargs):
    """What a test suite does with a custom gradient: a forward and a backward pass under a tape."""
    floats = [x for x in tf.nest.flatten((args, kwargs)) if isinstance(x, tf.Tensor) and x.dtype.is_floating]
    with tf.GradientTape() as tape:
        tape.watch(floats)
        y = fn(*args, **kwargs)
    return tape.gradient(y, floats + list(tape.watched_variables()))


@pytest.mark.parametrize("mode", ["contracts", "fast", "full"])
def test_correct_library_passes_under_checking(mode):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not even a warning
        with checking(mode):
            for name in CORRECT:
                for dtype in DTYPES:
                    fn, args, kwargs = correct_gradients.CASES[name](dtype, 1)
                    _train_step(fn, args, kwargs)


VALUE_BUGS = {name for name, case in wrong_gradients.CASES.items()
              if case.error is GradientCheckError}


@pytest.mark.parametrize("mode", ["contracts", "fast", "full"])
@pytest.mark.parametrize("name", WRONG)
def test_wrong_library_under_checking(name, mode):
    case = wrong_gradients.CASES[name]
    fn, args, kwargs = case.make(tf.float32, 0)
    if case.error is NondeterminismError:
        # Randomness is reported (a warning and the summary), not failed: it may be intended.
        with pytest.warns(UserWarning, match="not deterministic") if mode != "contracts" else warnings.catch_warnings():
            with checking(mode):
                _train_step(fn, args, kwargs)
        return
    if mode == "contracts" and name in VALUE_BUGS:
        with checking(mode):
            _train_step(fn, args, kwargs)  # values are not checked in contracts mode
        return
    expected = case.error
    if name == "keyword_tensor_dropped":
        expected = GradientContractError  # caught at the call, before any gradient is computed
    with pytest.raises(expected) as info:
        with checking(mode):
            _train_step(fn, args, kwargs)
    assert type(info.value) is expected
    assert case.says[0] in str(info.value)
    assert "wrong_gradients.py:" in str(info.value)


def test_every_wrong_case_is_a_gradient_error():
    assert all(issubclass(case.error, GradientError) for case in wrong_gradients.CASES.values())
    assert {"scaled", "transposed", "sign_flipped_element", "missing_term", "one_percent_off", "wrong_shape",
            "wrong_dtype", "wrong_count", "zero_variable_gradient", "straight_through"} <= set(WRONG)
