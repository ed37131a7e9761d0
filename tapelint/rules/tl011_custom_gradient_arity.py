from __future__ import annotations

import ast

from tapelint.lazy_libcst import cst
from tapelint.rules.base import Finding, Invalid, Rule, Valid
from tapelint.screen_custom_gradients import NOT_COUNTED, custom_gradient_sites


class CustomGradientArity(Rule):
    """
    ## What it does
    Checks that the gradient function of a `tf.custom_gradient` function returns exactly one gradient
    per positional input of the forward function (a single tensor for one input, a tuple or list of
    `n` for `n` inputs, `None` for an input that needs no gradient), and that it returns tensors, not a
    function. Nested tuples are counted the way TensorFlow counts them, after `tf.nest.flatten`; a
    parameter with a default may or may not be passed, so either count is accepted for it.

    When the forward function reads variables, the gradient function returns
    `(input_grads, variable_grads)`; this rule then counts `input_grads`. Everything about the
    variable part (a missing `variables` parameter, a return that is not that pair, a wrong variable
    gradient list) is reported by TL012 (custom-gradient-variables) instead, so one mistake is reported
    once.

    ## Why is this bad?
    TensorFlow checks the count only when the gradient is computed, deep inside backpropagation
    (eager mode: `ValueError: custom_gradient function expected to return 1 gradients, but returned 2
    instead`; inside a `tf.function`: `InternalError: Recorded operation 'f' returned too few
    gradients`). A function returned where a tensor belongs is not checked at all: `tape.gradient`
    hands it to the optimizer, which fails there. The usual causes are a
    gradient forgotten for a second input (`axis`, `threshold`: a Python number passed positionally
    also counts, and a parameter with a default counts when it is passed), or a variable gradient
    returned as if it were an input gradient.

    ## Example
    ```python
    import tensorflow as tf

    @tf.custom_gradient
    def clip_by_threshold(x, threshold):
        y = tf.minimum(x, threshold)
        def grad(dy):
            return tf.where(x < threshold, dy, 0.0)  # expect: TL011
        return y, grad
    ```

    ## Use instead
    ```python
    import tensorflow as tf

    @tf.custom_gradient
    def clip_by_threshold(x, threshold):
        y = tf.minimum(x, threshold)
        def grad(dy):
            return tf.where(x < threshold, dy, 0.0), None  # no gradient for the threshold
        return y, grad
    ```

    ## References
    - [tf.custom_gradient](https://www.tensorflow.org/api_docs/python/tf/custom_gradient)
    - [Custom gradients (TensorFlow guide)](https://www.tensorflow.org/guide/autodiff#custom_gradients)
    """

    code = "TL011"
    name = "custom-gradient-arity"
    summary = "A tf.custom_gradient gradient function returns a different number of gradients than there are inputs"
    message = (
        "the gradient function must return one gradient per positional input of the custom-gradient "
        "function; TensorFlow raises ValueError during backprop otherwise"
    )
    count_message = (
        "gradient function `{g}` of `{f}` returns {got} gradient(s) but `{f}` has {want} positional "
        "input(s) ({inputs}): backprop raises `ValueError: custom_gradient function expected to return "
        "{want_first} gradients, but returned {got} instead` (inside tf.function, `InternalError: Recorded "
        "operation '{f}' returned too few gradients`); return one gradient per input, in order (`None` for "
        "an input that needs none){hint}"
    )
    variable_hint = (
        "; if `{code}` holds variable gradients, add a `variables=None` parameter and return "
        "`(input_grads, variable_grads)`"
    )
    nested_hint = " (TensorFlow flattens nested tuples before counting)"
    function_message = (
        "gradient function `{g}` of `{f}` returns the function `{code}` where a gradient tensor belongs: "
        "TensorFlow passes it on unchecked, so `tape.gradient` returns a function instead of a tensor and the "
        "optimizer fails later; return the gradient itself (call the function, or compute "
        "`upstream * local_gradient`)"
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
def log1pexp(x):
    e = tf.exp(x)
    def grad(upstream):
        return upstream * (1 - 1 / (1 + e))
    return tf.math.log(1 + e), grad

@tf.custom_gradient
def scale_grad(x, scale):
    def grad(dy):
        return (dy * scale, None)
    return tf.identity(x), grad
"""
        ),
        Valid(
            """
import tensorflow as tf

class Dense(tf.keras.layers.Layer):
    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], 4))

    @tf.custom_gradient
    def project(self, x):
        y = tf.matmul(x, self.kernel)
        def grad(dy, variables=None):
            dx = tf.matmul(dy, self.kernel, transpose_b=True)
            dk = tf.matmul(x, dy, transpose_a=True)
            return dx, [dk]
        return y, grad
"""
        ),
        Valid(
            """
import tensorflow as tf

@tf.custom_gradient
def sum_all(*xs):  # variadic: the number of inputs is unknown
    def grad(dy):
        return [dy for _ in xs]
    return tf.add_n(xs), grad

@tf.custom_gradient
def fused(a, b, c):
    def grad(dy):
        grads = helper_grads(dy)  # unknown structure: not counted
        return grads
    return a * b + c, grad

@tf.custom_gradient
def mul(a, b):
    def grad(dy):
        grads = [dy * b, dy * a]
        return grads
    return a * b, lambda dy: (dy * b, dy * a)
"""
        ),
        Valid(
            """
import tensorflow as tf

def blur(x, kernel):
    @tf.custom_gradient
    def func(x):
        y = conv(x, kernel)
        @tf.custom_gradient
        def grad(dy):  # differentiable twice: the gradient function has its own custom gradient
            dx = conv(dy, kernel, flip=True)
            return dx, lambda ddx: conv(ddx, kernel)
        return y, grad
    return func(x)
"""
        ),
        Valid(
            """
import tensorflow as tf

@tf.custom_gradient
def leaky(x, alpha=0.2):
    def grad(dy):
        return tf.where(x > 0, dy, alpha * dy)  # one input when called as leaky(x)
    return tf.where(x > 0, x, alpha * x), grad
"""
        ),
    )
    invalid = (
        Invalid(
            """
import tensorflow as tf

@tf.custom_gradient
def straight_through_sign(x):
    def grad(dy):
        return dy, None  # expect: TL011
    return tf.sign(x), grad

@tf.custom_gradient
def gate(x, w, b):
    y = tf.sigmoid(x * w + b)
    def grad(dy):
        s = dy * y * (1 - y)
        return (s * w, s * x)  # expect: TL011
    return y, grad
"""
        ),
        Invalid(
            """
import tensorflow as tf

@tf.custom_gradient
def norm(x):
    n = tf.norm(x)
    def grad(dy):
        return grad  # expect: TL011
    return n, grad

def _bilinear(x, y):
    def grad(dz):
        return ((dz * y, dz * x), dz)  # expect: TL011
    return x * y, grad

bilinear = tf.custom_gradient(_bilinear)
"""
        ),
        Invalid(
            """
import tensorflow as tf

class Gate(tf.keras.layers.Layer):
    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],))

    @tf.custom_gradient
    def gated(self, x, mask):
        y = x * self.w * mask
        def grad(dy, variables=None):
            return dy * self.w * mask, [tf.reduce_sum(dy * x * mask, 0)]  # expect: TL011
        return y, grad
"""
        ),
    )

    @classmethod
    def screen(cls, facts):
        if not facts.applies_custom_gradient:
            return False
        sites = custom_gradient_sites(facts)
        for forward in sites.forwards:
            counts = [(low, high) for low, high in forward.input_counts if high]
            if forward.variadic or not counts:
                continue  # check: `cg.variadic or not cg.inputs`
            reads_variables = any(g.takes_variables for g in forward.grads) and sites.variables_read(forward) > 0
            for grad in forward.grads:
                for value in grad.returns:
                    for input_grads in _input_grads(sites, grad, value, reads_variables):
                        if sites.may_hold_function(input_grads, grad.functions):
                            return True  # function_message
                        got = 1 if input_grads is None else sites.leaves(input_grads, grad.functions)
                        if got is None or got != NOT_COUNTED and any(not low <= got <= high for low, high in counts):
                            return True  # count_message
        return False

    def check(self, model):
        index = model.custom_gradients
        for cg in index:
            if cg.variadic or not cg.inputs or index.inputs_may_be_structures(cg):
                continue
            want_min, want_max = cg.required_inputs, len(cg.inputs)
            for grad in cg.grad_functions:
                for node, value in zip(grad.return_nodes, grad.returns):
                    parts = index.split_grad_return(cg, grad, node, value)
                    if parts is None:
                        continue
                    input_grads, variable_grads = parts
                    if variable_grads is not None and index.variable_grads_problem(cg, variable_grads):
                        continue  # TL012 reports this return
                    function = index.function_in(input_grads)
                    if function is not None:
                        yield Finding(node, self.function_message.format(
                            g=grad.name, f=cg.name, code=model.code(function)))
                        continue
                    got = 1 if input_grads is None else index.flat_count(input_grads)
                    if got is None or want_min <= got <= want_max:
                        continue
                    yield Finding(node, self.count_message.format(
                        g=grad.name, f=cg.name, got=got,
                        want=str(want_max) if want_min == want_max else f"{want_min} to {want_max}",
                        want_first=want_max if got > want_max else want_min,
                        inputs=", ".join(p.name.value for p in cg.inputs),
                        hint=self._hint(model, grad, input_grads)))

    def _hint(self, model, grad, value) -> str:
        if not isinstance(value, (cst.Tuple, cst.List)):
            return ""
        elements = [e.value for e in value.elements]
        if not grad.takes_variables and len(elements) == 2 and isinstance(elements[1], cst.List):
            return self.variable_hint.format(code=model.code(elements[1]))
        if any(isinstance(e, (cst.Tuple, cst.List)) for e in elements):
            return self.nested_hint
        return ""


_NOTHING = object()


def _input_grads(sites, grad, value, reads_variables):
    """What ``split_grad_return`` may take for the input gradients of the return of ``value`` (None: a
    bare return): without `variables`, the value; with it, and when the forward function may read
    variables, the first element of a literal pair. A gradient function that may itself be a
    custom-gradient function returns `(gradient, its gradient function)`: the first element then."""
    values = [value]
    if id(grad.node) in sites.forward_nodes:
        values.append(_first_of_pair(value))
    for value in values:
        if value is _NOTHING:
            continue
        if not grad.takes_variables:
            yield value
        elif reads_variables:
            first = _first_of_pair(value)
            if first is not _NOTHING:
                yield first


def _first_of_pair(value):
    if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == 2 and \
            not any(isinstance(e, ast.Starred) for e in value.elts):
        return value.elts[0]
    return _NOTHING
