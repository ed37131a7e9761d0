"""checking(), enable()/disable() and custom_gradient: what they patch, check, cache and restore."""


import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.ops import custom_gradient as cg

from fixtures.runtime import correct_gradients as C
from fixtures.runtime import wrong_gradients as W
from tapelint.runtime import (GradientCheckError, GradientContractError, TapelintWarning, checking,
                              custom_gradient, disable, enable, report)
from tapelint.runtime import _hook


def grad_of(fn, *args):
    with tf.GradientTape() as tape:
        tape.watch(args)
        y = fn(*args)
    return tape.gradient(y, args)


def record_of(name):
    return next(r for r in report.records() if r.function == name)


# --- patching and restoring ------------------------------------------------------------------------


def test_checking_patches_only_inside_and_restores_exactly():
    originals = (cg._eager_mode_decorator, cg._graph_mode_decorator)
    with checking("fast"):
        assert cg._eager_mode_decorator is not originals[0]
        assert cg._graph_mode_decorator is not originals[1]
    assert (cg._eager_mode_decorator, cg._graph_mode_decorator) == originals
    with pytest.raises(GradientCheckError):
        with checking("fast"):
            grad_of(W.softplus_scaled, tf.ones([3]))
    assert (cg._eager_mode_decorator, cg._graph_mode_decorator) == originals
    with pytest.raises(KeyError):
        with checking("contracts"):
            raise KeyError("anything")
    assert (cg._eager_mode_decorator, cg._graph_mode_decorator) == originals


def test_nested_checking_restores_the_outer_mode_and_enable_disable():
    originals = (cg._eager_mode_decorator, cg._graph_mode_decorator)
    with checking("contracts"):
        with checking("fast"):
            assert _hook.enabled_mode() == "fast"
        assert _hook.enabled_mode() == "contracts"
        grad_of(W.softplus_scaled, tf.ones([3]))  # contracts only: values not checked
    assert _hook.enabled_mode() is None
    enable("full")
    assert _hook.enabled_mode() == "full" and cg._eager_mode_decorator is not originals[0]
    disable()
    assert (cg._eager_mode_decorator, cg._graph_mode_decorator) == originals
    with pytest.raises(ValueError, match="mode must be one of"):
        enable("values")


def test_functions_decorated_before_checking_are_reached():
    # Every function of the fixture library was decorated at import, long before this block.
    with pytest.raises(GradientContractError, match="sum_scalar_gradient"):
        with checking("contracts"):
            grad_of(W.sum_scalar_gradient, tf.ones([3]))
    # tf.recompute_grad and tf.grad_pass_through go through the same decorators, and pass.
    w = tf.Variable(2.0)
    block = tf.recompute_grad(lambda x: tf.sin(x) * w)
    with checking("fast"):
        x = tf.random.normal([4])
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = block(x)
        assert all(g is not None for g in tape.gradient(y, [x, w]))
        z = tf.Variable(3.0)
        with tf.GradientTape() as tape:
            y = tf.grad_pass_through(lambda a: a * 2.0)(z)
        assert float(tape.gradient(y, z)) == 1.0


def test_without_the_private_decorators_tf_custom_gradient_is_wrapped(monkeypatch):
    monkeypatch.setattr(_hook, "_private_hooks_usable", lambda: False)
    original = tf.custom_gradient
    with checking("fast"):
        assert tf.custom_gradient is not original

        @tf.custom_gradient
        def cube_twice(x):
            def grad(dy):
                return 6 * dy * x * x

            return x ** 3, grad

        @tf.custom_gradient
        def cube_shape(x):
            def grad(dy):
                return tf.reduce_sum(3 * dy * x * x)

            return x ** 3, grad

        with pytest.raises(GradientCheckError, match="cube_twice"):
            grad_of(cube_twice, tf.constant([1.0, 2.0]))
        with pytest.raises(GradientContractError, match=r"cube_shape .*shape \[\], expected \[2\]"):
            grad_of(cube_shape, tf.constant([1.0, 2.0]))
    assert tf.custom_gradient is original


# --- custom_gradient -------------------------------------------------------------------------------


def test_custom_gradient_is_tensorflows_own_when_checking_is_off():
    def f(x):
        return x * 2, lambda dy: dy * 2

    ours, theirs = custom_gradient(f), tf.custom_gradient(f)
    assert type(ours) is type(theirs)
    assert ours.__wrapped__ is f and (cg._eager_mode_decorator, cg._graph_mode_decorator) == (
        _hook._cg._eager_mode_decorator, _hook._cg._graph_mode_decorator)
    assert float(grad_of(custom_gradient()(f), tf.constant(1.0))[0]) == 2.0


class Scale(tf.Module):
    def __init__(self):
        super().__init__()
        self.s = tf.Variable(1.5)

    @custom_gradient
    def __call__(self, x, *, power=2):
        def grad(dy, variables=None):
            dx = dy * self.s * power * x ** (power - 1)
            return dx, [tf.reduce_sum(dy * x ** power)]

        return self.s * x ** power, grad


def test_custom_gradient_keeps_tensorflow_semantics():
    layer = Scale()
    x = tf.constant([1.0, 2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, power=3)  # a method, a keyword argument, the variables keyword
    dx, ds = tape.gradient(y, [x, layer.s])
    np.testing.assert_allclose(dx.numpy(), [4.5, 18.0])
    assert float(ds) == 9.0
    compiled = tf.function(lambda x: C.softplus(x))
    assert compiled(x).shape == [2]
    with checking("fast"):
        grad_of(lambda x: layer(x, power=3), x)


@custom_gradient(numeric=False)
def clipped_identity(x):
    def grad(dy):
        return tf.clip_by_value(dy, -1.0, 1.0)  # a clipped-gradient estimator: nonlinear on purpose

    return x, grad


@custom_gradient(numeric=False)
def clipped_identity_wrong_dtype(x):
    def grad(dy):
        return tf.cast(tf.clip_by_value(dy, -1.0, 1.0), tf.float64)

    return x, grad


def test_numeric_false_under_checking_checks_contracts_only():
    with checking("full"):
        grad_of(clipped_identity, tf.constant([0.5, 3.0]))
        with pytest.raises(GradientContractError, match="clipped_identity_wrong_dtype .*dtype float64"):
            grad_of(clipped_identity_wrong_dtype, tf.constant([0.5, 3.0]))
    assert record_of("clipped_identity").verdict == "contracts only"


# --- what checking() checks, and how often ---------------------------------------------------------


def test_numerics_run_once_per_function_and_signature(numerical_checks):
    with checking("fast"):
        for _ in range(5):
            grad_of(C.softplus, tf.ones([3]))
        grad_of(C.softplus, tf.ones([4]))  # a new signature
        grad_of(C.softplus, tf.ones([4], tf.float64))
    assert len(numerical_checks) == 3
    assert record_of("softplus").calls == 7 and record_of("softplus").verdict == "ok"


def test_a_failure_is_raised_again_for_the_same_signature_but_not_rechecked(numerical_checks):
    with checking("fast"):
        for _ in range(3):
            with pytest.raises(GradientCheckError, match="softplus_scaled"):
                grad_of(W.softplus_scaled, tf.ones([3]))
    assert len(numerical_checks) == 1
    assert record_of("softplus_scaled").verdict == "FAILED"


def test_the_numerical_checks_per_function_are_bounded(numerical_checks):
    with checking("fast"):
        for n in range(1, 20):
            grad_of(C.softplus, tf.ones([n]))
    assert len(numerical_checks) == _hook._MAX_SIGNATURES_PER_FUNCTION


def test_checks_leave_the_callers_tape_alone():
    x = tf.constant([0.5, -1.0, 2.0])
    with checking("fast"):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            y = C.softplus(x)
        g = tape.gradient(y, x)
    np.testing.assert_allclose(g.numpy(), tf.sigmoid(x).numpy(), rtol=1e-6)


def test_keyword_tensor_watched_by_a_tape_fails_at_the_call():
    x, s = tf.ones([3]), tf.constant([1.0, 2.0, 3.0])
    with checking("contracts"):
        with pytest.raises(GradientContractError, match=r"keyword argument `s` is a tensor a GradientTape is "
                                                        r"watching.*pass it positionally"):
            with tf.GradientTape() as tape:
                tape.watch([x, s])
                W.scale_by_keyword(x, s=s)
        with tf.GradientTape() as tape:  # not watched (or stopped): no gradient is lost
            tape.watch(x)
            W.scale_by_keyword(x, s=tf.stop_gradient(s))


def test_randomness_under_checking_is_a_warning_and_a_verdict_not_a_failure():
    with pytest.warns(TapelintWarning, match="forward pass is not deterministic"):
        with checking("fast"):
            grad_of(W.dropout_forward, tf.ones([50]))
    assert record_of("dropout_forward").verdict == "nondeterministic"


# --- inside tf.function ----------------------------------------------------------------------------


@pytest.mark.parametrize("jit_compile", [False, True])
def test_a_function_traced_inside_tf_function_is_checked_on_synthetic_inputs(jit_compile):
    def make(f):
        return tf.function(lambda x: f(x) * 2.0, jit_compile=jit_compile)

    with checking("fast"):
        grad_of(make(C.softplus), tf.ones([5]))
        with pytest.raises(GradientCheckError) as info:
            grad_of(make(W.softplus_one_percent), tf.ones([5]))
        with pytest.raises(GradientContractError, match="returned 2 gradients, expected 1"):
            grad_of(make(W.square_two_gradients), tf.ones([3]))
    assert "wrong gradient for argument `x`" in str(info.value)
    assert "synthetic inputs" in str(info.value)


@tf.custom_gradient
def log_of(x):
    def grad(dy):
        return dy / x

    return tf.math.log(x), grad


def test_a_function_outside_its_domain_on_synthetic_inputs_is_skipped():
    f = tf.function(lambda x: log_of(x))
    with checking("fast"):
        grad_of(f, tf.ones([64]))  # synthetic standard normal inputs: about half are negative
    assert record_of("log_of").verdict == "skipped: output not finite"


@tf.custom_gradient
def shift_by(x, n):
    def grad(dy):
        return dy, None  # n is an integer: no gradient

    return x + tf.cast(n, x.dtype), grad


def test_a_traced_function_with_unknown_integer_inputs_is_skipped_not_failed(numerical_checks):
    f = tf.function(lambda x, n: shift_by(x, n))
    with checking("fast"):
        grad_of(lambda x: f(x, tf.constant(2)), tf.ones([3]))
    assert record_of("shift_by").verdict.startswith("skipped: no concrete value for a int32 input")
    with checking("fast"):
        grad_of(lambda x: shift_by(x, tf.constant(2)), tf.ones([3]))  # eagerly: checked for real
    assert numerical_checks == [1] and record_of("shift_by").calls == 2


def test_full_mode_falls_back_to_fast_for_large_inputs_under_checking():
    with checking("full"):
        grad_of(C.softplus, tf.ones([2000]))  # a 2000 x 2000 Jacobian is over full mode's limit
    assert record_of("softplus").modes == {"fast"} and record_of("softplus").verdict == "ok"


def test_the_cache_forgets_functions_that_are_gone():
    import gc

    def make(scale):
        @tf.custom_gradient
        def scaled(x):
            return x * scale, lambda dy: dy * scale

        return scaled

    with checking("fast"):
        for scale in (1.0, 2.0, 3.0):
            grad_of(make(scale), tf.ones([3]))  # same code, other closures: each one is checked
    gc.collect()
    assert len(_hook._cache) == 0
    assert record_of("test_the_cache_forgets_functions_that_are_gone.<locals>.make.<locals>.scaled").calls == 3


class Scaled(tf.Module):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    @tf.custom_gradient
    def __call__(self, x):
        return tf.sin(x), lambda dy: dy * tf.cos(x) * self.factor  # right only for factor 1


def test_methods_are_checked_per_instance():
    """Two objects of one class share the method, not its verdict: their state differs."""
    right, wrong = Scaled(1.0), Scaled(1.5)
    with checking("fast"):
        grad_of(right, tf.ones([3]))
        with pytest.raises(GradientCheckError, match=r"Scaled.__call__ .*wrong gradient for argument `x`"):
            grad_of(wrong, tf.ones([3]))
        grad_of(right, tf.ones([3]))  # still cached as right


def test_tensorflow_internal_custom_gradients_stay_out_of_the_summary():
    w = tf.Variable(2.0)
    with checking("fast"):
        x = tf.ones([3])
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.recompute_grad(lambda z: z * w)(x)
        tape.gradient(y, x)
    assert report.records() == []
