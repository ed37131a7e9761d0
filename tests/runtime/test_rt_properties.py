"""Properties over random shapes, scales, dtypes and seeds: right passes, off by any factor is caught."""

import numpy as np
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tapelint.runtime import GradientCheckError, check_gradients

# Derandomized: the same examples in every run, so the suite cannot turn flaky.
SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


def tanh_scaled(factor):
    @tf.custom_gradient
    def tanh_with_factor(x):
        y = tf.tanh(x)

        def grad(dy):
            return dy * (1 - y * y) * tf.cast(factor, x.dtype)

        return y, grad

    return tanh_with_factor


shapes = st.lists(st.integers(1, 6), min_size=0, max_size=3).map(tuple)
dtypes = st.sampled_from([tf.float32, tf.float64])
seeds = st.integers(0, 2**31 - 1)


def inputs(shape, dtype, seed, scale):
    return tf.constant(np.random.default_rng(seed).normal(0.0, scale, shape), dtype)


@SETTINGS
@given(shape=shapes, dtype=dtypes, seed=seeds, scale=st.sampled_from([1e-3, 0.1, 1.0, 3.0]),
       mode=st.sampled_from(["fast", "full"]))
def test_a_right_gradient_passes_for_any_shape_scale_and_seed(shape, dtype, seed, scale, mode):
    report = check_gradients(tanh_scaled(1.0), inputs(shape, dtype, seed, scale), mode=mode, seed=seed)
    assert report.sources[0].shape == shape


@SETTINGS
@given(shape=shapes, dtype=dtypes, seed=seeds, scale=st.sampled_from([0.1, 0.5, 1.0]),
       factor=st.sampled_from([-1.0, 0.0, 0.5, 0.99, 1.01, 1.1, 2.0]), mode=st.sampled_from(["fast", "full"]))
def test_a_gradient_off_by_any_factor_is_caught(shape, dtype, seed, scale, factor, mode):
    # Inputs where tanh is not saturated: at |x| > 6 its derivative (< 1e-5) times 1% is below what any
    # finite difference can resolve, so "caught" would not be a property of the checker.
    x = inputs(shape, dtype, seed, scale)
    try:
        check_gradients(tanh_scaled(factor), x, mode=mode, seed=seed)
    except GradientCheckError as error:
        assert "tanh_with_factor" in str(error) and "argument `x`" in str(error)
    else:
        raise AssertionError(f"factor {factor} passed for shape {shape}, {dtype.name}, seed {seed}")
