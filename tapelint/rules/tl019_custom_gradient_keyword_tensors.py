from __future__ import annotations

import ast
import functools

from tapelint.lazy_libcst import cst
from tapelint.rules.base import Finding, Invalid, Rule, Valid
from tapelint.screen_custom_gradients import custom_gradient_sites
from tapelint.semantic.values import Kind


@functools.cache
def _literals() -> tuple[type, ...]:  # (built on first use: tapelint/lazy_libcst.py)
    return (cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)


class CustomGradientKeywordTensors(Rule):
    """
    ## What it does
    Checks calls of a `tf.custom_gradient` function defined in the same file (by name, through
    `f = tf.custom_gradient(f)`, or as `self.method(...)` for a decorated method) that pass one of the
    forward function's positional parameters by keyword. Reported:
    - any keyword argument in a call inside a `tf.function` of the same file;
    - a keyword (even a literal) for a positional parameter when the gradient function certainly
      returns one gradient per parameter, so that TensorFlow expects fewer gradients than it gets;
    - a tensor passed by keyword: the value of a parameter without a default, unless it is a literal
      (`axis=1`, `name="x"`, `training=True`), or a value that is certainly a tensor. An option such
      as `clip_norm=0.5` or `training=None` passed by keyword is otherwise fine in eager mode.

    ## Why is this bad?
    `tf.custom_gradient` treats only positional arguments as inputs. In eager mode a tensor passed by
    keyword is not an input of the recorded gradient op, so it gets no gradient (`None`) from the
    custom gradient, and a call made only of keyword arguments records no custom-gradient op at all:
    TensorFlow differentiates the forward code instead and the custom gradient is silently bypassed. A
    gradient function that returns a gradient for every parameter fails as soon as one is passed by
    keyword (`ValueError: custom_gradient function expected to return 1 gradients, but returned 2
    instead`). In graph mode (inside `tf.function`, Keras `fit`) any keyword argument raises
    `ValueError: The custom_gradient decorator currently supports keywords arguments only when eager
    execution is enabled`.

    ## Example
    ```python
    import tensorflow as tf

    @tf.custom_gradient
    def bilinear(x, y):
        def grad(dz):
            return dz * y, dz * x
        return x * y, grad

    a = tf.Variable(2.0)
    b = tf.Variable(3.0)
    with tf.GradientTape() as tape:
        z = bilinear(a, y=b)  # expect: TL019
    # ValueError: custom_gradient function expected to return 1 gradients, but returned 2 instead
    da, db = tape.gradient(z, [a, b])
    ```

    ## Use instead
    ```python
    import tensorflow as tf

    @tf.custom_gradient
    def bilinear(x, y):
        def grad(dz):
            return dz * y, dz * x
        return x * y, grad

    a = tf.Variable(2.0)
    b = tf.Variable(3.0)
    with tf.GradientTape() as tape:
        z = bilinear(a, b)
    da, db = tape.gradient(z, [a, b])
    ```

    ## References
    - [tf.custom_gradient](https://www.tensorflow.org/api_docs/python/tf/custom_gradient)
    - [custom_gradient.py: only positional arguments are recorded as inputs](https://github.com/tensorflow/tensorflow/blob/master/tensorflow/python/ops/custom_gradient.py)
    """

    code = "TL019"
    name = "custom-gradient-keyword-tensors"
    summary = "A tf.custom_gradient function is called with tensors as keyword arguments"
    message = (
        "pass the tensor inputs of a tf.custom_gradient function positionally: keyword arguments get no "
        "gradient in eager mode and raise ValueError inside tf.function"
    )
    partial_message = (
        "{what} passed to custom-gradient function `{f}` by keyword: TensorFlow treats only positional "
        "arguments as inputs, so in eager mode {them} no gradient (None) from the custom gradient, and "
        "inside tf.function any keyword argument raises ValueError; pass {it} positionally: `{fixed}`"
    )
    count_message = (
        "`{kws}` passed to custom-gradient function `{f}` by keyword, so TensorFlow counts only the {p} "
        "positional argument(s) as inputs, but its gradient function `{g}` returns {c} gradients: backprop "
        "raises `ValueError: custom_gradient function expected to return {p} gradients, but returned {c} "
        "instead` (and inside tf.function any keyword argument raises ValueError); pass it positionally: "
        "`{fixed}`"
    )
    all_keyword_message = (
        "custom-gradient function `{f}` is called with keyword arguments only ({kws}): TensorFlow records no "
        "custom-gradient op for keyword inputs, so the custom gradient is bypassed in eager mode (the forward "
        "code is differentiated instead) and the call raises ValueError inside tf.function; pass the tensors "
        "positionally: `{fixed}`"
    )
    graph_message = (
        "custom-gradient function `{f}` is called with keyword argument(s) {kws} inside a tf.function: in "
        "graph mode tf.custom_gradient raises `ValueError: The custom_gradient decorator currently supports "
        "keywords arguments only when eager execution is enabled`; pass them positionally"
    )

    triggers = ("custom_gradient",)
    needs_indirect_callers = False  # a custom gradient, what it refers to and its calls
    needs_named_methods = False  # methods: the one `custom_gradient` is applied to, its attribute stores
    callee_depth = 2  # bodies read: the forward function the applying code names, the gradient it names

    valid = (
        Valid(
            """
import tensorflow as tf

@tf.custom_gradient
def clip_grad(x, clip_norm=1.0):
    def grad(dy):
        return tf.clip_by_norm(dy, clip_norm)  # one gradient: `clip_norm` is meant to be a keyword
    return tf.identity(x), grad

def forward(model, x):
    h = model(x)
    return clip_grad(h, clip_norm=0.5)  # a literal option, one positional input: fine in eager mode
"""
        ),
        Valid(
            """
import tensorflow as tf

@tf.custom_gradient
def gated(x, gate, *, axis=-1):
    def grad(dy):
        return dy * gate, None
    return x * gate, grad

def step(x, g, ax):
    return gated(x, g, axis=ax)  # keyword-only parameter: not an input
"""
        ),
        Valid(
            """
import tensorflow as tf

def _ste(x, scale):
    def grad(dy):
        return dy, None
    return tf.round(x * scale) / scale, grad

ste = tf.custom_gradient(_ste)

def quantize(x, scale):
    y = _ste(x, scale=scale)  # the plain function, before wrapping: no custom gradient involved
    return ste(x, scale), y
"""
        ),
    )
    invalid = (
        Invalid(
            """
import tensorflow as tf

@tf.custom_gradient
def scaled_identity(x, scale):
    def grad(dy):
        return dy * scale, None
    return tf.identity(x), grad

def forward(h):
    return scaled_identity(x=h,  # expect: TL019
                           scale=tf.constant(0.1))
"""
        ),
        Invalid(
            """
import tensorflow as tf

class Quantizer(tf.keras.layers.Layer):
    @tf.custom_gradient
    def quantize(self, x, levels):
        def grad(dy):
            return dy, None
        return tf.round(x * levels) / levels, grad

    def call(self, inputs, levels):
        return self.quantize(inputs, levels=levels)  # expect: TL019
"""
        ),
        Invalid(
            """
import tensorflow as tf

@tf.custom_gradient
def clip_grad(x, clip_norm=1.0):
    def grad(dy):
        return tf.clip_by_norm(dy, clip_norm), None
    return tf.identity(x), grad

@tf.function
def train_step(model, x):
    h = model(x)
    return clip_grad(h, clip_norm=0.5)  # expect: TL019

def eager_forward(model, x):
    # eager: one positional input, but `grad` returns two gradients -> ValueError in backprop
    return clip_grad(model(x), clip_norm=0.5)  # expect: TL019
"""
        ),
    )

    @classmethod
    def screen(cls, facts):
        if not facts.applies_custom_gradient:
            return False
        sites = custom_gradient_sites(facts)
        if not sites.forwards:
            return False
        inputs = set().union(*(forward.input_names for forward in sites.forwards))
        for call, functions in sites.keyword_calls:
            if sites.may_run_in_tf_function(functions):
                return True  # graph_message: any keyword
            by_keyword = [k for k in call.keywords if k.arg in inputs]
            # count_message needs a positional argument besides; the other two a tensor by keyword
            if by_keyword and (call.args or not all(_literal(k.value) for k in by_keyword)):
                return True
        return False

    def check(self, model):
        index = model.custom_gradients
        for cg in index:
            inputs = {p.name.value: p for p in cg.inputs}
            for call in index.calls(cg):
                args = list(call.args)
                if any(a.star for a in args):
                    continue
                keywords = [a for a in args if a.keyword is not None]
                if not keywords:
                    continue
                positional = [a for a in args if a.keyword is None]
                if model.in_tf_function(call):
                    yield Finding(keywords[0], self.graph_message.format(
                        f=cg.name, kws=", ".join(f"`{a.keyword.value}=`" for a in keywords)))
                    continue
                fixed = self._positional_form(model, cg, call)
                by_keyword = [a for a in keywords if a.keyword.value in inputs]
                mismatch = self._count_mismatch(index, cg, len(positional)) if by_keyword and positional else None
                if mismatch is not None:
                    grad, got = mismatch
                    yield Finding(by_keyword[0], self.count_message.format(
                        kws="`, `".join(f"{a.keyword.value}=" for a in by_keyword), f=cg.name, p=len(positional),
                        g=grad.name, c=got, fixed=fixed))
                    continue
                tensors = [a for a in by_keyword if self._tensor_argument(model, a, inputs[a.keyword.value])]
                if not tensors:
                    continue
                if not positional:
                    yield Finding(tensors[0], self.all_keyword_message.format(
                        f=cg.name, kws=", ".join(f"`{a.keyword.value}=`" for a in keywords), fixed=fixed))
                    continue
                names = [f"`{a.keyword.value}`" for a in tensors]
                plural = len(names) > 1
                yield Finding(tensors[0], self.partial_message.format(
                    what=("tensors " if plural else "tensor ") + ", ".join(names) + (" are" if plural else " is"),
                    f=cg.name, them="they get" if plural else "it gets", it="them" if plural else "it",
                    fixed=fixed))

    @staticmethod
    def _count_mismatch(index, cg, passed: int):
        """(gradient function, count) when every countable return of a gradient function of ``cg``
        gives a count that TL011 accepts for the signature but that differs from the ``passed``
        positional arguments of this call: backprop certainly raises in eager mode."""
        if cg.variadic or index.inputs_may_be_structures(cg):
            return None
        found = None
        for grad in cg.grad_functions:
            for node, value in zip(grad.return_nodes, grad.returns):
                parts = index.split_grad_return(cg, grad, node, value)
                if parts is None:
                    continue
                input_grads, variable_grads = parts
                if variable_grads is not None and index.variable_grads_problem(cg, variable_grads):
                    continue
                if index.function_in(input_grads) is not None:
                    continue
                got = 1 if input_grads is None else index.flat_count(input_grads)
                if got is None or not cg.required_inputs <= got <= len(cg.inputs):
                    continue  # unknown, or TL011's to report
                if got == passed:
                    return None
                found = found or (grad, got)
        return found

    @staticmethod
    def _tensor_argument(model, arg: cst.Arg, param: cst.Param) -> bool:
        value = arg.value
        if isinstance(value, cst.UnaryOperation):
            value = value.expression
        if isinstance(value, _literals()) or (isinstance(value, cst.Name) and value.value in ("True", "False", "None")):
            return False
        kind = model.values.kind(arg.value)
        if kind in (Kind.TENSOR, Kind.VARIABLE, Kind.GRADIENT):
            return True
        if kind in (Kind.PYTHON_NUMBER, Kind.NUMPY):
            return False
        # A parameter with a default is usually an option (`scale=1.0`, `training=None`): an unknown value
        # passed to it may well be a Python number or flag. Without a default, it is a tensor input.
        return param.default is None

    @staticmethod
    def _positional_form(model, cg, call: cst.Call) -> str:
        """The call with its input arguments in parameter order, positionally (for the message)."""
        order = [p.name.value for p in cg.inputs]
        by_name = {a.keyword.value: a for a in call.args if a.keyword is not None}
        positional = [a for a in call.args if a.keyword is None]
        parts = [model.module.code_for_node(a.value) for a in positional]
        rest = []
        for name in order[len(positional):]:
            if name in by_name:
                parts.append(model.module.code_for_node(by_name.pop(name).value))
            else:
                break
        rest = [f"{k}={model.module.code_for_node(a.value)}" for k, a in by_name.items()]
        func = model.module.code_for_node(call.func)
        text = f"{func}({', '.join(parts + rest)})"
        return " ".join(text.split()) if len(text) <= 80 else f"{func}(...)"


def _literal(expr: ast.expr) -> bool:
    """What ``_tensor_argument`` takes for a literal, never a tensor: a number, string, `True`,
    `False` or `None`, maybe negated (not `...`)."""
    if isinstance(expr, ast.UnaryOp):
        expr = expr.operand
    return isinstance(expr, ast.JoinedStr) or isinstance(expr, ast.Constant) and expr.value is not ...
