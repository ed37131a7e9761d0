"""The numerical half of check_gradients: references, tolerances, kinks, randomness, cost, reports."""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from fixtures.runtime import correct_gradients as C
from fixtures.runtime import wrong_gradients as W
from tapelint.runtime import (GradientCheckError, GradientContractError, GradientReport, NondeterminismError,
                              check_gradients, custom_gradient)
from tapelint.runtime import _engine


def normal(shape, dtype=tf.float32, seed=0, scale=1.0):
    return tf.constant(np.random.default_rng(seed).normal(0, scale, shape), dtype)


# --- reports ---------------------------------------------------------------------------------------


def test_report_names_every_source_with_shape_dtype_device_and_cost():
    layer = C.Affine(4, 3, tf.float32, seed=1)
    report = check_gradients(layer, normal((2, 4)))
    assert isinstance(report, GradientReport)
    assert report.function == "Affine.__call__"
    assert re.fullmatch(r"fixtures/runtime/correct_gradients\.py:\d+", report.location)
    assert report.mode == "fast" and report.reference_dtype == "float64" and report.device == "CPU:0"
    assert [(s.name, s.kind, s.shape, s.dtype) for s in report.sources] == [
        ("x", "argument", (2, 4), "float32"), ("b:0", "variable", (3,), "float32"),
        ("w:0", "variable", (4, 3), "float32")]
    for s in report.sources:
        assert s.device == "CPU:0" and s.mode == "fast" and s.evaluations == report.evaluations
        assert 0 <= s.max_abs_error and 0 <= s.max_rel_error < 1e-6
    assert "Affine.__call__" in str(report) and "max_rel_error" in str(report)


def test_keyword_and_nested_and_numpy_arguments_are_sources():
    def fn(pair, scale, *, shift):
        a, b = pair
        return tf.reduce_sum(a * b * scale) + tf.reduce_sum(shift ** 2)

    report = check_gradients(fn, (normal((3,)), normal((3,), seed=1)), np.float32([1.5, 2.0, 0.5]),
                             shift=normal((2,), seed=2))
    assert [(s.name, s.kind) for s in report.sources] == [
        ("pair[0]", "argument"), ("pair[1]", "argument"), ("scale", "argument"), ("shift", "keyword argument")]


def test_integer_inputs_take_no_gradient_and_need_none():
    report = check_gradients(C.embed, normal((6, 3)), tf.constant([0, 2, 2, 5]))
    assert [s.name for s in report.sources] == ["params"]


def test_same_seed_same_report_other_seeds_pass_too():
    x = normal((5, 4))
    first = check_gradients(C.logsumexp, x, seed=7)
    again = check_gradients(C.logsumexp, x, seed=7)
    assert first.sources == again.sources and first.seed == 7
    for seed in range(1, 6):
        check_gradients(C.logsumexp, x, seed=seed)


def test_device_scope_is_used_and_reported():
    with tf.device("/CPU:0"):
        report = check_gradients(C.softplus, normal((4,)))
    assert report.device == "CPU:0"


def test_fast_mode_cost_does_not_grow_with_the_input_size():
    small = check_gradients(C.softplus, normal((10,)))
    large = check_gradients(C.softplus, normal((200_000,)))
    assert small.evaluations <= 6 and large.evaluations <= small.evaluations
    assert large.backward_calls == small.backward_calls == 3


def test_full_mode_refuses_large_jacobians_and_points_to_fast():
    with pytest.raises(ValueError, match=r"full mode builds the whole 2000 x 2000 Jacobian.*mode='fast'"):
        check_gradients(C.softplus, normal((2000,)), mode="full")
    with pytest.raises(ValueError, match="mode must be 'fast' or 'full'"):
        check_gradients(C.softplus, normal((3,)), mode="slow")


def test_functions_without_custom_gradients_are_checked_too():
    dense = keras.layers.Dense(3, activation="tanh", dtype="float64")
    x = normal((2, 4), tf.float64)
    dense(x)
    report = check_gradients(dense, x, mode="full")
    assert {s.name for s in report.sources} == {"x", "dense/kernel:0", "dense/bias:0"} or len(report.sources) == 3
    check_gradients(tf.function(lambda a, b: tf.reduce_sum(tf.sin(a) @ b)), normal((2, 3)), normal((3, 2), seed=1))


@tf.custom_gradient
def log_of(x):
    def grad(dy):
        return dy / x

    return tf.math.log(x), grad


def test_a_non_finite_forward_cannot_be_checked_and_says_so():
    with pytest.raises(GradientCheckError, match=r"output 0 is not finite at this input \(nan at flat index 1, "
                                                 r"1 such values\)"):
        check_gradients(log_of, tf.constant([1.0, -1.0, 2.0]))
    check_gradients(log_of, tf.constant([1.0, 0.5, 2.0]))


@tf.custom_gradient
def sqrt_of(x):
    y = tf.sqrt(x)
    return y, lambda dy: dy / (2 * y)


def test_an_input_at_the_edge_of_the_domain_is_reported_as_such():
    with pytest.raises(GradientCheckError, match="within a step of the edge of the function's domain"):
        check_gradients(sqrt_of, tf.constant([1e-12, 1.0, 4.0], tf.float64), eps=1e-6)
    check_gradients(sqrt_of, tf.constant([0.5, 1.0, 4.0], tf.float64))


def test_nothing_to_differentiate_is_a_contract_error():
    with pytest.raises(GradientContractError, match="nothing to differentiate"):
        check_gradients(lambda n: tf.ones([n]), 3)


# --- references and tolerances ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16], ids=lambda d: d.name)
def test_half_precision_inputs_get_a_float64_reference(dtype):
    x = tf.cast(normal((6,), seed=3), dtype)
    report = check_gradients(C.softplus, x)
    assert report.reference_dtype == "float64" and report.sources[0].dtype == dtype.name
    with pytest.raises(GradientCheckError, match="softplus_one_percent"):
        check_gradients(W.softplus_one_percent, x)  # 1% is far below half precision, not below float64


@tf.custom_gradient
def sin_float32_constant(x):
    two = tf.constant(2.0)  # a float32 constant: the function refuses float64 inputs

    def grad(dy):
        return dy * two * tf.cos(x)

    return two * tf.sin(x), grad


@tf.custom_gradient
def sin_float32_constant_one_percent(x):
    two = tf.constant(2.0)

    def grad(dy):
        return dy * two * tf.cos(x) * 1.01

    return two * tf.sin(x), grad


@pytest.mark.parametrize("mode", ["fast", "full"])
def test_function_refusing_float64_is_checked_in_its_own_dtype(mode):
    report = check_gradients(sin_float32_constant, normal((5,)), mode=mode)
    assert report.reference_dtype == "float32"
    assert "does not accept float64" in report.notes[0]
    with pytest.raises(GradientCheckError, match="central differences in float32"):
        check_gradients(sin_float32_constant_one_percent, normal((5,)), mode=mode)


@tf.custom_gradient
def softplus_in_float32_inside(x):
    y = tf.cast(tf.math.softplus(tf.cast(x, tf.float32)), x.dtype)  # accepts float64, computes in float32

    def grad(dy):
        return dy * tf.cast(tf.sigmoid(tf.cast(x, tf.float32)), x.dtype)

    return y, grad


@tf.custom_gradient
def softplus_in_float32_inside_one_percent(x):
    y = tf.cast(tf.math.softplus(tf.cast(x, tf.float32)), x.dtype)

    def grad(dy):
        return dy * tf.cast(tf.sigmoid(tf.cast(x, tf.float32)), x.dtype) * 1.01

    return y, grad


@pytest.mark.parametrize("mode", ["fast", "full"])
@pytest.mark.parametrize("dtype", [tf.float32, tf.float64], ids=lambda d: d.name)
def test_a_function_computing_in_float32_inside_gets_float32_tolerances(dtype, mode):
    x = normal((20,), dtype)
    report = check_gradients(softplus_in_float32_inside, x, mode=mode)
    assert report.reference_dtype == "float32"
    assert "computes below float64 precision inside" in report.notes[-1]
    with pytest.raises(GradientCheckError, match="softplus_in_float32_inside_one_percent"):
        check_gradients(softplus_in_float32_inside_one_percent, x, mode=mode)


def test_user_tolerances_and_step_are_used_and_shown():
    x = normal((6,))
    report = check_gradients(W.softplus_one_percent, x, rtol=0.05)  # a 1% error within a 5% tolerance
    assert report.sources[0].max_rel_error < 0.05
    with pytest.raises(GradientCheckError, match=r"atol 0, rtol 0\.0001"):
        check_gradients(W.softplus_one_percent, x, rtol=1e-4, eps=1e-6)


@tf.custom_gradient
def softplus_unstable(x):
    def grad(dy):
        return dy * tf.exp(x) / (1 + tf.exp(x))  # inf / inf in float32 for x > 88

    return tf.math.softplus(x), grad


def test_float32_overflow_in_the_gradient_is_reported_against_float64():
    with pytest.raises(GradientCheckError) as info:
        check_gradients(softplus_unstable, tf.constant([1.0, 50.0, 100.0, -3.0]))
    message = str(info.value)
    assert "the float32 gradient for argument `x` is not finite (at x[2]: nan)" in message
    assert "overflow" in message and "softplus_unstable" in message
    check_gradients(softplus_unstable, tf.constant([1.0, 50.0, 100.0, -3.0], tf.float64))  # fine in float64


# --- large inputs: direction #0 in one pass over the memory ----------------------------------------

LARGE = 50_000  # above FAST_TWO_DIRECTIONS_MAX: one direction, compared by Checker._fast_screen first


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64], ids=lambda d: d.name)
@pytest.mark.parametrize("name", ["softplus", "logsumexp"])
def test_large_inputs_are_settled_in_one_pass_with_the_full_comparisons_verdict(name, dtype, monkeypatch):
    verdicts = []
    real = _engine.Checker._fast_screen
    monkeypatch.setattr(_engine.Checker, "_fast_screen",
                        lambda self, ref, k: verdicts.append(real(self, ref, k)) or verdicts[-1])
    fn, x = getattr(C, name), normal((LARGE,), dtype, scale=2.0)
    screened = check_gradients(fn, x)
    assert verdicts == [True]
    # float32: the caller's forward, the float64 one, one step; float64: the caller's forward (the reference),
    # a second one at the same input (a random forward is told apart), one step.
    assert (screened.evaluations, screened.backward_calls) == (3, 3 if dtype == tf.float32 else 2)
    monkeypatch.setattr(_engine.Checker, "_fast_screen", lambda self, ref, k: False)
    full = check_gradients(fn, x)
    assert full.evaluations == 3
    for a, b in zip(screened.sources, full.sources):  # the same comparison, summed block by block
        assert a.max_abs_error == pytest.approx(b.max_abs_error, rel=1e-3, abs=1e-12)
        assert a.max_rel_error < 1e-6


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64], ids=lambda d: d.name)
def test_wrong_gradients_of_large_inputs_are_caught_and_localised(dtype):
    x = normal((LARGE,), dtype)
    with pytest.raises(GradientCheckError, match="wrong gradient for argument `x`"):
        check_gradients(W.softplus_scaled, x)
    with pytest.raises(GradientCheckError, match="wrong gradient for argument `x`"):
        check_gradients(W.softplus_one_percent, x)
    with pytest.raises(GradientCheckError, match=r"worst coordinate: x\[3\]"):
        check_gradients(W.tanh_sign_flipped, normal((10_000,), dtype))


def test_a_large_variable_goes_through_the_screen_too():
    from fixtures.runtime.environments import TanhDense

    x = normal((8, 200))
    report = check_gradients(TanhDense(200, 50), x)  # w has 10,000 elements
    assert {s.name: s.max_rel_error < 1e-6 for s in report.sources} == {"x": True, "w:0": True, "b:0": True}
    with pytest.raises(GradientCheckError, match="wrong gradient for variable `w:0`"):
        check_gradients(TanhDense(200, 50, factor=2.0), x)


def test_float32_overflow_in_the_gradient_of_a_large_input():
    x = np.random.default_rng(0).normal(size=LARGE).astype(np.float32)
    x[1234] = 100.0
    with pytest.raises(GradientCheckError, match=r"the float32 gradient for argument `x` is not finite "
                                                 r"\(at x\[1234\]: nan\)"):
        check_gradients(softplus_unstable, tf.constant(x))


@tf.custom_gradient
def softplus_nan_at_7(x):
    def grad(dy):
        nan = tf.where(tf.range(tf.size(x)) == 7, tf.constant(np.nan, x.dtype), tf.zeros([], x.dtype))
        return dy * tf.sigmoid(x) + tf.reshape(nan, tf.shape(x))

    return tf.math.softplus(x), grad


def test_a_non_finite_gradient_of_a_large_input():
    with pytest.raises(GradientCheckError, match="the gradient for argument `x` is not finite where the function"):
        check_gradients(softplus_nan_at_7, normal((LARGE,)))


def test_a_large_input_at_the_edge_of_the_domain():
    x = np.full(LARGE, 2.0)
    x[99] = 1e-12
    with pytest.raises(GradientCheckError, match="within a step of the edge of the function's domain"):
        check_gradients(sqrt_of, tf.constant(x), eps=1e-6)


# --- localisation ----------------------------------------------------------------------------------


def test_fast_mode_localises_a_single_wrong_element_with_a_jacobian_block():
    with pytest.raises(GradientCheckError) as info:
        check_gradients(W.tanh_sign_flipped, normal((8,)))
    message = str(info.value)
    assert "worst coordinate: x[3]" in message
    assert "Jacobian block d out[i] / d x[j], numerical | analytical:" in message
    assert re.search(r"out\[3\] .*\+0\.\d+ \| -0\.\d+", message), message  # the flipped sign, in the block
    assert "analytical" in message and "numerical" in message and "tolerance" in message and "rtol" in message


def test_fast_mode_block_for_a_large_output_is_the_projected_row():
    with pytest.raises(GradientCheckError) as info:
        check_gradients(W.tanh_sign_flipped, normal((40,)))
    message = str(info.value)
    assert "worst coordinate: x[3]" in message
    assert "d<v, f>/d x[j] around the worst coordinate" in message
    assert re.search(r"x\[3\] .*<-- worst", message)


def test_full_mode_names_the_worst_entry_and_shows_the_block():
    with pytest.raises(GradientCheckError) as info:
        check_gradients(W.tanh_sign_flipped, normal((8,)), mode="full")
    message = str(info.value)
    assert "worst entry d out[3] / d x[3]" in message
    assert "1 of 64 entries disagree" in message
    assert "Richardson" in message


def test_matrix_argument_indices_are_multidimensional():
    with pytest.raises(GradientCheckError, match=r"argument `a`.*\n(.*\n)*.*worst coordinate: a\[\d, \d\]"):
        check_gradients(W.matmul_transposed, normal((3, 4)), normal((4, 4), seed=1))


# --- kinks -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["fast", "full"])
def test_relu_exactly_at_its_kink_passes_with_a_note(mode):
    x = tf.constant([-1.0, 0.0, 2.0, 0.5, -0.3])
    report = check_gradients(C.relu, x, mode=mode)
    assert any("non-differentiable point(s) at x[1]" in n for n in report.notes), report.notes


def test_many_kinks_fall_back_to_an_entry_by_entry_comparison():
    x = np.random.default_rng(0).normal(size=40)
    x[::2] = 0.0  # twenty exact zeros, more than the directions can leave out one by one
    report = check_gradients(C.relu, tf.constant(x, tf.float32))
    assert any("compared entry by entry" in n for n in report.notes), report.notes


@tf.custom_gradient
def abs_sign(x):
    return tf.abs(x), lambda dy: dy * tf.sign(x)  # sign(0) = 0: the mid-slope at the kink


@tf.custom_gradient
def floor_zero_gradient(x):
    return tf.floor(x), lambda dy: tf.zeros_like(dy)


@pytest.mark.parametrize("mode", ["fast", "full"])
def test_valid_choices_at_kinks_and_jumps_pass(mode):
    check_gradients(abs_sign, tf.constant([0.0, 1.0, -2.0, 0.0, 3.0]), mode=mode)
    near_integers = np.round(np.random.default_rng(3).normal(size=12) * 3) + np.tile([0.0, 1e-7, -1e-7], 4)
    check_gradients(floor_zero_gradient, tf.constant(near_integers, tf.float64), mode=mode)


@tf.custom_gradient
def scaled_by_seeded_noise(x):
    noise = tf.random.stateless_uniform(tf.shape(x), seed=[1, 2], dtype=x.dtype)  # another stream per dtype

    def grad(dy):
        return dy * noise

    return x * noise, grad


@pytest.mark.parametrize("mode", ["fast", "full"])
def test_a_function_that_computes_something_else_in_float64_is_checked_in_its_own_dtype(mode):
    report = check_gradients(scaled_by_seeded_noise, normal((12,)), mode=mode)
    assert report.reference_dtype == "float32"
    assert "computes something else in float64" in report.notes[-1]


@tf.custom_gradient
def leaky_relu_wrong_slope(x):
    alpha = tf.constant(0.2, x.dtype)

    def grad(dy):
        return dy * tf.where(x > 0, tf.ones_like(x), 0.3 * tf.ones_like(x))  # 0.3, not 0.2

    return tf.where(x > 0, x, alpha * x), grad


@pytest.mark.parametrize("mode", ["fast", "full"])
def test_a_wrong_gradient_is_not_excused_by_a_kink_nearby(mode):
    x = np.random.default_rng(1).normal(size=8)
    x[3] = 0.0
    with pytest.raises(GradientCheckError, match="wrong gradient for argument `x`"):
        check_gradients(leaky_relu_wrong_slope, tf.constant(x, tf.float32), mode=mode)


@tf.custom_gradient
def relu_bad_at_zero(x):
    def grad(dy):
        return dy * tf.where(x > 0, 1.0, tf.where(x < 0, 0.0, 5.0))  # 5 at the kink: outside [0, 1]

    return tf.nn.relu(x), grad


def test_a_gradient_outside_the_one_sided_derivatives_at_a_kink_is_wrong():
    with pytest.raises(GradientCheckError, match=r"x\[1\]"):
        check_gradients(relu_bad_at_zero, tf.constant([-1.0, 0.0, 2.0, 0.5]))


# --- semantics and randomness ----------------------------------------------------------------------


@tf.custom_gradient
def square_clipped_gradient(x):
    def grad(dy):
        return tf.clip_by_value(dy, -0.1, 0.1) * 2 * x

    return x * x, grad


def test_a_gradient_nonlinear_in_the_upstream_is_reported_as_such():
    with pytest.raises(GradientCheckError, match=r"not linear in the upstream gradient.*numeric=False"):
        check_gradients(square_clipped_gradient, normal((5,)))


def test_a_term_without_the_upstream_is_reported_by_the_zero_check():
    with pytest.raises(GradientCheckError, match=r"with a zero upstream gradient the gradient for argument `x` "
                                                 r"is not zero"):
        check_gradients(W.square_ignores_dy, normal((5,)))


@pytest.mark.parametrize("mode", ["fast", "full"])
def test_random_forward_is_reported_not_checked(mode):
    with pytest.raises(NondeterminismError, match="forward pass is not deterministic.*not checked"):
        check_gradients(W.dropout_forward, normal((50,)), mode=mode)


@pytest.mark.parametrize("mode", ["fast", "full"])
def test_nondeterministic_backward_is_reported_with_the_determinism_hint(mode):
    with pytest.raises(NondeterminismError) as info:
        check_gradients(W.square_noisy_backward, normal((5,)), mode=mode)
    assert "not a wrong gradient" in str(info.value)
    assert "tf.config.experimental.enable_op_determinism()" in str(info.value)
    assert not isinstance(info.value, GradientCheckError)


@tf.custom_gradient
def square_tiny_noise(x):
    def grad(dy):
        return dy * 2 * x * (1 + tf.cast(1e-14, x.dtype) * tf.random.normal(tf.shape(x), dtype=x.dtype))

    return x * x, grad


def test_rounding_level_backward_noise_is_tolerated():
    check_gradients(square_tiny_noise, normal((5,), tf.float64))  # like atomics on a GPU: not a failure


# --- estimators ------------------------------------------------------------------------------------


@custom_gradient(numeric=False)
def round_ste(x):
    def grad(dy):
        return dy

    return tf.round(x), grad


@custom_gradient(numeric=False)
def round_ste_wrong_shape(x):
    def grad(dy):
        return tf.reduce_sum(dy)

    return tf.round(x), grad


def test_numeric_false_skips_values_but_not_contracts():
    report = check_gradients(lambda x: round_ste(x) * 3.0, normal((5,)))
    assert report.mode == "contracts"
    assert "intentional estimator `round_ste`" in report.notes[0]
    assert all(np.isnan(s.max_abs_error) for s in report.sources)
    with pytest.raises(GradientContractError, match=r"round_ste_wrong_shape .*shape \[\], expected \[5\]"):
        check_gradients(round_ste_wrong_shape, normal((5,)))


def test_straight_through_without_opt_out_says_how_to_opt_out():
    with pytest.raises(GradientCheckError) as info:
        check_gradients(W.round_straight_through, normal((5,), scale=3.0))
    assert "the function is flat here but the gradient is not" in str(info.value)
    assert "custom_gradient(numeric=False)" in str(info.value)


# --- variables and traces are left as they were ----------------------------------------------------


def test_variables_are_restored_exactly_after_a_check():
    layer = C.Affine(4, 3, tf.float32, seed=2)
    handle, before = layer.w._handle, layer.w.numpy().copy()
    check_gradients(layer, normal((2, 4)))
    with pytest.raises(GradientCheckError):
        check_gradients(W.ZeroWeightGradient(tf.float32, 0), normal((2, 4)))
    assert layer.w._handle is handle and layer.w.dtype == tf.float32
    np.testing.assert_array_equal(layer.w.numpy(), before)


def test_a_float64_reference_leaves_no_stale_trace_in_a_tf_function():
    v = tf.Variable([1.0, 2.0, 3.0])

    @tf.function
    def f(x):
        return tf.reduce_sum(tf.sin(x * tf.cast(v, x.dtype)))

    x = tf.constant([0.1, 0.2, 0.3])
    check_gradients(f, x)
    v.assign([5.0, 5.0, 5.0])
    np.testing.assert_allclose(f(tf.cast(x, tf.float64)).numpy(), np.sum(np.sin(np.array([0.1, 0.2, 0.3]) * 5)))
    assert not tf.config.functions_run_eagerly()


@pytest.mark.parametrize("case", ["softplus", "affine_variables", "leaky_relu_at_zero"])
def test_bookkeeping_backends_agree(case):
    """NumPy (CPU, small inputs) and TensorFlow (large inputs on an accelerator) give the same verdicts."""
    fn, args, kwargs = C.CASES[case](tf.float32, 4)
    reports = [_engine.Checker(fn, args, kwargs, mode="fast", atol=None, rtol=None, eps=None, seed=0,
                               backend=backend).run() for backend in (_engine.NumpyOps, _engine.TensorOps)]
    assert reports[0].evaluations == reports[1].evaluations
    assert reports[0].notes == reports[1].notes
    for a, b in zip(reports[0].sources, reports[1].sources):  # rounding-level errors, summed in another order
        assert a.name == b.name and a.max_rel_error < 1e-6 and b.max_rel_error < 1e-6
    fn, args, kwargs = W.CASES["sign_flipped_element"].make(tf.float32, 0)
    with pytest.raises(GradientCheckError, match=r"worst coordinate: x\[3\]"):
        _engine.Checker(fn, args, kwargs, mode="fast", atol=None, rtol=None, eps=None, seed=0,
                        backend=_engine.TensorOps).run()


@pytest.mark.parametrize("batch_min", [1, 10**9], ids=["vectorized", "one-by-one"])
def test_full_mode_vectorized_and_one_by_one_agree(batch_min, monkeypatch):
    monkeypatch.setattr(_engine, "BATCH_MIN", batch_min)
    for name in ["softplus", "logsumexp", "matmul", "affine_variables", "pair_norm", "leaky_relu_at_zero"]:
        fn, args, kwargs = C.CASES[name](tf.float32, 5)
        report = check_gradients(fn, *args, mode="full", **kwargs)
        assert report.sources and all(s.max_rel_error < 1e-6 for s in report.sources), (name, report)
    with pytest.raises(GradientCheckError, match=r"worst entry d out\[3\] / d x\[3\]"):
        check_gradients(W.tanh_sign_flipped, normal((40,)), mode="full")
    with pytest.raises(GradientCheckError, match=r"argument `a`"):
        check_gradients(W.matmul_transposed, normal((3, 4)), normal((4, 4), seed=1), mode="full")


def test_full_mode_on_a_larger_input_is_vectorized(monkeypatch):
    traced = []
    real = tf.vectorized_map
    monkeypatch.setattr(tf, "vectorized_map", lambda *a, **k: traced.append(1) or real(*a, **k))
    report = check_gradients(C.softplus, normal((60,)), mode="full")
    assert traced == [1]  # the 120 evaluations of the finite differences in one vectorized call
    assert report.evaluations >= 120
    assert report.backward_calls < 10  # the Jacobian's 60 rows in one pfor call, not one backward pass each
