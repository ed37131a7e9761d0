from __future__ import annotations

import ast
import re

from tapelint.lazy_libcst import cst
from tapelint.rules.base import Finding, Invalid, Rule, Valid
from tapelint.screen import ASSIGNMENT, TARGET_TAIL, TENSOR_CALLS, VARIABLE_TRIGGERS, statement_lists
from tapelint.semantic import names as N
from tapelint.semantic.names import VARIABLE_METHODS
from tapelint.semantic.values import Kind

# Weights of built-in Keras layers, by attribute name.
WEIGHT_NAMES = frozenset({
    "kernel", "bias", "embeddings", "gamma", "beta", "moving_mean", "moving_variance", "recurrent_kernel",
    "depthwise_kernel", "pointwise_kernel",
})
# A superset of the stores `x.kernel = ...`, `x.kernel op= ...` (the only ones the rule looks at: not
# a tuple's item, an annotated store or a plain name): a weight name with a dot before it (spaces,
# line continuations and line breaks between) and `=` or `op=` after it (spaces, closing brackets,
# line continuations and comments between); or, across line breaks, with a comment on the last line
# before it that is not blank, as the comment may hide the dot (`(x.  # note` then `kernel) = ...`).
# Each starts with a literal character (`.`, `#`) that the search skips to: several times faster than
# finding every `kernel` of TensorFlow's sources and reading what is around it.
_WEIGHT = r"(?:" + "|".join(sorted(WEIGHT_NAMES)) + r")(?![A-Za-z0-9_])"
_STORED = r"(?:[\s\\)\]]|#[^\n]*(?![^\n]))*" + ASSIGNMENT
_DOTTED_WEIGHT_STORE = re.compile(r"\.[ \t\f\\\r\n]*" + _WEIGHT + _STORED)
_COMMENTED_WEIGHT_STORE = re.compile(r"#[^\n]*\n[ \t\f\\\r\n]*" + _WEIGHT + _STORED)


def _weight_attribute_stored(text: str) -> bool:
    """Some `x.kernel = ...` or `x.kernel op= ...` may be in ``text`` (see _DOTTED_WEIGHT_STORE)."""
    return _DOTTED_WEIGHT_STORE.search(text) is not None or (
        "#" in text and _COMMENTED_WEIGHT_STORE.search(text) is not None)


class LayerWeightOverwritten(Rule):
    """
    ## What it does
    Checks for a Keras layer weight that is assigned a tensor: the weight attributes of built-in layers
    (`kernel`, `bias`, `embeddings`, `gamma`, `beta`, `moving_mean`, `moving_variance`,
    `recurrent_kernel`, `depthwise_kernel`, `pointwise_kernel`) and any attribute a layer creates with
    `self.add_weight(...)` (or a `tf.Variable` attribute of a Keras layer or model), when the new value is
    arithmetic or a TensorFlow op result, as in `self.kernel = self.kernel * self.mask` or
    `layer.kernel = tf.clip_by_norm(layer.kernel, 1.0)`.

    Creating the weight (`self.kernel = self.add_weight(...)` in `build`), tying it to another variable
    (`self.kernel = other.kernel`) and updating it in place (`layer.kernel.assign(...)`) are not reported;
    nor is a constant stored instead of the weight where no creation can run before it (the other branch
    of an `if`, as in `self.beta = self.add_weight(...)` when it is trainable, else `tf.cast(1.0, ...)`).

    ## Why is this bad?
    The attribute held the layer's variable; after the assignment it holds a constant tensor. Keras 3
    raises `AttributeError` where the weight is a read-only property (`Dense.kernel`,
    `Embedding.embeddings`). Elsewhere the layer silently computes with the constant: tf.keras drops the
    variable from `trainable_weights`, Keras 3 keeps training a variable that no longer affects the
    output (its gradients are `None`), and checkpoints save a stale value.

    ## Example
    ```python
    import tensorflow as tf

    class MaskedDense(tf.keras.layers.Layer):
        def __init__(self, units, mask):
            super().__init__()
            self.units = units
            self.mask = mask

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform")

        def call(self, inputs):
            self.kernel = self.kernel * self.mask  # expect: TL010
            return tf.matmul(inputs, self.kernel)
    ```

    ## Use instead
    ```python
    import tensorflow as tf

    class MaskedDense(tf.keras.layers.Layer):
        def __init__(self, units, mask):
            super().__init__()
            self.units = units
            self.mask = mask

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform")

        def call(self, inputs):
            masked_kernel = self.kernel * self.mask  # a local tensor: the variable stays in place
            return tf.matmul(inputs, masked_kernel)
    ```

    ## References
    - [Making new layers and models via subclassing](https://keras.io/guides/making_new_layers_and_models_via_subclassing/)
    - [tf.Variable.assign](https://www.tensorflow.org/api_docs/python/tf/Variable#assign)
    """

    code = "TL010"
    needs_indirect_callers = False  # what its trigger code refers to, and the direct callers of that code
    name = "layer-weight-overwritten"
    summary = "A Keras layer's weight attribute is assigned a tensor instead of being updated in place"
    triggers = ("kernel", "bias", "embeddings", "gamma", "beta", "moving_mean", "moving_variance", *VARIABLE_TRIGGERS)
    message = (
        "a Keras layer weight is assigned a tensor: Keras 3 raises, tf.keras silently stops tracking the "
        "variable, and the layer no longer trains it; update it in place with `.assign(...)`"
    )
    builtin = (
        "`{target}` is the `{attr}` weight of a built-in Keras layer and this assigns it a tensor: Keras 3 "
        "raises AttributeError where the weight is a read-only property (`Dense.kernel`, "
        "`Embedding.embeddings`); otherwise the layer computes with a constant from now on, tf.keras "
        "silently drops the variable from `trainable_weights`, and training and checkpoints miss it; "
        "update it in place with `{target}.assign(...)`"
    )
    custom = (
        "`{target}` holds a weight that the layer creates at line {line}, and this assigns it a tensor: the "
        "layer computes with a constant from now on while the variable no longer affects the output (tf.keras "
        "silently stops tracking it, Keras 3 keeps it with None gradients), so it is never trained and "
        "checkpoints save a stale value; keep the tensor in a local name, or update in place with "
        "`{target}.assign(...)`"
    )

    valid = (
        Valid(
            """
import tensorflow as tf

class Linear(tf.keras.layers.Layer):
    def __init__(self, units=32):
        super().__init__()
        self.units = units
        self.kernel = None
        self.gamma = tf.constant(2.0)  # a hyperparameter, not a weight of this layer

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros")

    def call(self, inputs):
        return self.gamma * (tf.matmul(inputs, self.kernel) + self.bias)
"""
        ),
        Valid(
            """
import tensorflow as tf

encoder = tf.keras.layers.Dense(64)
decoder = tf.keras.layers.Dense(64)
encoder.build((None, 64))
decoder.build((None, 64))
decoder.kernel.assign(tf.transpose(encoder.kernel))  # in place
for layer in [encoder, decoder]:
    layer.kernel.assign(tf.clip_by_norm(layer.kernel, 1.0))
"""
        ),
        Valid(
            """
import tensorflow as tf

class TiedOutput(tf.keras.layers.Layer):
    def __init__(self, embedding):
        super().__init__()
        self.embedding = embedding

    def build(self, input_shape):
        self.kernel = self.embedding.embeddings  # weight tying: still the same variable
        self.bias = self.add_weight(shape=(self.embedding.input_dim,), initializer="zeros")

    def call(self, x):
        kernel = tf.transpose(self.kernel)
        return tf.matmul(x, kernel) + self.bias
"""
        ),
        Valid(
            """
import tensorflow as tf

class AttentionConv(tf.keras.layers.Layer):
    def __init__(self, trainable_beta=True, epsilon=None):
        super().__init__()
        self.trainable_beta = trainable_beta
        self.epsilon = epsilon

    def build(self, input_shape):
        if self.trainable_beta:
            self.beta = self.add_weight(shape=(1,), initializer="ones", name="beta")
        else:
            self.beta = tf.cast(1.0, self.dtype)  # a constant instead of the weight, not over it
        if self.epsilon is not None:
            self.eps = tf.constant(self.epsilon)
        elif input_shape[-1] > 1:
            self.eps = self.add_weight(shape=(1,), initializer="zeros", name="eps")

    def call(self, x):
        return self.beta * x + self.eps
"""
        ),
    )
    invalid = (
        Invalid(
            """
import tensorflow as tf

class Scale(tf.keras.layers.Layer):
    def build(self, input_shape):
        if input_shape[-1] > 1:
            self.scale = self.add_weight(shape=(1,), initializer="ones")
        self.scale = self.scale * 2.0  # expect: TL010
"""
        ),
        Invalid(
            """
import tensorflow as tf
from tensorflow.keras import backend as K

class Decayed(tf.keras.layers.Layer):
    def build(self, input_shape):
        self.scale = K.variable(1.0)

    def call(self, x):
        self.scale = self.scale * 0.99  # expect: TL010
        return x * self.scale
"""
        ),
        Invalid(
            """
import tensorflow as tf

model = tf.keras.Sequential([tf.keras.layers.Dense(10), tf.keras.layers.Dense(1)])
model.build((None, 4))
dense = tf.keras.layers.Dense(8)
dense.build((None, 8))
dense.kernel = tf.clip_by_norm(dense.kernel, 1.0)  # expect: TL010
model.layers[0].bias = model.layers[0].bias * 0.0  # expect: TL010
"""
        ),
        Invalid(
            """
import tensorflow as tf

class PrunedModel(tf.keras.Model):
    def __init__(self):
        super().__init__()
        self.w = tf.Variable(tf.random.normal([16, 1]))

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((tf.matmul(x, self.w) - y) ** 2)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        self.w = tf.where(tf.abs(self.w) < 1e-3, 0.0, self.w)  # expect: TL010
        return {"loss": loss}
"""
        ),
        Invalid(
            """
import keras
from keras import ops

class ScaledDense(keras.layers.Dense):
    def call(self, inputs):
        self.kernel = ops.multiply(self.kernel, 0.5)  # expect: TL010
        return super().call(inputs)

class Norm(keras.layers.Layer):
    def build(self, shape):
        self.scale = self.add_weight(shape=shape[-1:], initializer="ones")

    def call(self, x):
        self.scale -= 0.01  # expect: TL010
        return x * self.scale
"""
        ),
    )

    @classmethod
    def screen(cls, facts):
        # An attribute store `x.a = value` / `x.a op= value`, where `a` is a built-in weight name or
        # some `self.a = ...` can make `a` a variable (for `self.a`, one of the class around the store),
        # and the value can be a tensor (_may_be_tensor).
        built_in = _weight_attribute_stored(facts.text)
        if not (built_in or facts.calls_maker):
            return False
        weights = (WEIGHT_NAMES if built_in else frozenset()) | facts.self_variable_attributes
        if not weights:
            return False
        stores = facts.stores_mentioning(weights, TARGET_TAIL, valued=True)
        # Read from logical lines or not: a question asked below may compile the whole tree meanwhile.
        from_lines = facts.local
        for store in stores:
            if isinstance(store, ast.AugAssign):
                target, value = store.target, None
            elif isinstance(store, ast.Assign) and len(store.targets) == 1:
                target, value = store.targets[0], store.value
            else:
                continue
            if not (isinstance(target, ast.Attribute) and target.attr in weights and
                    (value is None or _may_be_tensor(facts, value, target.attr))):
                continue
            # `self.a`: the class around must be one the rule reads weights of (_may_hold_weight), and
            # where `a` is not a built-in weight name, `a` must be made a variable there; a name's value:
            # an assignment the statement can see.
            on_self = isinstance(target.value, ast.Name) and target.value.id == "self"
            of_class = on_self and target.attr not in WEIGHT_NAMES
            if not on_self and not _may_be_layer(target.value):
                continue
            if from_lines:  # the scope or class around the statement is read from the whole tree
                facts.read_whole()
                return cls.screen(facts)
            if not on_self and isinstance(target.value, ast.Name) and \
                    not _may_name_a_layer(facts, target.value.id, target.attr):
                continue
            if not on_self and not isinstance(value, ast.Name):
                return True
            if isinstance(value, ast.Name) and not facts.may_be_assigned(value.id, store):
                continue
            if on_self and not _may_hold_weight(facts, facts.class_around(store), target.attr):
                continue
            if on_self and _surely_before_every_creation(facts, store, facts.class_around(store), target.attr):
                continue
            if not of_class or target.attr in facts.attributes_made_variables_in(facts.class_around(store)):
                return True
        return False

    def check(self, model):
        for node in model.nodes(cst.Assign, cst.AugAssign):
            if isinstance(node, cst.Assign):
                if len(node.targets) != 1:
                    continue
                target, value = node.targets[0].target, node.value
            else:
                target, value = node.target, None
            if not isinstance(target, cst.Attribute):
                continue
            weight = self._weight(model, node, target)
            if weight is None:
                continue
            if value is not None and not self._tensor_value(model, value, target):
                continue
            kind, created = weight
            if kind == "custom" and self._before_every_creation(model, node, target):
                continue
            if kind == "builtin":
                message = self.builtin.format(target=model.code(target), attr=target.attr.value)
            else:
                line = model.line_of(created) if created is not None else "?"
                message = self.custom.format(target=model.code(target), line=line)
            yield Finding(node, message)

    # -- is the attribute a layer weight? -----------------------------------------------------------------
    def _weight(self, model, node, target):
        """("builtin", None) or ("custom", the statement creating it or None) when ``target`` is a layer
        weight (its line is looked up only for a finding: positions cost a pass over the module)."""
        attr = target.attr.value
        obj = target.value
        if isinstance(obj, cst.Name) and obj.value == "self":
            cls = model.values.class_around(node)
            if cls is None:
                return None
            return self._class_weight(model, cls, attr, node)
        if attr in WEIGHT_NAMES and self._builtin_layer(model, obj):
            return "builtin", None
        if isinstance(obj, cst.Name):  # an instance of a layer class of this file
            bindings = model.reaching(obj)
            classes = set()
            for b in bindings or ():
                if b.kind != "assign" or not isinstance(b.value, cst.Call) or not isinstance(b.value.func, cst.Name):
                    return None
                defs = [d.definition for d in model.bindings_of(b.value.func) if d.kind == "class"]
                if len(defs) != 1:
                    return None
                classes.add(defs[0])
            if len(classes) == 1:
                return self._class_weight(model, classes.pop(), attr, None)
        return None

    def _class_weight(self, model, cls, attr, node):
        created = self._creation(model, cls, attr)
        if attr in model.values.weight_attributes(cls) or \
                (model.values.is_keras_class(cls) and attr in model.values.self_variables(cls)):
            return "custom", created
        if attr in WEIGHT_NAMES and model.values.derives_from_builtin_layer(cls):
            fn = model.function_of(node) if node is not None else None
            if isinstance(fn, cst.FunctionDef) and fn.name.value == "__init__":
                return None
            return "builtin", None
        return None

    @staticmethod
    def _before_every_creation(model, node, target) -> bool:
        """``node`` stores `self.<attr>` in the function that creates the weight, and no creation runs
        before it: each is in another branch of an `if` (`self.beta = self.add_weight(...)` if it is
        trainable, else `self.beta = tf.cast(1.0, ...)`) or comes after it, outside any loop around both.
        The store then makes an attribute that is a constant instead of a weight, not an overwrite."""
        if not (isinstance(target.value, cst.Name) and target.value.value == "self"):
            return False
        cls = model.values.class_around(node)
        attr = target.attr.value
        function = model.function_of(node)
        creations = LayerWeightOverwritten._creations(model, cls, attr)
        if not creations:
            return False
        loops = model.enclosing_loops(node)
        for creation in creations:
            if model.function_of(creation) is not function:
                return False
            if _exclusive(model, node, creation):
                continue
            if model.before(creation, node) or any(model.contains(loop, creation) for loop in loops):
                return False
        return True

    @staticmethod
    def _creation(model, cls, attr):
        return next(iter(LayerWeightOverwritten._creations(model, cls, attr)), None)

    @staticmethod
    def _creations(model, cls, attr) -> list:
        """Every `self.<attr> = <a variable>` of the class, in order."""
        out = []
        for assign in model.tree.descendants(cls, cst.Assign):
            if model.values.kind(assign.value) is not Kind.VARIABLE:
                continue
            if any(isinstance(t.target, cst.Attribute) and t.target.attr.value == attr
                   and isinstance(t.target.value, cst.Name) and t.target.value.value == "self" for t in assign.targets):
                out.append(assign)
        return out

    @staticmethod
    def _builtin_layer(model, obj) -> bool:
        """``obj`` is a built-in Keras layer: made by a `keras.layers.*` constructor, or read from
        ``model.layers[i]`` / ``model.get_layer(...)``."""
        if isinstance(obj, cst.Subscript) and isinstance(obj.value, cst.Attribute) and obj.value.attr.value == "layers":
            return True
        if isinstance(obj, cst.Call):
            method = model.method_call(obj)
            return method is not None and method[1] == "get_layer"
        if isinstance(obj, cst.Name):
            bindings = model.reaching(obj)
            return bool(bindings) and all(
                b.kind == "assign" and isinstance(b.value, cst.Call)
                and (model.call_name(b.value) or "").startswith("keras.layers.")
                for b in bindings
            )
        return False

    # -- is the new value a tensor? ------------------------------------------------------------------------
    def _tensor_value(self, model, value, target) -> bool:
        if model.values.kind(value) is Kind.VARIABLE:
            return False
        if model.values.is_tensor_result(value):
            return True
        leaves = []
        if isinstance(value, (cst.BinaryOperation, cst.UnaryOperation)):
            stack = [value]
            while stack:
                e = stack.pop()
                if isinstance(e, cst.BinaryOperation):
                    stack += [e.left, e.right]
                elif isinstance(e, cst.UnaryOperation):
                    stack.append(e.expression)
                else:
                    leaves.append(e)
        elif isinstance(value, cst.Call) and (model.call_name(value) or "").startswith("tensorflow."):
            leaves = [a.value for a in value.args]
        # arithmetic on a layer weight (the attribute itself, or a weight of another built-in layer)
        return any(model.code(leaf) == model.code(target) or (
            isinstance(leaf, cst.Attribute) and leaf.attr.value in WEIGHT_NAMES and self._builtin_layer(model, leaf.value)
        ) for leaf in leaves)



def _may_be_layer(obj: ast.expr) -> bool:
    """``obj`` (the object of `obj.w = ...`, not `self`) is one that `_weight` may take for a layer: a
    name (bound to a built-in layer or an instance of a layer class of the file), `m.layers[i]` or a
    call (`m.get_layer(...)`). Any other (`self.layer.kernel = ...` in a weight-norm wrapper) it never
    does."""
    return isinstance(obj, (ast.Name, ast.Call)) or (
        isinstance(obj, ast.Subscript) and isinstance(obj.value, ast.Attribute) and obj.value.attr == "layers")


def _surely_before_every_creation(facts, store: ast.stmt, cls: ast.ClassDef | None, attr: str) -> bool:
    """The rule surely skips `self.<attr> = ...` (``store``) as `_before_every_creation`: the class makes
    the attribute with `self.add_weight(...)`/`add_variable(...)` (so `_weight` says "custom"), and every
    assignment of the class that may make `self.<attr>` a variable is in the store's function, in
    another branch of an `if` than the store, or after it and outside every loop around it: `self.beta =
    self.add_weight(...)` where the layer is trainable, `self.beta = tf.cast(1.0, ...)` where not
    (Spektral's and TF Lattice's layers)."""
    if cls is None:
        return False
    function = facts.scope_of(store)
    if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    sure = False
    creations = []
    for node in ast.walk(cls):
        if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if not any(isinstance(t, ast.Attribute) and t.attr == attr and isinstance(t.value, ast.Name)
                   and t.value.id == "self" for t in targets):
            continue
        value = node.value
        if isinstance(node, ast.Assign) and isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) \
                and value.func.attr in VARIABLE_METHODS and isinstance(value.func.value, ast.Name) \
                and value.func.value.id == "self":
            sure = True  # (in `weight_attributes`, and a variable to the model: one of `_creations`)
        if facts.makes_variable(value):
            creations.append(node)
    if not sure:
        return False
    context = _branches_and_loops(function)
    if id(store) not in context:
        return False
    ifs, loops_around, _ = context[id(store)]
    for creation in creations:
        if facts.scope_of(creation) is not function or id(creation) not in context:
            return False
        other_ifs, _, loops_holding = context[id(creation)]
        if any((i, "body" if branch == "orelse" else "orelse") in other_ifs for i, branch in ifs):
            continue  # another branch of one `if` (`_exclusive`)
        if (creation.lineno, creation.col_offset) < (store.lineno, store.col_offset) or \
                any(loop in loops_holding for loop in loops_around):
            return False
    return True


def _branches_and_loops(function: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[int, tuple]:
    """For each statement of ``function`` (not of the functions and classes in it): the `if`
    statements around it with the branch it is in ((id, "body" | "orelse"), an `elif` being in the
    outer `if`'s "orelse"), the loops whose body holds it (`enclosing_loops`), and every loop that
    holds it (in its body or its `else`), by id."""
    out: dict[int, tuple] = {}
    todo: list[tuple[ast.stmt, tuple, tuple, tuple]] = [(s, (), (), ()) for s in function.body]
    while todo:
        stmt, ifs, body_loops, loops = todo.pop()
        out[id(stmt)] = (ifs, body_loops, loops)
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(stmt, ast.If):
            todo += [(s, (*ifs, (id(stmt), "body")), body_loops, loops) for s in stmt.body]
            todo += [(s, (*ifs, (id(stmt), "orelse")), body_loops, loops) for s in stmt.orelse]
        elif isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
            todo += [(s, ifs, (*body_loops, id(stmt)), (*loops, id(stmt))) for s in stmt.body]
            todo += [(s, ifs, body_loops, (*loops, id(stmt))) for s in stmt.orelse]
        else:
            todo += [(s, ifs, body_loops, loops) for block in statement_lists(stmt) for s in block]
    return out


def _may_name_a_layer(facts, name: str, attr: str) -> bool:
    """As `_weight` for `name.attr = ...`: the bindings of `name` that reach the store must all assign
    a call, of the name of a class of the file (a layer class), or, where `attr` is a built-in weight
    name, of a `keras.layers` constructor: so some assignment of the module binds `name` to such a call (or to a
    tuple, whose element the model may bind). A parameter, a loop variable, a module made by an
    attribute's call (`mod = deferred.Deferred(Module)`, Sonnet's tests) or a PyTorch layer
    (`layer = nn.Linear(...)`) is no layer to it."""
    classes = {s.name for s in facts.statements if isinstance(s, ast.ClassDef)}
    for _, store in facts.stores_by_name.get(name, ()):
        value = getattr(store, "value", None)
        if isinstance(value, (ast.Tuple, ast.List)):
            return True
        if isinstance(store, (ast.Assign, ast.AnnAssign)) and isinstance(value, ast.Call) and (
                (isinstance(value.func, ast.Name) and value.func.id in classes) or
                (attr in WEIGHT_NAMES and facts.may_refer_under(value.func, ("keras.layers.",)))):
            return True
    return False


def _exclusive(model, a, b) -> bool:
    """``a`` and ``b`` sit in different branches of one `if` statement (an `elif` is one of its branches)."""
    node = model.parent(a)
    while node is not None:
        if isinstance(node, cst.If) and node.orelse is not None:
            if (model.contains(node.body, a) and model.contains(node.orelse, b)) or \
                    (model.contains(node.orelse, a) and model.contains(node.body, b)):
                return True
        node = model.parent(node)
    return False


def _may_be_tensor(facts, value: ast.expr, attr: str) -> bool:
    """What `_tensor_value` can accept: arithmetic; a name some assignment binds; a call of what an
    import can make a TensorFlow function or a `keras.ops` op (the only calls whose result the semantic
    model takes for a tensor), but not one every import makes a variable factory (`tf.Variable(...)`
    creates a weight, it does not overwrite one)."""
    if isinstance(value, (ast.BinOp, ast.UnaryOp)):
        return True
    if isinstance(value, ast.Name):
        return facts.assigns(value.id)
    if not isinstance(value, ast.Call) or not facts.may_refer_under(value.func, TENSOR_CALLS):
        return False
    # A variable to the model, whatever it is given (`tf.Variable(self.kernel.read_value())`), where every
    # import makes the callee a variable factory: a name merely ending in `Variable` may be a tensor op
    # to the model (`tf.math.Variable`, `tf.variable`: whatever is under `tensorflow.` it does not know).
    return not facts.may_only_refer_to(value.func, N.VARIABLE_FACTORIES)


def _may_hold_weight(facts, cls: ast.ClassDef | None, attr: str) -> bool:
    """`self.<attr>` in ``cls`` can be a weight to the rule (`_class_weight`): a method of the class
    stores `self.<attr> = ....add_weight(...)`, or the class may derive from a Keras class
    (`_may_derive_from_keras`)."""
    if cls is None:
        return False
    if _may_derive_from_keras(facts, cls, set()):
        return True
    return any(isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
               and isinstance(node.value.func, ast.Attribute) and node.value.func.attr in VARIABLE_METHODS
               and any(isinstance(t, ast.Attribute) and t.attr == attr and isinstance(t.value, ast.Name)
                       and t.value.id == "self" for t in node.targets)
               for node in ast.walk(cls))


def _may_derive_from_keras(facts, cls: ast.ClassDef, seen: set[int]) -> bool:
    """As the model's ``is_keras_class`` (and ``derives_from_builtin_layer``, which asks less), by names:
    a base that an import can make a `keras.` class (`tf.keras.layers.Conv1D`, not transformers' own
    `keras` module's), or a name of a class of the module that may derive from one (any such class, in
    any scope), or any name where a star import may bind it. The model resolves a base only through
    imports, so a dotted base that no import makes a Keras name is none to it."""
    seen.add(id(cls))
    for base in cls.bases:
        if facts.may_refer_under(base, ("keras.",)):
            return True
        if isinstance(base, ast.Name):
            if facts.imported_names is None:
                return True
            if any(isinstance(s, ast.ClassDef) and s.name == base.id and id(s) not in seen and
                   _may_derive_from_keras(facts, s, seen) for s in facts.statements):
                return True
    return False


def _has_ops_part(facts, func: ast.expr) -> bool:
    """`keras.ops.X`: the semantic model counts every `keras.ops` call as a tensor."""
    while isinstance(func, ast.Attribute):
        if func.attr == "ops":
            return True
        func = func.value
    return isinstance(func, ast.Name) and "ops" in facts.unaliases(func.id)
