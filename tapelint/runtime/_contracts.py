"""Structure, shape and dtype checks of gradients: what TensorFlow lets through silently.

Run in the caller's dtype, on every backward pass of a custom gradient under ``checking()`` and on the
gradients ``check_gradients`` computes.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow.python.framework import tensor_util

from .errors import GradientContractError


def expected_of(leaf):
    """``(dtype, shape)`` a gradient for this input must have, or ``None`` if it takes no gradient."""
    if isinstance(leaf, tf.Variable):
        return leaf.dtype.base_dtype, leaf.shape
    if isinstance(leaf, (tf.Tensor, np.ndarray, np.generic)):
        dtype = tf.as_dtype(leaf.dtype).base_dtype
        shape = leaf.shape if isinstance(leaf, tf.Tensor) else tf.TensorShape(np.shape(leaf))
    elif isinstance(leaf, float):
        dtype, shape = tf.float32, tf.TensorShape([])  # what convert_to_tensor makes of it
    else:
        return None
    return (dtype, shape) if (dtype.is_floating or dtype.is_complex) else None


def _shape_text(shape) -> str:
    shape = tf.TensorShape(shape)
    if shape.rank is None:
        return "<unknown rank>"
    return "[" + ", ".join("?" if d is None else str(d) for d in shape.as_list()) + "]"


def _static_dense_shape(g):
    value = g.dense_shape
    if isinstance(value, tf.Tensor):
        try:
            value = value.numpy()
        except (AttributeError, NotImplementedError):
            value = tensor_util.constant_value(value)
    return None if value is None else tf.TensorShape([int(d) for d in np.asarray(value).ravel()])


def check_leaf(where: str, what: str, expected, g) -> None:
    """Raise if gradient ``g`` for input ``what`` (e.g. "argument `x`") does not fit ``expected``."""
    if g is None or expected is None:
        return
    if isinstance(g, (np.ndarray, np.generic)):
        raise GradientContractError(
            f"{where}: the gradient for {what} is a NumPy array (dtype {g.dtype}, shape {list(np.shape(g))}), "
            "not a tf.Tensor: it is a constant to TensorFlow (no higher-order gradients, breaks under "
            "tf.function). Return a tensor computed with TensorFlow ops.")
    if callable(g) and not isinstance(g, (tf.Tensor, tf.IndexedSlices)):
        gname = getattr(g, "__name__", type(g).__name__)
        raise GradientContractError(
            f"{where}: the gradient for {what} is a function (`{gname}`), not a tensor: did the gradient "
            "function return a function instead of calling it?")
    exp_dtype, exp_shape = expected
    if isinstance(g, tf.IndexedSlices):
        dtype, shape = g.values.dtype, _static_dense_shape(g)
        if shape is None:  # unknown dense shape: the slices must at least fit the trailing dimensions
            shape = tf.TensorShape([None]).concatenate(g.values.shape[1:])
    elif isinstance(g, tf.Tensor):
        dtype, shape = g.dtype, g.shape
    else:
        raise GradientContractError(
            f"{where}: the gradient for {what} is a {type(g).__name__} ({g!r:.60}), not a tf.Tensor or None.")
    if dtype.base_dtype != exp_dtype:
        raise GradientContractError(
            f"{where}: the gradient for {what} has dtype {dtype.base_dtype.name}, expected "
            f"{exp_dtype.name} (the dtype of {what}). TensorFlow passes a gradient of another dtype "
            "on silently; cast it back (e.g. tf.cast(grad, x.dtype)).")
    exp_shape = tf.TensorShape(exp_shape)
    shape = tf.TensorShape(shape)
    fits = shape.is_compatible_with(exp_shape) and shape.rank == exp_shape.rank if (
        shape.rank is not None and exp_shape.rank is not None) else True
    if not fits:
        raise GradientContractError(
            f"{where}: the gradient for {what} has shape {_shape_text(shape)}, expected "
            f"{_shape_text(exp_shape)} (the shape of {what}). TensorFlow accepts a gradient of the wrong "
            "shape silently (it broadcasts or fails far from here); reduce or reshape it to the input's shape.")


def _is_leaf_seq(x) -> bool:
    return isinstance(x, (list, tuple)) and not hasattr(x, "_fields")


def _skeleton(x):
    """The nesting of ``x`` with leaves replaced by 0, lists and tuples alike (cheap to compare)."""
    if isinstance(x, (list, tuple)):
        return [_skeleton(e) for e in x]
    if isinstance(x, dict):
        return {k: _skeleton(v) for k, v in x.items()}
    return 0


def _same_structure(a, b) -> bool:
    return _skeleton(a) == _skeleton(b)


def check_custom_gradient(where: str, names: list[str], args: tuple, variables, out,
                          allow_none_variables: bool = False) -> None:
    """Check what a ``tf.custom_gradient`` gradient function returned against its inputs.

    ``names``: one per leaf of ``tf.nest.flatten(args)``; ``variables``: the list TensorFlow passed
    as ``variables=`` (``None`` if it passed none).
    """
    if variables:
        if not (_is_leaf_seq(out) and len(out) == 2):
            raise GradientContractError(
                f"{where}: the function reads variables ({', '.join(v.name for v in variables)}), so its "
                "gradient function must return a pair (gradients for the inputs, gradients for the "
                f"variables); it returned {type(out).__name__}.")
        input_grads, var_grads = out
        if isinstance(var_grads, (tf.Tensor, tf.IndexedSlices)) or var_grads is None:
            var_grads = [var_grads]
        var_grads = list(var_grads)
        if len(var_grads) != len(variables):
            raise GradientContractError(
                f"{where}: returned {len(var_grads)} variable gradients, expected {len(variables)} "
                f"(one per variable: {', '.join(v.name for v in variables)}).")
        for var, g in zip(variables, var_grads):
            what = f"variable `{var.name}`"
            if g is None and not allow_none_variables:
                raise GradientContractError(
                    f"{where}: no gradient (None) for {what}, which the function reads: the optimizer "
                    "will silently skip it. Return its gradient (zeros if it truly has none).")
            check_leaf(where, what, expected_of(var), g)
    else:
        input_grads = out

    flat_args = tf.nest.flatten(args)
    flat_grads = tf.nest.flatten(input_grads) if _is_leaf_seq(input_grads) or isinstance(
        input_grads, dict) else [input_grads]
    for name, g in zip(names, flat_grads):
        if callable(g) and not isinstance(g, (tf.Tensor, tf.IndexedSlices)):
            check_leaf(where, f"argument `{name}`", (tf.float32, None), g)
    if len(flat_grads) != len(flat_args):
        listed = ", ".join(names) if names else "none"
        raise GradientContractError(
            f"{where}: returned {len(flat_grads)} gradients, expected {len(flat_args)} (one per positional "
            f"tensor input: {listed}). Tensors passed by keyword get no gradient.")
    acceptable = (
        _same_structure(input_grads, tuple(args))
        or _same_structure(input_grads, list(args))
        or (_is_leaf_seq(input_grads) and all(not _is_leaf_seq(g) and not isinstance(g, dict)
                                               for g in input_grads))
        or (len(flat_args) == 1 and not _is_leaf_seq(input_grads) and not isinstance(input_grads, dict))
        or (len(args) == 1 and _same_structure(input_grads, args[0]))
    )
    if not acceptable:
        shown = tf.nest.map_structure(lambda g: "g" if g is not None else None, input_grads)
        raise GradientContractError(
            f"{where}: the gradients are nested as {shown!r} but the inputs are "
            f"({', '.join(names)}): return one gradient per input, as a flat tuple (or in the inputs' "
            "own structure).")
    for name, leaf, g in zip(names, flat_args, flat_grads):
        check_leaf(where, f"argument `{name}`", expected_of(leaf), g)
