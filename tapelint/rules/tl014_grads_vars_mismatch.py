from __future__ import annotations

from dataclasses import dataclass

from tapelint.diagnostics import Applicability
from tapelint.lazy_libcst import cst
from tapelint.rules.base import CstFix, Finding, Invalid, Replacement, Rule, Valid
from tapelint.semantic.values import Kind

# Keras variable-list attributes that hold the same variables (`trainable_weights` is an alias of
# `trainable_variables`); `variables`/`weights` also hold the non-trainable ones.
_ATTRIBUTE_CLASSES = {
    "trainable_variables": "trainable",
    "trainable_weights": "trainable",
    "variables": "all",
    "weights": "all",
    "non_trainable_variables": "non-trainable",
    "non_trainable_weights": "non-trainable",
}
_MAX_DEPTH = 8


@dataclass(frozen=True)
class _Part:
    """One piece of a variable-list expression: a Keras collection (`obj.trainable_variables`), one
    listed variable (`w` in `[w, b]`), or something opaque."""

    kind: str  # "collection", "item" or "opaque"
    key: tuple  # collection: (object chain, attribute class); item: chain; opaque: code
    node: cst.CSTNode


class GradsVarsMismatch(Rule):
    """
    ## What it does
    Checks `optimizer.apply_gradients(zip(grads, variables))` (and Keras 3's
    `optimizer.apply(grads, variables)`) where `grads` comes from `tape.gradient(loss, sources)` and
    `variables` is certainly not the same list as `sources`: another model (`generator` vs
    `discriminator`), another collection (`trainable_variables` vs `variables`, which also holds
    non-trainable variables), or the same variables in another order. Also checks `zip(variables, grads)`
    (the pairs reversed) and `apply_gradients(grads)` without the variables. Where the file defines its
    own `apply_gradients` (or `apply`) method, a hand-written optimizer as in TensorFlow's Core API
    guides, only calls on an optimizer TensorFlow or Keras certainly made are checked.

    ## Why is this bad?
    `apply_gradients` pairs the i-th gradient with the i-th variable. When the two lists differ, each
    variable is updated with the gradient of another one: a shape error if you are lucky, silently
    wrong training otherwise, and `zip` drops the surplus without a word. Reversed pairs and a bare list
    of gradients fail at run time, as the optimizer takes gradient tensors for the variables to update.

    ## Example
    ```python
    import tensorflow as tf

    def train_step(model, optimizer, loss_fn, x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.variables))  # expect: TL014
        return loss
    ```

    ## Use instead
    ```python
    import tensorflow as tf

    def train_step(model, optimizer, loss_fn, x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss
    ```

    ## Fix safety
    For reversed pairs the fix swaps the two arguments of `zip`; for a bare list of gradients it passes
    `zip(grads, sources)` with the sources of the `tape.gradient` call. Both are safe when the
    expressions involved are plain names and attributes, and unsafe otherwise (evaluation order
    changes). A mismatched variable list has no automatic fix: which list was meant is for you to say.

    ## References
    - [tf.keras.optimizers.Optimizer.apply_gradients](https://www.tensorflow.org/api_docs/python/tf/keras/optimizers/Optimizer#apply_gradients)
    - [Writing a training loop from scratch](https://keras.io/guides/writing_a_custom_training_loop_in_tensorflow/)
    """

    code = "TL014"
    needs_indirect_callers = False  # what its trigger code refers to, and the direct callers of that code
    name = "grads-vars-mismatch"
    summary = "apply_gradients pairs gradients with other variables than they were computed for"
    message = (
        "`{grads}` holds gradients with respect to `{sources}` (line {line}) but is paired here with "
        "`{variables}`{why}: the optimizer pairs them by position, so variables get gradients computed "
        "for other variables (a shape error, or silently wrong training); pass the same variables to "
        "`{tape}.{method}` and to the optimizer"
    )
    reversed_message = (
        "`zip({variables}, {grads})` makes (variable, gradient) pairs, but the optimizer takes (gradient, "
        "variable) pairs: it fails at run time, taking the gradient tensors for the variables to update; "
        "write `zip({grads}, {variables})`"
    )
    unpaired_message = (
        "`{method}` takes (gradient, variable) pairs, but `{grads}` is only the list of gradients from "
        "`{tape}.{tape_method}` (line {line}): it fails at run time; pass `zip({grads}, {sources})`"
    )
    triggers = ("apply_gradients", ".apply(")
    requires = ("GradientTape",)  # every finding compares with a tape's gradient call

    valid = (
        Valid(
            """
import tensorflow as tf

def train_step(generator, discriminator, g_opt, d_opt, noise, images):
    with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
        fake = generator(noise, training=True)
        real_out = discriminator(images, training=True)
        fake_out = discriminator(fake, training=True)
        g_loss = -tf.reduce_mean(fake_out)
        d_loss = tf.reduce_mean(fake_out) - tf.reduce_mean(real_out)
    g_grads = gen_tape.gradient(g_loss, generator.trainable_variables)
    d_grads = disc_tape.gradient(d_loss, discriminator.trainable_variables)
    g_opt.apply_gradients(zip(g_grads, generator.trainable_variables))
    d_opt.apply_gradients(zip(d_grads, discriminator.trainable_variables))
"""
        ),
        Valid(
            """
import tensorflow as tf

class Trainer(tf.keras.Model):
    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            loss = self.compute_loss(y=y, y_pred=self(x, training=True))
        params = self.trainable_weights
        grads = tape.gradient(loss, params)
        grads, _ = tf.clip_by_global_norm(grads, 5.0)
        self.optimizer.apply_gradients(
            (g, v) for g, v in zip(grads, self.trainable_variables) if g is not None
        )
        return {"loss": loss}
"""
        ),
        Valid(
            """
import tensorflow as tf

w = tf.Variable(tf.zeros([3, 1]))
b = tf.Variable(0.0)
opt = tf.keras.optimizers.SGD(0.1)
encoder, decoder = tf.keras.Sequential(), tf.keras.Sequential()

def step(x, y, variables):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean((x @ w + b - y) ** 2)
    grads = tape.gradient(loss, [w, b])
    opt.apply_gradients(zip(grads, [w, b]))
    g2 = tape.gradient(loss, encoder.trainable_variables + decoder.trainable_variables)
    opt.apply(g2, encoder.trainable_weights + decoder.trainable_weights)
    g3 = tape.gradient(loss, variables)
    opt.apply_gradients(zip(g3, model_variables()))  # unknown: silent
"""
        ),
        Valid(
            """
import tensorflow as tf

class SGD(tf.Module):
    def __init__(self, variables, learning_rate=0.01):
        self.variables = variables
        self.learning_rate = learning_rate

    def apply_gradients(self, grads):  # pairs them with its own variables
        for g, v in zip(grads, self.variables):
            v.assign_sub(self.learning_rate * g)

def train_step(model, optimizer, x, y):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x) - y))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(grads)
"""
        ),
    )
    invalid = (
        Invalid(
            """
import tensorflow as tf

class SGD(tf.Module):
    def apply_gradients(self, grads):
        pass

def train_step(model, x, y):
    opt = tf.keras.optimizers.SGD(0.1)  # Keras's, not the class above
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x) - y))
    grads = tape.gradient(loss, model.trainable_variables)
    opt.apply_gradients(grads)  # expect: TL014
""",
            fixed="""
import tensorflow as tf

class SGD(tf.Module):
    def apply_gradients(self, grads):
        pass

def train_step(model, x, y):
    opt = tf.keras.optimizers.SGD(0.1)  # Keras's, not the class above
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x) - y))
    grads = tape.gradient(loss, model.trainable_variables)
    opt.apply_gradients(zip(grads, model.trainable_variables))  # expect: TL014
""",
        ),
        Invalid(
            """
import tensorflow as tf

class GAN(tf.keras.Model):
    def train_step(self, real_images):
        noise = tf.random.normal([tf.shape(real_images)[0], 128])
        with tf.GradientTape() as tape:
            predictions = self.discriminator(self.generator(noise))
            g_loss = self.loss_fn(tf.ones_like(predictions), predictions)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))  # expect: TL014
        return {"g_loss": g_loss}
"""
        ),
        Invalid(
            """
import tensorflow as tf

w = tf.Variable(tf.random.normal([3, 3]))
b = tf.Variable(tf.zeros([3]))
opt = tf.keras.optimizers.Adam()
x = tf.ones([2, 3])
with tf.GradientTape() as tape:
    loss = tf.reduce_sum(tf.matmul(x, w) + b)
grads = tape.gradient(loss, [w, b])
opt.apply_gradients(zip([w, b], grads))  # expect: TL014
""",
            fixed="""
import tensorflow as tf

w = tf.Variable(tf.random.normal([3, 3]))
b = tf.Variable(tf.zeros([3]))
opt = tf.keras.optimizers.Adam()
x = tf.ones([2, 3])
with tf.GradientTape() as tape:
    loss = tf.reduce_sum(tf.matmul(x, w) + b)
grads = tape.gradient(loss, [w, b])
opt.apply_gradients(zip(grads, [w, b]))  # expect: TL014
""",
        ),
        Invalid(
            """
import tensorflow as tf

def fit_batch(model, optimizer, x, y):
    with tf.GradientTape() as tape:
        loss = tf.keras.losses.mse(y, model(x))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(grads)  # expect: TL014
""",
            fixed="""
import tensorflow as tf

def fit_batch(model, optimizer, x, y):
    with tf.GradientTape() as tape:
        loss = tf.keras.losses.mse(y, model(x))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))  # expect: TL014
""",
        ),
        Invalid(
            """
import tensorflow as tf

w1 = tf.Variable(tf.ones([4, 4]))
w2 = tf.Variable(tf.ones([4, 4]))
opt = tf.keras.optimizers.SGD()

@tf.function
def step(x):
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(x @ w1 @ w2)
    grads = tape.gradient(loss, [w1, w2])
    opt.apply(grads, [w2, w1])  # expect: TL014
"""
        ),
    )

    # -- checking ---------------------------------------------------------------------------------
    @classmethod
    def screen(cls, facts):
        return facts.differentiates_on_tape

    def check(self, model):
        # A class of this file with its own `apply_gradients`/`apply` (a hand-written optimizer, as in
        # TensorFlow's Core API guides, whose `apply_gradients(grads)` takes the gradients alone): a call
        # of that name is then checked only on an optimizer TensorFlow or Keras certainly made.
        own = {fn.name.value for fn in model.nodes(cst.FunctionDef)
               if fn.name.value in ("apply_gradients", "apply") and model.class_of(fn) is not None}
        for call in model.nodes(cst.Call):
            method = model.method_call(call)
            if method is None:
                continue
            if method[1] in own and not _library_optimizer(model, method[0]):
                continue
            if method[1] == "apply_gradients":
                yield from self._check_apply_gradients(model, call)
            elif method[1] == "apply":
                grads = model.argument(call, 0, "grads")
                variables = model.argument(call, 1, "trainable_variables")
                if grads is None or variables is None:
                    continue  # Keras 3 `apply(grads)` updates the optimizer's own variables
                origins = model.tapes.gradient_origins(grads)
                if origins:
                    yield from self._compare(model, call, grads, variables, origins)

    def _check_apply_gradients(self, model, call):
        arg = model.argument(call, 0, "grads_and_vars")
        if arg is None:
            return
        pairs = self._pairs(model, arg, 0)
        if pairs is None:
            origins = model.tapes.gradient_origins(arg)
            if origins and len(origins) == 1:
                use = origins[0]
                yield Finding(call, self.unpaired_message.format(
                    method="apply_gradients", grads=model.code(arg), tape=use.tape.name,
                    tape_method=use.method, line=model.line_of(use.node), sources=model.code(use.sources)),
                    self._pair_fix(model, arg, use))
            return
        first, second, zip_call = pairs
        origins = model.tapes.gradient_origins(first)
        if origins:
            yield from self._compare(model, call, first, second, origins)
            return
        origins = model.tapes.gradient_origins(second)
        if not origins:
            return
        if self._variable_like(model, first, origins):
            yield Finding(call, self.reversed_message.format(variables=model.code(first), grads=model.code(second)),
                          self._swap_fix(model, zip_call))

    def _compare(self, model, call, grads, variables, origins):
        # Report only when every gradient call that may have produced `grads` disagrees.
        if any(use.sources is None or self._same(model, use.sources, variables) is not False for use in origins):
            return
        use = origins[0]
        yield Finding(call, self.message.format(
            grads=model.code(grads), sources=model.code(use.sources), line=model.line_of(use.node),
            variables=model.code(variables), why=self._why(model, use.sources, variables),
            tape=use.tape.name, method=use.method))

    # -- pairs ----------------------------------------------------------------------------------
    def _pairs(self, model, expr, depth):
        """For an iterable of pairs: (first elements, second elements, the zip call), or None."""
        if depth > _MAX_DEPTH:
            return None
        if isinstance(expr, cst.Call):
            name = model.call_name(expr)
            if name == "builtins.zip":
                if len(expr.args) == 2 and not any(a.star or a.keyword for a in expr.args):
                    return expr.args[0].value, expr.args[1].value, expr
                return None
            if name in ("builtins.list", "builtins.tuple") and len(expr.args) == 1 and not expr.args[0].star:
                return self._pairs(model, expr.args[0].value, depth + 1)
            return None
        if isinstance(expr, (cst.ListComp, cst.GeneratorExp)):
            return self._comprehension_pairs(model, expr, depth)
        if isinstance(expr, cst.Name):
            value = _single_value(model, expr)
            return self._pairs(model, value, depth + 1) if value is not None else None
        return None

    def _comprehension_pairs(self, model, comp, depth):
        """`[(g, v) for g, v in zip(grads, variables) if g is not None]` keeps the pairs (a filter does
        not misalign them); `(v, g)` in the element swaps them."""
        for_in = comp.for_in
        if for_in.inner_for_in is not None or not isinstance(for_in.target, cst.Tuple):
            return None
        targets = [e.value for e in for_in.target.elements]
        if len(targets) != 2 or not all(isinstance(t, cst.Name) for t in targets):
            return None
        elt = comp.elt
        if not isinstance(elt, cst.Tuple) or len(elt.elements) != 2:
            return None
        inner = self._pairs(model, for_in.iter, depth + 1)
        if inner is None:
            return None
        a, b = (t.value for t in targets)
        uses = [{n.value for n in model.names_in(e.value)} & {a, b} for e in elt.elements]
        if uses == [{a}, {b}] and isinstance(elt.elements[1].value, cst.Name):
            return inner
        if uses == [{b}, {a}] and isinstance(elt.elements[1].value, cst.Name):
            return inner[1], inner[0], inner[2]
        return None

    # -- comparing variable lists -----------------------------------------------------------------------
    def _same(self, model, sources, variables) -> bool | None:
        """True: certainly the same list; False: certainly not; None: cannot tell."""
        left, right = _parts(model, sources, 0), _parts(model, variables, 0)
        if [p.key for p in left] == [p.key for p in right]:
            return True
        if any(p.kind == "opaque" for p in left + right):
            return None
        if len(left) != len(right):
            if all(p.kind == "item" for p in left + right):
                return False  # literal lists of different lengths
            return None
        verdict: bool | None = True
        for l, r in zip(left, right):
            same = _same_part(model, l, r)
            if same is False:
                return False
            if same is None:
                verdict = None
        return verdict

    def _variable_like(self, model, expr, origins) -> bool:
        if any(use.sources is not None and self._same(model, use.sources, expr) for use in origins):
            return True
        if model.values.kind(expr) in (Kind.VARIABLE_LIST, Kind.VARIABLE):
            return True
        parts = _parts(model, expr, 0)
        return bool(parts) and all(p.kind == "collection" or (p.kind == "item" and _is_variable(model, p.node))
                                   for p in parts)

    def _why(self, model, sources, variables) -> str:
        left, right = _parts(model, sources, 0), _parts(model, variables, 0)
        for l, r in zip(left, right):
            if l.kind == r.kind == "collection" and l.key[0] == r.key[0] and l.key[1] != r.key[1]:
                if "all" in (l.key[1], r.key[1]):
                    return " (`variables`/`weights` also hold the non-trainable variables, such as " \
                           "BatchNormalization statistics)"
                return f" ({l.key[1]} vs {r.key[1]} variables)"
        if sorted(p.key for p in left) == sorted(p.key for p in right):
            return " (the same variables in another order)"
        return ""

    # -- fixes -------------------------------------------------------------------------------------
    @staticmethod
    def _swap_fix(model, zip_call):
        a, b = zip_call.args
        new = zip_call.with_changes(args=[a.with_changes(value=b.value), b.with_changes(value=a.value)])
        return CstFix("Swap the arguments of zip", (Replacement(zip_call, new),), _applicability(a.value, b.value))

    @staticmethod
    def _pair_fix(model, grads, use):
        sources = use.sources
        if sources is None or not _is_chain(sources):
            return None
        # The sources must mean the same thing where the optimizer step is: no name in them is
        # rebound between the gradient call and the step.
        if model.scope_of(use.node) is not model.scope_of(grads) or not model.before(use.node, grads):
            return None
        start, end = model.tree.order[use.node], model.tree.order[grads]
        for name in model.names_in(sources):
            if any(start <= b.at < end for b in model.bindings_of(name)):
                return None
        new = cst.Call(func=cst.Name("zip"), args=[
            cst.Arg(grads, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))),
            cst.Arg(sources),
        ])
        return CstFix(f"Pair the gradients with `{model.code(sources)}`", (Replacement(grads, new),),
                      Applicability.SAFE)


# -- helpers ------------------------------------------------------------------------------------------------
_OPTIMIZER_MODULES = ("keras.optimizers.", "tensorflow.optimizers.", "tensorflow.compat.v1.train.",
                      "tensorflow.train.")


def _library_optimizer(model, expr) -> bool:
    """``expr`` is certainly an optimizer that TensorFlow or Keras made: a name every reaching binding of
    which assigns a call of a class of their optimizer modules."""
    if not isinstance(expr, cst.Name):
        return False
    bindings = model.reaching(expr)
    return bool(bindings) and all(
        b.kind == "assign" and isinstance(b.value, cst.Call)
        and (model.call_name(b.value) or "").startswith(_OPTIMIZER_MODULES) for b in bindings)


def _single_value(model, name: cst.Name) -> cst.BaseExpression | None:
    """The value a name certainly holds: its only reaching binding is a plain assignment."""
    bindings = model.reaching(name)
    if not bindings or len(bindings) != 1:
        return None
    b = bindings[0]
    return b.value if b.kind in ("assign", "annassign", "walrus") else None


def _chain(model, expr, depth=0) -> tuple | None:
    """`self.gan.generator` -> (root, ("gan", "generator")); names are followed through aliases, and the
    root is identified by the bindings that reach it."""
    if depth > _MAX_DEPTH:
        return None
    if isinstance(expr, cst.Attribute):
        inner = _chain(model, expr.value, depth + 1)
        return None if inner is None else (inner[0], inner[1] + (expr.attr.value,))
    if isinstance(expr, cst.Name):
        value = _single_value(model, expr)
        if isinstance(value, (cst.Name, cst.Attribute)):
            followed = _chain(model, value, depth + 1)
            if followed is not None:
                return followed
        bindings = model.reaching(expr)
        if not bindings:
            return (expr.value, None, None), ()
        scopes = {id(b.scope) for b in bindings}
        root = (expr.value, frozenset(id(b) for b in bindings), scopes.pop() if len(scopes) == 1 else None)
        return root, ()
    return None


def _parts(model, expr, depth) -> list[_Part]:
    if depth > _MAX_DEPTH:
        return [_Part("opaque", (model.code(expr),), expr)]
    if isinstance(expr, cst.Name):
        value = _single_value(model, expr)
        if isinstance(value, (cst.Attribute, cst.List, cst.Tuple, cst.BinaryOperation, cst.Call, cst.Name)):
            return _parts(model, value, depth + 1)
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add):
        return _parts(model, expr.left, depth + 1) + _parts(model, expr.right, depth + 1)
    if isinstance(expr, (cst.List, cst.Tuple)):
        out = []
        for element in expr.elements:
            if isinstance(element, cst.StarredElement):
                out.extend(_parts(model, element.value, depth + 1))
            else:
                chain = _chain(model, element.value)
                out.append(_Part("item", (chain,), element.value) if chain is not None
                           else _Part("opaque", (model.code(element.value),), element.value))
        return out
    if isinstance(expr, cst.Call) and model.call_name(expr) in ("builtins.list", "builtins.tuple") \
            and len(expr.args) == 1 and not expr.args[0].star:
        return _parts(model, expr.args[0].value, depth + 1)
    if isinstance(expr, cst.Attribute) and expr.attr.value in _ATTRIBUTE_CLASSES:
        chain = _chain(model, expr.value)
        if chain is not None:
            return [_Part("collection", (chain, _ATTRIBUTE_CLASSES[expr.attr.value]), expr)]
    chain = _chain(model, expr) if isinstance(expr, (cst.Name, cst.Attribute)) else None
    return [_Part("opaque", (chain,) if chain is not None else (model.code(expr), id(expr)), expr)]


def _same_part(model, left: _Part, right: _Part) -> bool | None:
    if left.key == right.key:
        return True
    if left.kind != right.kind:
        return None
    if left.kind == "item":
        # Two different names are two different variables only when both are certainly variables.
        return False if _is_variable(model, left.node) and _is_variable(model, right.node) else None
    (l_chain, _), (r_chain, _) = left.key, right.key
    if l_chain == r_chain:
        return False  # one object, another collection (trainable vs all variables)
    (l_root, l_attrs), (r_root, r_attrs) = l_chain, r_chain
    if l_root == r_root:
        short = min(len(l_attrs), len(r_attrs))
        if l_attrs[:short] == r_attrs[:short]:
            return None  # `self` vs `self.model`: one may hold the other's variables
        return False  # `self.generator` vs `self.discriminator`
    if not l_attrs and not r_attrs and l_root[0] != r_root[0] and l_root[2] is not None and l_root[2] == r_root[2]:
        return False  # `generator` vs `discriminator`, two names of one scope
    return None


def _is_variable(model, expr) -> bool:
    return model.values.kind(expr) is Kind.VARIABLE


def _is_chain(expr) -> bool:
    while isinstance(expr, cst.Attribute):
        expr = expr.value
    return isinstance(expr, cst.Name)


def _is_pure(expr) -> bool:
    """Names, attribute chains and literal lists of them: evaluating them has no side effect."""
    if isinstance(expr, (cst.List, cst.Tuple)):
        return all(not isinstance(e, cst.StarredElement) and _is_pure(e.value) for e in expr.elements)
    return _is_chain(expr)


def _applicability(*exprs) -> Applicability:
    return Applicability.SAFE if all(_is_pure(e) for e in exprs) else Applicability.UNSAFE
