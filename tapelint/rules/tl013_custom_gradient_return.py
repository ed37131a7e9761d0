from __future__ import annotations

import ast

from tapelint.lazy_libcst import cst
from tapelint.rules.base import Finding, Invalid, Rule, Valid
from tapelint.screen_custom_gradients import NOT_COUNTED, custom_gradient_sites


class CustomGradientReturn(Rule):
    """
    ## What it does
    Checks the contract between a `tf.custom_gradient` function and TensorFlow: the decorated (forward)
    function must return the pair `(output, grad_fn)`, and `grad_fn` must accept the upstream gradient,
    one positional argument per output. Reported: a forward function that returns only its output,
    `None`, more or fewer than two values, the pair in the wrong order, or a tensor (the result of
    calling the gradient function) where the gradient function belongs; a gradient function with no
    upstream parameter, or with a number of upstream parameters that does not match the outputs.

    ## Why is this bad?
    TensorFlow unpacks `output, grad_fn = f(*args)` when the function is called, so a forward function
    that returns anything but a pair fails with an error that does not name the mistake (`ValueError:
    too many values to unpack`, `TypeError: Cannot iterate over a scalar tensor`, or `TypeError:
    unsupported callable` when the second element is a tensor). During backpropagation
    TensorFlow calls `grad_fn(*upstream)` with one gradient per flattened output: a gradient function
    without an upstream parameter raises `TypeError: grad() takes 0 positional arguments but 1 was
    given`, and one that ignores the upstream gradient breaks the chain rule.

    ## Example
    ```python
    import tensorflow as tf

    @tf.custom_gradient
    def clip_gradients(x):
        def grad():  # expect: TL013
            return tf.clip_by_norm(x, 1.0)
        return tf.identity(x), grad
    ```

    ## Use instead
    ```python
    import tensorflow as tf

    @tf.custom_gradient
    def clip_gradients(x):
        def grad(upstream):
            return tf.clip_by_norm(upstream, 1.0)
        return tf.identity(x), grad
    ```

    ## References
    - [tf.custom_gradient](https://www.tensorflow.org/api_docs/python/tf/custom_gradient)
    - [Custom gradients (TensorFlow guide)](https://www.tensorflow.org/guide/autodiff#custom_gradients)
    """

    code = "TL013"
    name = "custom-gradient-return"
    summary = "A tf.custom_gradient function does not return (output, grad_fn), or its grad_fn takes no upstream gradient"
    message = (
        "a tf.custom_gradient function must return `(output, grad_fn)` and `grad_fn` must take the upstream "
        "gradient; otherwise TensorFlow fails when the function is called or differentiated"
    )
    not_pair_message = (
        "custom-gradient function `{f}` returns `{code}` instead of the pair `(output, grad_fn)`: TensorFlow "
        "unpacks `output, grad_fn = {f}(...)` and fails when `{f}` is called; return the output together "
        "with the gradient function, e.g. `return y, grad`"
    )
    no_return_message = (
        "custom-gradient function `{f}` never returns: TensorFlow unpacks `output, grad_fn = {f}(...)` and "
        "raises TypeError (cannot unpack None) when it is called; end it with `return y, grad`"
    )
    wrong_order_message = (
        "custom-gradient function `{f}` returns `{code}`, the gradient function first: TensorFlow takes the "
        "first element as the output and calls the second during backprop; return `(output, grad_fn)`"
    )
    not_function_message = (
        "custom-gradient function `{f}` returns `{code}` where its gradient function belongs: TensorFlow "
        "inspects that second element as a function when `{f}` is called (`TypeError: unsupported "
        "callable`); return the function itself (`return y, grad`), not its result"
    )
    no_upstream_message = (
        "gradient function `{g}` of `{f}` takes no upstream-gradient argument: TensorFlow calls it with one "
        "positional gradient per output, which raises `TypeError: {g}() takes 0 positional arguments`; "
        "add an `upstream` parameter and multiply it into the returned gradients (chain rule)"
    )
    upstream_count_message = (
        "gradient function `{g}` of `{f}` takes {k} upstream gradient(s) but `{f}` returns {m} output(s): "
        "TensorFlow calls it with one positional gradient per (flattened) output and raises TypeError; "
        "take one parameter per output, or `*upstream`"
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
"""
        ),
        Valid(
            """
import tensorflow as tf

@tf.custom_gradient
def split_heads(x):
    a, b = tf.split(x, 2, axis=-1)
    def grad(da, db):
        return tf.concat([da, db], axis=-1)
    return (a, b), grad

@tf.custom_gradient
def straight_through_round(x):
    return tf.round(x), lambda dy: dy
"""
        ),
        Valid(
            """
from tensorflow import custom_gradient
import tensorflow as tf

def _forward(x, threshold):
    y = tf.where(x > threshold, x, 0.0)
    def grad(*upstream, **kwargs):
        return upstream[0], None
    if threshold is None:
        return helper(x)  # unknown: not reported
    return y, grad

soft_threshold = custom_gradient(_forward)
"""
        ),
        Valid(
            """
import tensorflow as tf

class Scale(tf.keras.layers.Layer):
    def build(self, input_shape):
        self.w = self.add_weight(shape=(), initializer="ones")

    @tf.custom_gradient
    def scaled(self, x):
        def grad(dy, variables=None):
            return dy * self.w, [tf.reduce_sum(dy * x)]
        return x * self.w, grad
"""
        ),
    )
    invalid = (
        Invalid(
            """
import tensorflow as tf

@tf.custom_gradient
def safe_norm(x):
    y = tf.norm(x)
    def grad(dy):
        return dy * x / y
    return y  # expect: TL013

@tf.custom_gradient
def swapped(x):
    def grad(dy):
        return dy * 2.0
    return grad, x * 2.0  # expect: TL013
"""
        ),
        Invalid(
            """
import tensorflow as tf

@tf.function
@tf.custom_gradient
def hard_sigmoid(x):
    y = tf.clip_by_value(0.2 * x + 0.5, 0.0, 1.0)
    def grad(dy):
        return dy * 0.2
    return y, grad(y)  # expect: TL013
"""
        ),
        Invalid(
            """
import tensorflow as tf

def _pair(x):
    a = tf.sin(x)
    b = tf.cos(x)
    def grad(da):  # expect: TL013
        return da * b
    return (a, b), grad

pair = tf.custom_gradient(_pair)
"""
        ),
        Invalid(
            """
import tensorflow as tf

@tf.custom_gradient
def stop_and_scale(x):
    return tf.identity(x), lambda: tf.ones_like(x)  # expect: TL013
"""
        ),
    )

    @classmethod
    def screen(cls, facts):
        if not facts.applies_custom_gradient:
            return False
        sites = custom_gradient_sites(facts)
        for forward in sites.forwards:
            if forward.never_returns:
                return True  # _check_forward: no return
            if any(_may_not_return_pair(sites, ret.value, forward.functions) for ret in forward.returns):
                return True  # _check_forward: a return that may not be `(output, grad_fn)`
            for pair in forward.pairs:
                for grad in pair.grads:
                    if grad.star_upstream:
                        continue
                    if not grad.positional:
                        return True  # _check_grads: no upstream parameter
                    # _check_grads: a count of outputs (flat_count) other than the upstream parameters take
                    outputs = sites.leaves(pair.output, forward.functions)
                    if outputs is None or outputs != NOT_COUNTED and \
                            not grad.required <= outputs <= len(grad.positional):
                        return True
        return False

    def check(self, model):
        index = model.custom_gradients
        for cg in index:
            yield from self._check_forward(model, cg)
            yield from self._check_grads(model, cg)

    def _check_forward(self, model, cg):
        index = model.custom_gradients
        fn = cg.forward
        if not cg.returns:
            if not self._abstract_or_generator(model, fn):
                yield Finding(fn.name, self.no_return_message.format(f=cg.name))
            return
        for pair in cg.pairs:
            ret = pair.node
            value = ret.value
            if isinstance(value, cst.Name) and not index.is_none(value):
                value = index._sequence_bound_to(value) or value
            code = model.code(ret.value) if ret.value is not None else "None"
            if value is None or index.is_none(value) or index.is_tensor(value):
                yield Finding(ret, self.not_pair_message.format(f=cg.name, code=code))
            elif isinstance(value, (cst.Tuple, cst.List)):
                if any(isinstance(e, cst.StarredElement) for e in value.elements):
                    continue
                if len(value.elements) != 2:
                    yield Finding(ret, self.not_pair_message.format(f=cg.name, code=code))
                    continue
                first, second = (e.value for e in value.elements)
                if index.is_function(first) and not index.is_function(second):
                    yield Finding(ret, self.wrong_order_message.format(f=cg.name, code=code))
                elif index.is_none(second) or index.is_tensor(second) or isinstance(second, (cst.Integer, cst.Float)):
                    yield Finding(ret, self.not_function_message.format(f=cg.name, code=model.code(second)))
                elif isinstance(second, cst.Call) and index.is_function(second.func):
                    # `return y, grad(y)`: the gradient function's result, not the function
                    yield Finding(ret, self.not_function_message.format(f=cg.name, code=model.code(second)))

    def _check_grads(self, model, cg):
        index = model.custom_gradients
        for grad in cg.grad_functions:
            anchor = grad.node.name if isinstance(grad.node, cst.FunctionDef) else grad.node
            if grad.star_upstream:
                continue
            if not grad.positional:
                yield Finding(anchor, self.no_upstream_message.format(g=grad.name, f=cg.name))
                continue
            total = len(grad.positional)
            required = sum(1 for p in grad.positional if p.default is None)
            for pair in cg.pairs:
                if pair.grad is not grad:
                    continue
                outputs = index.flat_count(pair.output)
                if outputs is not None and not required <= outputs <= total:
                    yield Finding(anchor, self.upstream_count_message.format(
                        g=grad.name, f=cg.name, k=total, m=outputs))
                    break

    @staticmethod
    def _abstract_or_generator(model, fn: cst.FunctionDef) -> bool:
        if any(model.function_of(y) is fn for y in model.tree.descendants(fn, cst.Yield)):
            return True
        body = fn.body.body if isinstance(fn.body, cst.IndentedBlock) else ()
        trivial = True
        for stmt in body:
            smalls = stmt.body if isinstance(stmt, cst.SimpleStatementLine) else (stmt,)
            for small in smalls:
                if isinstance(small, cst.Raise):
                    return True  # always raises (e.g. not implemented)
                if isinstance(small, cst.Pass) or (isinstance(small, cst.Expr) and isinstance(
                        small.value, (cst.Ellipsis, cst.SimpleString, cst.ConcatenatedString))):
                    continue
                trivial = False
        return trivial


def _may_not_return_pair(sites, value, functions) -> bool:
    """_check_forward may report the return of ``value``: a bare return, `None`, what may be a tensor
    (a name may also be bound to a tuple of another length than 2), a literal of another length than
    2, or a pair that may start with a function or end in `None`, a number, a tensor or a call of a
    function."""
    if value is None:
        return True
    if isinstance(value, ast.Constant):
        return value.value is None
    if not isinstance(value, (ast.Tuple, ast.List)):
        return sites.may_be_tensor(value, functions)
    if any(isinstance(e, ast.Starred) for e in value.elts):
        return False
    if len(value.elts) != 2:
        return True
    first, second = value.elts
    return sites.may_be_function(first, functions) or _none_or_number(second) or \
        sites.may_be_tensor(second, functions) or \
        isinstance(second, ast.Call) and sites.may_be_function(second.func, functions)  # `grad(y)`


def _none_or_number(expr) -> bool:
    return isinstance(expr, ast.Constant) and (expr.value is None or type(expr.value) in (int, float))
