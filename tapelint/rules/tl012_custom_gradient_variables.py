from __future__ import annotations

import ast

from tapelint.lazy_libcst import cst
from tapelint.rules.base import Finding, Invalid, Rule, Valid
from tapelint.screen_custom_gradients import custom_gradient_sites


class CustomGradientVariables(Rule):
    """
    ## What it does
    Checks `tf.custom_gradient` functions whose forward body reads trainable `tf.Variable`s that are not
    its inputs: a module-level or closed-over variable, or a `self.` weight of a layer. TensorFlow then
    passes those variables to the gradient function as `variables=` and expects gradients for them.
    Reported: a gradient function with no `variables` parameter; one that has it but returns something
    other than the pair `(input_grads, variable_grads)`; and a variable-gradient part that is `None`, a
    single tensor instead of a list, or a list with fewer gradients than the variables read.

    Only uses in the forward body itself count (uses in the gradient function happen later), and only
    of variables certainly trainable. A use is what TensorFlow counts as one: reading, slicing,
    `w.numpy()`, `w.assign(...)`, `tf.stop_gradient(w)`; metadata such as `w.shape` or `w.dtype` is not.
    Counting the input gradients is TL011's job (custom-gradient-arity).

    ## Why is this bad?
    Without a `variables` parameter, calling the function raises `TypeError: @tf.custom_gradient
    grad_fn must accept keyword argument 'variables', since function uses variables`. With it,
    TensorFlow unpacks `input_grads, variable_grads = grad_fn(*upstream, variables=variables)` and
    raises `ValueError: Must return gradient for each variable from @custom_gradient grad_fn` when the
    list is short, and `TypeError` for `None` or a scalar tensor there.

    ## Example
    ```python
    import tensorflow as tf

    w = tf.Variable(2.0)

    @tf.custom_gradient
    def scaled_softsign(x):
        y = w * x / (1 + tf.abs(x))
        def grad(dy):  # expect: TL012
            return dy * w / tf.square(1 + tf.abs(x))
        return y, grad
    ```

    ## Use instead
    ```python
    import tensorflow as tf

    w = tf.Variable(2.0)

    @tf.custom_gradient
    def scaled_softsign(x):
        s = x / (1 + tf.abs(x))
        def grad(dy, variables=None):
            dx = dy * w / tf.square(1 + tf.abs(x))
            dw = tf.reduce_sum(dy * s)
            return dx, [dw]  # one gradient per variable in `variables`
        return w * s, grad
    ```

    ## References
    - [tf.custom_gradient](https://www.tensorflow.org/api_docs/python/tf/custom_gradient)
    - [Custom gradients (TensorFlow guide)](https://www.tensorflow.org/guide/autodiff#custom_gradients)
    """

    code = "TL012"
    name = "custom-gradient-variables"
    summary = "A tf.custom_gradient function reads variables but its gradient function does not handle `variables`"
    message = (
        "the custom-gradient function reads tf.Variables: its gradient function must accept `variables=None` "
        "and return `(input_grads, variable_grads)` with one gradient per variable"
    )
    missing_message = (
        "`{f}` reads tf.Variable `{var}` (line {line}) but its gradient function `{g}` has no `variables` "
        "parameter: TensorFlow raises `TypeError: @tf.custom_gradient grad_fn must accept keyword argument "
        "'variables'` when `{f}` is called; add `variables=None` and return `(input_grads, "
        "[one gradient per variable])`"
    )
    not_pair_message = (
        "gradient function `{g}` of `{f}` takes `variables` (`{f}` reads `{var}`) but returns `{code}`, not "
        "the pair `(input_grads, variable_grads)`: TensorFlow unpacks the result into those two and fails, "
        "or splits a tensor along its first axis; return e.g. `(dx, [dw])`{hint}"
    )
    group_hint = " (group several input gradients into one tuple: `((dx, dy), [dw])`)"
    none_message = (
        "gradient function `{g}` of `{f}` returns `None` for the variable gradients, but `{f}` reads `{var}`: "
        "TensorFlow calls len() on them (TypeError); return a list with one gradient (or None) per variable "
        "in `variables`, e.g. `[None] * len(variables)`"
    )
    tensor_message = (
        "gradient function `{g}` of `{f}` returns the single tensor `{code}` as the variable gradients: "
        "TensorFlow expects a list with one gradient per variable in `variables` ({vars}); it calls len() on "
        "it (`TypeError: Scalar tensor has no len()`) or mixes its rows into the gradient list; return a "
        "list, e.g. `[{code}]`"
    )
    count_message = (
        "gradient function `{g}` of `{f}` returns {got} variable gradient(s) but `{f}` reads {want} "
        "variables ({vars}): TensorFlow raises `ValueError: Must return gradient for each variable from "
        "@custom_gradient grad_fn`; return one gradient per entry of `variables`, in that order (in eager mode "
        "it is not the order of the reads)"
    )

    triggers = ("custom_gradient",)
    needs_indirect_callers = False  # a custom gradient, what it refers to and its calls
    needs_named_methods = False  # methods: the one `custom_gradient` is applied to, its attribute stores
    callee_depth = 2  # bodies read: the forward function the applying code names, the gradient it names

    valid = (
        Valid(
            """
import tensorflow as tf

class LinearWithCustomGrad(tf.keras.layers.Layer):
    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], 8))
        self.bias = self.add_weight(shape=(8,), initializer="zeros")

    def call(self, x):
        @tf.custom_gradient
        def forward(x):
            y = tf.matmul(x, self.kernel) + self.bias
            def grad(dy, variables=None):
                dx = tf.matmul(dy, self.kernel, transpose_b=True)
                grads = [tf.matmul(x, dy, transpose_a=True), tf.reduce_sum(dy, 0)]
                return dx, grads
            return y, grad
        return forward(x)
"""
        ),
        Valid(
            """
import tensorflow as tf

step = tf.Variable(0, trainable=False)
scale = tf.Variable(3.0)

@tf.custom_gradient
def noisy(x):
    # a non-trainable counter and a variable's metadata are not tracked for gradients
    y = x + tf.cast(step, x.dtype) * 0.0 + tf.zeros(scale.shape)
    def grad(dy):
        return dy * scale  # reads in the gradient function happen later: no `variables` needed
    return y, grad

@tf.custom_gradient
def generic(x):
    y = x * scale
    def grad(*dys, **kwargs):
        variables = kwargs.get("variables")
        if variables is None:
            return dys[0] * scale
        return dys[0] * scale, [None] * len(variables)
    return y, grad
"""
        ),
        Valid(
            """
import tensorflow as tf

def make_op(w):
    @tf.custom_gradient
    def op(x):
        y = x * w  # `w` is a parameter of make_op: its kind is unknown here
        def grad(dy):
            return dy * w
        return y, grad
    return op
"""
        ),
    )
    invalid = (
        Invalid(
            """
import tensorflow as tf

class ClippedDense(tf.keras.layers.Layer):
    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], 16))

    @tf.custom_gradient
    def call(self, x):
        y = tf.matmul(x, self.w)
        def grad(dy):  # expect: TL012
            return tf.clip_by_norm(tf.matmul(dy, self.w, transpose_b=True), 1.0)
        return y, grad
"""
        ),
        Invalid(
            """
import tensorflow as tf

w = tf.Variable(tf.ones([4, 4]))
b = tf.Variable(tf.zeros([4]))

@tf.custom_gradient
def affine(x):
    y = tf.linalg.matvec(w, x) + b
    def grad(dy, variables=None):
        dx = tf.linalg.matvec(w, dy, transpose_a=True)
        return dx, [tf.tensordot(dy, x, axes=0)]  # expect: TL012
    return y, grad

@tf.custom_gradient
def scale_only(x):
    y = x * b
    def grad(dy, variables=None):
        return dy * b  # expect: TL012
    return y, grad
"""
        ),
        Invalid(
            """
import tensorflow as tf

gain = tf.Variable(1.5)

@tf.custom_gradient
def amplify(x):
    def grad(dy, variables):
        return dy * gain, tf.reduce_sum(dy * x)  # expect: TL012
    return x * gain, grad

@tf.custom_gradient
def amplify_frozen(x):
    return x * gain, lambda dy, variables=None: (dy * gain, None)  # expect: TL012
"""
        ),
    )

    @classmethod
    def screen(cls, facts):
        if not facts.applies_custom_gradient:
            return False
        sites = custom_gradient_sites(facts)
        for forward in sites.forwards:
            if not forward.grads:
                continue  # check: every finding is about a gradient function
            variables = sites.variables_read(forward)
            if not variables:
                continue  # check: `not cg.reads_variables`
            for grad in forward.grads:
                if not grad.takes_variables:
                    return True  # missing_message
                if grad.has_variables_param and any(
                        _may_be_wrong(sites, grad, value, variables) for value in grad.returns):
                    return True
        return False

    def check(self, model):
        index = model.custom_gradients
        for cg in index:
            if not cg.reads_variables:
                continue
            first = cg.variables_read[0]
            var = model.code(first)
            for grad in cg.grad_functions:
                if not grad.takes_variables:
                    anchor = grad.node.name if isinstance(grad.node, cst.FunctionDef) else grad.node
                    yield Finding(anchor, self.missing_message.format(
                        f=cg.name, var=var, line=model.line_of(first), g=grad.name))
                    continue
                if not grad.has_variables_param or index.is_forward(grad.node):
                    continue  # **kwargs: usually handles both cases itself; a custom-gradient grad_fn
                for node, value in zip(grad.return_nodes, grad.returns):
                    if index.guarded_by_variables(grad, node):
                        continue
                    finding = self._check_return(model, cg, grad, node, value, var)
                    if finding is not None:
                        yield finding

    def _check_return(self, model, cg, grad, node, value, var):
        index = model.custom_gradients
        code = model.code(value) if value is not None else "None"
        if value is None or index.is_none(value) or index.is_tensor(value):
            return Finding(node, self.not_pair_message.format(g=grad.name, f=cg.name, var=var, code=code, hint=""))
        if isinstance(value, (cst.Tuple, cst.List)):
            if any(isinstance(e, cst.StarredElement) for e in value.elements):
                return None
            if len(value.elements) != 2:
                hint = self.group_hint if len(value.elements) > 2 else ""
                return Finding(node, self.not_pair_message.format(g=grad.name, f=cg.name, var=var, code=code, hint=hint))
        parts = index.split_grad_return(cg, grad, node, value)
        if parts is None:
            return None
        variable_grads = parts[1]
        problem = index.variable_grads_problem(cg, variable_grads)
        if problem == "none":
            return Finding(node, self.none_message.format(g=grad.name, f=cg.name, var=var))
        if problem == "tensor":
            return Finding(node, self.tensor_message.format(
                g=grad.name, f=cg.name, code=model.code(variable_grads), vars=", ".join(self._variable_names(model, cg))))
        if problem == "count":
            seq = variable_grads
            if isinstance(seq, cst.Name):
                seq = index._sequence_bound_to(seq) or seq
            names = self._variable_names(model, cg)
            return Finding(node, self.count_message.format(
                g=grad.name, f=cg.name, got=len(seq.elements), want=len(cg.variable_keys), vars=", ".join(names)))
        return None

    @staticmethod
    def _variable_names(model, cg) -> list[str]:
        names: list[str] = []
        for node in cg.variables_read:
            text = model.code(node)
            if text not in names:
                names.append(text)
        return names


def _may_be_wrong(sites, grad, value, variables: int) -> bool:
    """_check_return may report the return of ``value`` by a gradient function that takes `variables`
    of a forward function reading at most ``variables`` variables: a bare return, `None` or what may be
    a tensor (not_pair_message), a literal of another length than 2, or a pair whose second element
    may be `None`, a tensor, or a literal with fewer elements than ``variables`` (a name some
    assignment binds to such a literal is also one that may be a tensor)."""
    if value is None or isinstance(value, ast.Constant) and value.value is None:
        return True
    if not isinstance(value, (ast.Tuple, ast.List)):
        return sites.may_be_tensor(value, grad.functions)
    if any(isinstance(e, ast.Starred) for e in value.elts):
        return False
    if len(value.elts) != 2:
        return True
    second = value.elts[1]
    if isinstance(second, ast.Constant) and second.value is None or sites.may_be_tensor(second, grad.functions):
        return True
    return isinstance(second, (ast.Tuple, ast.List)) and len(second.elts) < variables and \
        not any(isinstance(e, ast.Starred) for e in second.elts)
