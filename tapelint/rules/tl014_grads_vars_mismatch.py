from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from tapelint.diagnostics import Applicability
from tapelint.lazy_libcst import cst
from tapelint.rules.base import CstFix, Finding, Invalid, Replacement, Rule, Valid
from tapelint.screen import call_pattern
from tapelint.screen_tapes import COMPREHENSIONS, TRIES, argument, contains, end_of, start_of
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
        # Every finding needs the gradients of a tape's differentiation (`gradient_origins`): which
        # `with` enters a tape does not matter here, so `sites.uncertain` does not either.
        if not facts.differentiates_on_tape:
            return False
        sites = facts.tapes
        uses = {id(u.node): u for u in sites.differentiations()}
        if not uses:
            return False
        names = _Names(facts, sites)
        gradients = _GradientUses(facts, uses, names)
        own = _own_methods(facts, sites)
        for call in facts.calls_where(_STEP_CALL):
            func = call.func
            if not (isinstance(func, ast.Attribute) and func.attr in _STEPS):
                continue
            if func.attr in own and not _may_be_library_optimizer(facts, names, func.value):
                continue  # a hand-written optimizer's method
            if func.attr == "apply":
                grads, variables = argument(call, 0, "grads"), argument(call, 1, "trainable_variables")
                if grads is not None and variables is not None and \
                        any(_may_differ(names, u, variables) for u in gradients.of(grads)):
                    return True  # (`_compare`)
                continue
            arg = argument(call, 0, "grads_and_vars")
            if arg is None:
                continue
            if gradients.of(arg):
                return True  # the gradients alone, unpaired
            for first, second in _pairs(facts, names, arg, set()):
                if gradients.of(second):
                    return True  # the pairs reversed
                if any(_may_differ(names, u, second) for u in gradients.of(first)):
                    return True  # (`_compare`)
        return False

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


# -- the screen -------------------------------------------------------------------------------------------
_STEPS = ("apply_gradients", "apply")
_STEP_CALL = call_pattern(*_STEPS)
_STEP_DEFINITION = re.compile(r"\bdef[\s\\]+(?:apply_gradients|apply)\b")
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_SCOPES = (*_DEFINITIONS, ast.Lambda, *COMPREHENSIONS)  # (and the module)
_LOOPS = (ast.For, ast.AsyncFor, ast.While)
_STORES = (ast.Assign, ast.AnnAssign, ast.AugAssign)
_BLOCKS = ("body", "orelse", "finalbody")


class _Names:
    """The bindings that may reach a load of a name, read on CPython's tree through names only: a
    superset of the semantic model's reaching bindings (``ScopeIndex.reaching``), and when two loads
    certainly see the same ones."""

    def __init__(self, facts, sites) -> None:
        self.facts, self.sites = facts, sites
        self._bindings: dict[int, dict[str, list[ast.AST]]] = {}
        self._declared: dict[int, set[str]] = {}

    # -- values --------------------------------------------------------------------------------------------
    def values(self, name: ast.Name, seen: set[int]) -> list[ast.expr]:
        """What the bindings that may reach ``name`` (but those in ``seen``, to which they are added)
        bind it to, as `Binding.value`: for a name in a tuple target, each element of a literal value;
        for the first name of a tuple target, the tensors a `clip_by_global_norm` call clips (as
        ``_clipped_origins``)."""
        out = []
        for b in self.reaching(name):
            if id(b) not in seen:
                seen.add(id(b))
                out += self._bound(b)
        return out

    def _bound(self, binding: ast.AST) -> list[ast.expr]:
        target, store = binding, self.sites.parent(binding)
        while isinstance(store, (ast.Tuple, ast.List, ast.Starred)):
            target, store = store, self.sites.parent(store)
        if not isinstance(store, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) or store.value is None:
            return []
        value = store.value
        if target is binding:
            return [value]
        out = _elements(value)
        if isinstance(value, ast.Call) and target.elts and target.elts[0] is binding \
                and "clip_by_global_norm" in self.facts.callees(value):
            out += [a for a in [argument(value, 0, "t_list")] if a is not None]
        return out

    # -- reaching ------------------------------------------------------------------------------------------
    def reaching(self, name: ast.Name) -> list[ast.AST]:
        """A superset of the bindings the model finds reaching ``name``: in its own scope, from the last
        assignment before it whose block holds it (which the model's dominating binding is, or follows)
        on, with every binding in a loop around it; every binding in sight where there is no such
        assignment, or the name is free there."""
        scopes = self.scopes_around(name)
        own = scopes[0]
        bound = self.of(own).get(name.id, [])
        if not bound or name.id in self._declared[id(own)] or isinstance(own, COMPREHENSIONS):
            return self.in_sight(name.id, scopes)
        last = None
        for b in bound:
            store = self.sites.parent(b)
            while isinstance(store, (ast.Tuple, ast.List, ast.Starred)):
                store = self.sites.parent(store)
            if isinstance(store, _STORES) and (last is None or end_of(store) > end_of(last)) \
                    and end_of(store) <= start_of(name) and self._dominates(store, name):
                last = store
        if last is None:
            return self.in_sight(name.id, scopes)
        loops = [loop for loop in self._around(name, own) if isinstance(loop, _LOOPS)]
        return [b for b in bound if (end_of(last) < self._interval(b)[1] and self._interval(b)[0] <= start_of(name))
                or contains(last, b) or any(contains(loop, b) for loop in loops)]

    def _dominates(self, store: ast.stmt, node: ast.AST) -> bool:
        """``store`` comes before a statement holding ``node`` in one list of statements: every block
        around ``store`` holds ``node`` too."""
        owner = self.sites.parent(store)
        block = next((getattr(owner, f) for f in _BLOCKS if any(s is store for s in getattr(owner, f, ()))), None)
        if block is None:
            return False
        index = next(i for i, s in enumerate(block) if s is store)
        child, parent = node, self.sites.parent(node)
        while parent is not None and parent is not owner:
            child, parent = parent, self.sites.parent(parent)
        return parent is owner and any(s is child for s in block[index + 1:])

    def same(self, a: ast.Name, b: ast.Name) -> bool:
        """The model's reaching bindings of the loads ``a`` and ``b`` of one name are certainly alike, or
        can differ only in one being unknown (None), which makes no variable, nor a chain that a known
        one's can differ from, except for `self`, whose attributes are taken for variables by their
        name: `self` must then be a parameter, which reaches every load in its function."""
        if a.lineno > b.lineno or a.lineno == b.lineno and a.col_offset > b.col_offset:
            a, b = b, a
        scopes_a, scopes_b = self.scopes_around(a), self.scopes_around(b)
        own = scopes_a[0]
        if own is scopes_b[0]:
            bound = self.of(own).get(a.id, [])
            # free in that scope at both: the same scope answers both; or bound there, but not between
            # them, and the same blocks and loops hold both (the model's reaching is then the same)
            if not bound or self._conditions(a, own) == self._conditions(b, own) and not any(
                    self._interval(x)[1] > start_of(a) and self._interval(x)[0] <= start_of(b) for x in bound):
                return True
        seen_a, seen_b = self.in_sight(a.id, scopes_a), self.in_sight(b.id, scopes_b)
        if {id(n) for n in seen_a} != {id(n) for n in seen_b} or len(seen_a) > 1:
            return False
        return not seen_a or a.id != "self" or isinstance(seen_a[0], ast.arg)

    def _conditions(self, node: ast.AST, scope: ast.AST) -> tuple[set, list]:
        """The conditional blocks around ``node`` up to ``scope`` (those of ``conditional_containers``:
        branches, loop bodies and `else`s, handlers, cases, conditional operands), and its loops (up to
        the next scope, as ``enclosing_loops``)."""
        blocks: set = set()
        loops: list = []
        in_scope = True
        child, parent = node, self.sites.parent(node)
        while parent is not None and child is not scope:
            if isinstance(parent, _SCOPES):
                in_scope = False
            if isinstance(parent, (ast.If, ast.IfExp, *_LOOPS)):
                for field in ("body", "orelse"):
                    part = getattr(parent, field)
                    if child is part or isinstance(part, list) and any(s is child for s in part):
                        blocks.add((id(parent), field))
                        if field == "body" and in_scope and not isinstance(parent, (ast.If, ast.IfExp)):
                            loops.append(parent)
            elif isinstance(parent, TRIES):
                if any(s is child for s in parent.orelse):
                    blocks.add((id(parent), "orelse"))
            elif isinstance(parent, (ast.ExceptHandler, ast.match_case)):
                blocks.add((id(parent), "body"))
            elif isinstance(parent, ast.BoolOp):
                index = next(i for i, v in enumerate(parent.values) if v is child)
                if index:
                    blocks.add((id(parent), index))
            child, parent = parent, self.sites.parent(parent)
        return blocks, loops

    def _around(self, node: ast.AST, scope: ast.AST) -> list[ast.AST]:
        out = []
        parent = self.sites.parent(node)
        while parent is not None and parent is not scope:
            out.append(parent)
            parent = self.sites.parent(parent)
        return out

    def _interval(self, binding: ast.AST) -> tuple[tuple[int, int], tuple[int, int]]:
        """The span of text where the model's binding point (`Binding.at`) of ``binding`` lies: from the
        binding to the end of its statement (or of the iterable a loop target takes; from the context
        expression a `with` target takes)."""
        if isinstance(binding, ast.arg):
            return start_of(binding), start_of(binding)
        if isinstance(binding, ast.stmt):
            decorators = getattr(binding, "decorator_list", [])
            return min([start_of(binding)] + [start_of(d) for d in decorators]), end_of(binding)
        child, parent = binding, self.sites.parent(binding)
        while parent is not None:
            if isinstance(parent, (ast.For, ast.AsyncFor, ast.comprehension)) and child is parent.target:
                return start_of(binding), end_of(parent.iter)
            if isinstance(parent, ast.withitem):
                return start_of(parent.context_expr), end_of(binding)
            if isinstance(parent, ast.stmt):
                return start_of(binding), end_of(parent)
            child, parent = parent, self.sites.parent(parent)
        return start_of(binding), end_of(binding)

    # -- scopes --------------------------------------------------------------------------------------------
    def scopes_around(self, node: ast.AST) -> list[ast.AST]:
        """The scopes ``node`` is evaluated in, innermost first, the module last (as ``scope_of``: a
        function's decorators, defaults and annotations, a class's bases and a comprehension's first
        iterable are in the scope around)."""
        out: list[ast.AST] = []
        grandchild, child, parent = None, node, self.sites.parent(node)
        while parent is not None:
            if isinstance(parent, _DEFINITIONS) and any(child is s for s in parent.body) \
                    or isinstance(parent, ast.Lambda) and child is parent.body \
                    or isinstance(parent, COMPREHENSIONS) and not (
                        child is parent.generators[0] and grandchild is parent.generators[0].iter):
                out.append(parent)
            grandchild, child, parent = child, parent, self.sites.parent(parent)
        out.append(self.sites.tree)
        return out

    def in_sight(self, name: str, scopes: list[ast.AST]) -> list[ast.AST]:
        return [b for scope in scopes for b in self.of(scope).get(name, ())]

    def of(self, scope: ast.AST) -> dict[str, list[ast.AST]]:
        """Name -> the nodes that bind it in ``scope`` (with the targets of the comprehensions in it, a
        superset); the names it declares global or nonlocal go to ``_declared``."""
        known = self._bindings.get(id(scope))
        if known is not None:
            return known
        out: dict[str, list[ast.AST]] = {}
        declared: set[str] = set()
        todo: list[ast.AST] = []
        if isinstance(scope, _FUNCTIONS):
            args = scope.args
            for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
                if arg is not None:
                    out.setdefault(arg.arg, []).append(arg)
        if isinstance(scope, ast.Lambda):
            todo.append(scope.body)
        elif isinstance(scope, COMPREHENSIONS):
            todo.append(scope)
        else:
            todo += scope.body
        while todo:
            node = todo.pop()
            if isinstance(node, (*_DEFINITIONS, ast.Lambda)) and node is not scope:
                if not isinstance(node, ast.Lambda):
                    out.setdefault(node.name, []).append(node)
                    todo += node.decorator_list
                if isinstance(node, ast.ClassDef):
                    todo += [*node.bases, *node.keywords]
                else:  # (its defaults and annotations; its parameters are no names here)
                    todo += [node.args, *([node.returns] if getattr(node, "returns", None) else [])]
                continue  # its body is another scope
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                out.setdefault(node.id, []).append(node)
            elif isinstance(node, ast.alias):
                out.setdefault(node.asname or node.name.split(".")[0], []).append(node)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                out.setdefault(node.name, []).append(node)
            elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
                out.setdefault(node.name, []).append(node)
            elif isinstance(node, ast.MatchMapping) and node.rest:
                out.setdefault(node.rest, []).append(node)
            elif isinstance(node, (ast.Global, ast.Nonlocal)):
                declared.update(node.names)
            todo += ast.iter_child_nodes(node)
        self._bindings[id(scope)] = out
        self._declared[id(scope)] = declared
        return out


def _spelling(expr: ast.expr) -> tuple:
    """What ``_parts`` reads of ``expr``'s text: a list and a tuple of the same items alike."""
    if isinstance(expr, (ast.List, ast.Tuple)):
        return ("items", *map(ast.dump, expr.elts))
    return (ast.dump(expr),)


def _elements(value: ast.expr) -> list[ast.expr]:
    """The elements of a (nested) tuple or list literal, at every depth."""
    if not isinstance(value, (ast.Tuple, ast.List)):
        return []
    return [e for element in value.elts for e in (element, *_elements(element))]


class _GradientUses:
    """The differentiations whose results an expression may hold: a superset of what the model's
    ``gradient_origins`` follows (names through the bindings that may reach them, `list`/`tuple`,
    `get_unscaled_gradients`, comprehensions without a filter, `clip_by_global_norm`)."""

    def __init__(self, facts, uses: dict, names: _Names) -> None:
        self.facts, self.uses, self.names = facts, uses, names

    def of(self, expr: ast.expr) -> list:
        found: list = []
        seen: set[int] = set()
        todo = [expr]
        while todo:
            node = todo.pop()
            if isinstance(node, ast.Call):
                use = self.uses.get(id(node))
                if use is not None:
                    found.append(use)
                elif not self.facts.callees(node).isdisjoint(("list", "tuple")):
                    todo += [a.value if isinstance(a, ast.Starred) else a for a in node.args]
                    todo += [k.value for k in node.keywords]
                elif isinstance(node.func, ast.Attribute) and node.func.attr == "get_unscaled_gradients":
                    todo += [a for a in [argument(node, 0, "grads")] if a is not None]
            elif isinstance(node, (ast.ListComp, ast.GeneratorExp)):
                generators = node.generators
                if len(generators) == 1 and not generators[0].ifs and isinstance(generators[0].target, ast.Name):
                    todo.append(generators[0].iter)
            elif isinstance(node, ast.Name):
                todo += self.names.values(node, seen)
        return found


def _pairs(facts, names: _Names, expr: ast.expr, seen: set[int]) -> list[tuple[ast.expr, ast.expr]]:
    """Every (gradients, variables) the model's ``_pairs`` may read from an iterable of pairs."""
    if isinstance(expr, ast.Call):
        callees = facts.callees(expr)  # (a name aliased to several: the pairs of each reading)
        out: list[tuple[ast.expr, ast.expr]] = []
        if "zip" in callees and len(expr.args) == 2 and not expr.keywords and \
                not any(isinstance(a, ast.Starred) for a in expr.args):
            out.append((expr.args[0], expr.args[1]))
        if not callees.isdisjoint(("list", "tuple")):
            inner = [a.value if isinstance(a, ast.Starred) else a for a in expr.args] + [k.value for k in expr.keywords]
            out += [p for e in inner for p in _pairs(facts, names, e, seen)]
        return out
    if isinstance(expr, (ast.ListComp, ast.GeneratorExp)):
        return _comprehension_pairs(facts, names, expr, seen)
    if isinstance(expr, ast.Name):
        return [p for value in names.values(expr, seen) for p in _pairs(facts, names, value, seen)]
    return []


def _comprehension_pairs(facts, names: _Names, comp, seen: set[int]) -> list[tuple[ast.expr, ast.expr]]:
    """`(g, v) for g, v in pairs` keeps the pairs, `(v, g)` swaps them (as ``_comprehension_pairs``;
    every name in an element counts, a superset of the names the model reads there)."""
    if len(comp.generators) != 1:
        return []
    target, elt = comp.generators[0].target, comp.elt
    if not (isinstance(target, (ast.Tuple, ast.List)) and len(target.elts) == 2
            and all(isinstance(t, ast.Name) for t in target.elts)):
        return []
    if not (isinstance(elt, (ast.Tuple, ast.List)) and len(elt.elts) == 2 and isinstance(elt.elts[1], ast.Name)):
        return []
    a, b = (t.id for t in target.elts)
    named = [{n.id for n in ast.walk(e) if isinstance(n, ast.Name)} for e in elt.elts]
    out = []
    for first, second in _pairs(facts, names, comp.generators[0].iter, seen):
        if a in named[0] and b in named[1]:
            out.append((first, second))
        if b in named[0] and a in named[1]:
            out.append((second, first))
    return out


def _own_methods(facts, sites) -> set[str]:
    """The names of the `apply_gradients`/`apply` methods a class of the module defines."""
    if not _STEP_DEFINITION.search(facts.text):
        return set()
    out = set()
    for node in facts.statements:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in _STEPS:
            scope = sites.parent(node)
            while not isinstance(scope, (*_SCOPES, ast.Module)):
                scope = sites.parent(scope)
            if isinstance(scope, ast.ClassDef):
                out.add(node.name)
    return out


def _may_be_library_optimizer(facts, names: _Names, expr: ast.expr) -> bool:
    """``_library_optimizer``: a name a binding that may reach it binds to a call of a class of
    TensorFlow's or Keras's optimizer modules."""
    return isinstance(expr, ast.Name) and any(
        isinstance(v, ast.Call) and facts.may_refer_under(v.func, _OPTIMIZER_MODULES) for v in names.values(expr, set()))


def _may_differ(names: _Names, use, variables: ast.expr) -> bool:
    """``_same(sources, variables)`` may be False. Its answer depends on the two expressions and on the
    bindings that reach their names: spelled alike, each name reached alike at both places, they are
    the same list (True) or cannot be told apart (None)."""
    sources = use.sources
    if sources is None:
        return False  # `_compare`: a differentiation without sources is never compared
    if _spelling(sources) != _spelling(variables):
        return True
    loads = [n for n in ast.walk(sources) if isinstance(n, ast.Name)]
    return not all(names.same(a, b) for a, b in zip(loads, (n for n in ast.walk(variables) if isinstance(n, ast.Name))))


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
