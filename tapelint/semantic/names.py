"""Canonical qualified names, so that every spelling of a TensorFlow/Keras API compares equal.

``tf.compat.v2.GradientTape``, ``tensorflow.python.eager.backprop.GradientTape`` and
``from tensorflow import GradientTape as GT`` all become ``tensorflow.GradientTape``; ``tf.keras.X``,
``tf_keras.X`` and Keras 3's ``keras.X`` all become ``keras.X``.
"""

from __future__ import annotations

# Prefix rewrites, longest first. Internal module paths map onto the public API.
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("tensorflow.python.eager.backprop.", "tensorflow."),
    ("tensorflow.python.ops.custom_gradient.", "tensorflow."),
    ("tensorflow.python.ops.gradients_impl.", "tensorflow."),
    ("tensorflow.python.ops.gradients.", "tensorflow."),
    ("tensorflow.python.ops.variables.", "tensorflow."),
    ("tensorflow.python.ops.resource_variable_ops.ResourceVariable", "tensorflow.Variable"),
    ("tensorflow.python.eager.def_function.", "tensorflow."),
    ("tensorflow.python.eager.polymorphic_function.polymorphic_function.", "tensorflow."),
    ("tensorflow.python.framework.constant_op.", "tensorflow."),
    ("tensorflow.python.keras.", "keras."),
    ("tensorflow.compat.v2.", "tensorflow."),
    ("tensorflow.compat.v1.keras.", "keras."),
    ("tensorflow.keras.", "keras."),
    ("tf_keras.", "keras."),
    ("keras.src.", "keras."),
)
_EXACT = {
    "tensorflow.compat.v2": "tensorflow",
    "tensorflow.keras": "keras",
    "tf_keras": "keras",
    "tensorflow.python.eager.backprop": "tensorflow",
}

# Aliases inside Keras whose canonical spelling differs.
_KERAS_ALIASES = {
    "keras.backend.gradients": "keras.backend.gradients",
    "keras.layers.Layer": "keras.Layer",
    "keras.models.Model": "keras.Model",
    "keras.models.Sequential": "keras.Sequential",
    "keras.engine.training.Model": "keras.Model",
    "keras.engine.base_layer.Layer": "keras.Layer",
    "keras.layers.core.Dense": "keras.layers.Dense",
}


def canonical(name: str) -> str:
    if name in _EXACT:
        return _EXACT[name]
    for prefix, replacement in _PREFIXES:
        if name.startswith(prefix):
            name = replacement + name[len(prefix):]
            break
    return _KERAS_ALIASES.get(name, name)


GRADIENT_TAPE = "tensorflow.GradientTape"
VARIABLE = "tensorflow.Variable"
CUSTOM_GRADIENT = "tensorflow.custom_gradient"
TF_FUNCTION = "tensorflow.function"

# tf functions that create a fresh tensor that no tape watches unless told to.
TENSOR_FACTORIES = frozenset(
    "tensorflow." + n
    for n in (
        "constant", "convert_to_tensor", "ones", "zeros", "fill", "eye", "range", "linspace",
        "random.normal", "random.uniform", "random.truncated_normal", "random.stateless_normal",
        "random.stateless_uniform", "random.gamma", "random.poisson", "random.categorical",
        "ones_like", "zeros_like", "identity", "cast", "reshape", "stack", "concat",
    )
)
# Calls that ask for a variable's value as a tensor, or for its value in another dtype or shape: rebinding
# a variable's name to one (`v = tf.convert_to_tensor(v)`) is a deliberate conversion, not an update
# step that an in-place `assign` could replace (TL007).
CONVERSIONS = frozenset(
    [f"tensorflow.{n}" for n in (
        "convert_to_tensor", "identity", "stop_gradient", "constant", "cast", "dtypes.cast", "saturate_cast",
        "bitcast", "reshape", "transpose", "expand_dims", "squeeze",
    )]
    + [f"keras.ops.{n}" for n in (
        "convert_to_tensor", "stop_gradient", "cast", "copy", "reshape", "transpose", "expand_dims", "squeeze",
    )]
)
# Attributes of a variable or tensor that do not read its value (no VariableWatcher access; checked against
# TF 2.21: `w.shape`, `w.dtype`, `w.name` are not uses, while `w.assign(...)`, `w.numpy()`, `w[0]` and
# `tf.stop_gradient(w)` are).
NON_READING_ATTRIBUTES = frozenset({
    "shape", "dtype", "name", "trainable", "device", "get_shape", "constraint", "initializer",
    "synchronization", "aggregation", "handle", "graph", "op", "ndim", "path",
})
# Builtins that look at an object (its type, identity, length, truth, text) without making an operation
# of its value that a tape could record.
INSPECTING_BUILTINS = frozenset({
    "builtins.len", "builtins.isinstance", "builtins.type", "builtins.id", "builtins.bool", "builtins.callable",
    "builtins.print", "builtins.str", "builtins.repr",
})
# Factories whose result is an integer or boolean tensor whatever the arguments (TL017).
INTEGER_FACTORIES = frozenset({"tensorflow.range"})

VARIABLE_FACTORIES = frozenset({VARIABLE, "keras.Variable", "keras.backend.variable", "tensorflow.compat.v1.Variable"})
# Methods whose result is a new variable, whatever they are called on (`self.add_weight(...)`).
VARIABLE_METHODS = frozenset({"add_weight", "add_variable"})

# Functions of the numpy, math and builtins namespaces that leave TensorFlow.
NUMPY_MODULES = ("numpy.", "jax.numpy.", "scipy.")
PYTHON_SCALAR_BUILTINS = frozenset({"builtins.float", "builtins.int", "builtins.bool", "builtins.complex"})
