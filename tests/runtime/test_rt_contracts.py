"""Contracts: what a custom gradient returns must fit its inputs, on every backward pass."""

import numpy as np
import pytest
import tensorflow as tf

from fixtures.runtime.correct_gradients import embed
from tapelint.runtime import GradientContractError, check_gradients, checking
from tapelint.runtime._contracts import check_custom_gradient, check_leaf, expected_of


def backward(fn, *args, compiled=False):
    f = tf.function(fn) if compiled else fn
    with tf.GradientTape() as tape:
        tape.watch([a for a in tf.nest.flatten(args) if isinstance(a, tf.Tensor) and a.dtype.is_floating])
        y = f(*args)
    return tape.gradient(y, [a for a in tf.nest.flatten(args) if isinstance(a, tf.Tensor) and a.dtype.is_floating])


def with_gradient(forward, gradient):
    """A custom gradient whose gradient function returns gradient(dy, *inputs)."""

    @tf.custom_gradient
    def f(*xs):
        return forward(*xs), lambda dy: gradient(dy, *xs)

    return f


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "tf.function"])
@pytest.mark.parametrize("gradient, message", [
    (lambda dy, x: tf.reduce_sum(dy), r"the gradient for argument `xs\[0\]` has shape \[\], expected \[3\]"),
    (lambda dy, x: tf.concat([dy, dy[:2]], 0), r"has shape \[5\], expected \[3\]"),
    (lambda dy, x: tf.reshape(dy, [3, 1]), r"has shape \[3, 1\], expected \[3\]"),
    (lambda dy, x: tf.cast(dy, tf.float64), r"has dtype float64, expected float32 .*cast it back"),
    (lambda dy, x: tf.cast(dy, tf.float16), r"has dtype float16, expected float32"),
    (lambda dy, x: (dy, dy), r"returned 2 gradients, expected 1 \(one per positional tensor input: xs\[0\]\)"),
    (lambda dy, x: (lambda: dy), r"is a function \(`<lambda>`\), not a tensor"),
])
def test_structure_shape_dtype_and_count_are_enforced(gradient, message, compiled):
    f = with_gradient(lambda x: x * 2.0, gradient)
    with checking("contracts"):
        with pytest.raises(GradientContractError, match=message):
            backward(f, tf.ones([3]), compiled=compiled)


def test_tensorflow_alone_accepts_these_silently():
    """The premise: without tapelint a wrong shape and a wrong dtype pass straight through."""
    shape = with_gradient(lambda x: x * 2.0, lambda dy, x: tf.reduce_sum(dy))
    dtype = with_gradient(lambda x: x * 2.0, lambda dy, x: tf.cast(dy, tf.float64))
    assert backward(shape, tf.ones([3]))[0].shape == []
    assert backward(dtype, tf.ones([3]))[0].dtype == tf.float64


def test_a_numpy_gradient_is_rejected_eagerly():
    f = with_gradient(lambda x: x * 2.0, lambda dy, x: (dy * 2).numpy())
    with checking("contracts"):
        with pytest.raises(GradientContractError, match="is a NumPy array .*not a tf.Tensor"):
            backward(f, tf.ones([3]))


@pytest.mark.parametrize("gradient", [
    lambda dz, x, y: (dz * y, dz * x),
    lambda dz, x, y: [dz * y, dz * x],
    lambda dz, x, y: (dz * y, None),
])
def test_accepted_structures_for_several_inputs(gradient):
    f = with_gradient(lambda x, y: x * y, gradient)
    with checking("contracts"):
        backward(f, tf.ones([3]), tf.ones([3]))


def test_nesting_that_does_not_match_the_inputs_is_rejected():
    f = with_gradient(lambda x, y: x * y, lambda dz, x, y: ((dz * y, dz * x),))
    with checking("contracts"):
        with pytest.raises(GradientContractError, match=r"the gradients are nested as \(\('g', 'g'\),\) but the "
                                                        r"inputs are \(xs\[0\], xs\[1\]\)"):
            backward(f, tf.ones([3]), tf.ones([3]))


@tf.custom_gradient
def dict_norm(inputs):
    a, b = inputs["a"], inputs["b"]

    def grad(dy):
        return {"a": dy * 2 * a, "b": dy * 2 * b}

    return tf.reduce_sum(a * a) + tf.reduce_sum(b * b), grad


def test_a_structured_input_may_get_its_gradients_in_the_same_structure():
    inputs = {"a": tf.constant([1.0, 2.0]), "b": tf.constant([[3.0]])}
    with checking("fast"):
        backward(dict_norm, inputs)
    report = check_gradients(dict_norm, inputs)
    assert [s.name for s in report.sources] == ["inputs['a']", "inputs['b']"]


@tf.custom_gradient
def gather_rows_wrong_dense_shape(params, ids):
    def grad(dy):
        return tf.IndexedSlices(dy, ids, dense_shape=tf.constant([9, 2], tf.int64)), None

    return tf.gather(params, ids), grad


def test_indexed_slices_are_checked_by_their_dense_shape():
    params, ids = tf.ones([4, 2]), tf.constant([0, 3, 3])
    with checking("full"):
        backward(embed, params, ids)
        with pytest.raises(GradientContractError, match=r"has shape \[9, 2\], expected \[4, 2\]"):
            backward(gather_rows_wrong_dense_shape, params, ids)


def test_variables_must_get_one_gradient_each():
    w = tf.Variable([1.0, 2.0])

    @tf.custom_gradient
    def too_few(x):
        def grad(dy, variables=None):
            return dy * w, []

        return x * w, grad

    @tf.custom_gradient
    def not_a_pair(x):
        def grad(dy, variables=None):
            return dy * w

        return x * w, grad

    @tf.custom_gradient
    def wrong_variable_shape(x):
        def grad(dy, variables=None):
            return dy * w, [tf.reduce_sum(dy * x)]

        return x * w, grad

    with checking("contracts"):
        with pytest.raises(GradientContractError, match=r"returned 0 variable gradients, expected 1 \(one per "
                                                        r"variable: Variable:0\)"):
            backward(too_few, tf.ones([2]))
        with pytest.raises(GradientContractError, match=r"must return a pair \(gradients for the inputs, "
                                                        r"gradients for the variables\)"):
            backward(not_a_pair, tf.ones([2]))
        with pytest.raises(GradientContractError, match=r"variable `Variable:0` has shape \[\], expected \[2\]"):
            backward(wrong_variable_shape, tf.ones([2]))


def test_the_contract_helpers_directly():
    assert expected_of(tf.ones([2, 3])) == (tf.float32, tf.TensorShape([2, 3]))
    assert expected_of(np.zeros(3)) == (tf.float64, tf.TensorShape([3]))
    assert expected_of(1.5) == (tf.float32, tf.TensorShape([]))
    assert expected_of(tf.constant([1, 2])) is None and expected_of("text") is None
    check_leaf("f (here:1)", "argument `x`", expected_of(tf.ones([2])), None)  # None is always fine
    with pytest.raises(GradientContractError, match=r"^f \(here:1\): the gradient for argument `x` is a str"):
        check_leaf("f (here:1)", "argument `x`", expected_of(tf.ones([2])), "oops")
    check_custom_gradient("f (here:1)", ["x", "n"], (tf.ones([2]), tf.constant(3)), None,
                          (tf.ones([2]), tf.ones([5])))  # anything for an integer input
