from __future__ import annotations

import ast

from tapelint.diagnostics import Applicability
from tapelint.lazy_libcst import cst
from tapelint.rules.base import CstFix, Finding, Invalid, Replacement, Rule, Valid
from tapelint.rules.fix_helpers import block_of, block_statement, ends_flow
from tapelint.screen import call_pattern
from tapelint.screen_tapes import end_of
from tapelint.semantic import names as N
from tapelint.semantic.custom_gradients import own_returns
from tapelint.semantic.values import VARIABLE_LIST_ATTRIBUTES, Kind

_COMPUTED = ("assign", "annassign", "augassign", "walrus")
# Calls that put an operation on the active tapes by hand, whatever ran it (TensorFlow's internals,
# custom ops): the tape then holds values computed before it started.
_MANUAL_RECORDING = frozenset({"record_gradient", "record_operation", "record_operation_backprop_only"})


_MINIMIZE_CALL = call_pattern("minimize")


class TargetOutsideTape(Rule):
    """
    ## What it does
    Checks that the target of `tape.gradient`/`jacobian` (the loss) is computed while the tape records:
    - the target is assigned outside every `with` block of the tape, or computed in the `gradient`
      call's own arguments after the block;
    - the forward pass that connects the loss to the model (`y_pred = model(x)`) ran before the tape,
      so the loss computed inside depends on the model only through a value the tape never saw;
    - `optimizer.minimize(lambda: loss, ...)` whose callable only returns a loss computed before.

    A target picked outside the block from what the tape recorded runs no operation and is not
    reported: an alias (`total = loss`), or an item of a Python tuple, list or dict by a constant index
    or key (`total_loss = all_loss[0]`, where a local `compute_loss` returns a tuple). A slice of a
    tensor (`out[0]`) is an operation, and is.

    ## Why is this bad?
    A tape only records operations that run inside its `with` block. A loss computed elsewhere has no
    recorded path to the variables, so `tape.gradient` returns `None` for every source and
    `optimizer.apply_gradients` fails with "No gradients provided for any variable", or, worse, the
    `None` gradients are silently skipped and the model never trains.

    ## Example
    ```python
    import tensorflow as tf

    def train_step(model, loss_fn, optimizer, x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
        loss = loss_fn(y, logits)
        grads = tape.gradient(loss, model.trainable_variables)  # expect: TL001
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
    ```

    ## Use instead
    ```python
    import tensorflow as tf

    def train_step(model, loss_fn, optimizer, x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = loss_fn(y, logits)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
    ```

    ## Fix safety
    When the statements computing the target directly follow the tape's `with` block (as in the example),
    the fix moves them, up to the one that assigns the target, to the end of the block. It is unsafe:
    the tape then records those operations (that is the point, but it also holds on to more memory),
    and nothing checks that they belong under the tape. Review it, then apply it with
    `--fix --unsafe-fixes`. No fix is offered for the other forms.

    ## References
    - [Introduction to gradients and automatic differentiation: getting a gradient of None](https://www.tensorflow.org/guide/autodiff#getting_a_gradient_of_none)
    """

    code = "TL001"
    needs_indirect_callers = False  # what its trigger code refers to, and the direct callers of that code
    name = "target-outside-tape"
    summary = "The loss passed to tape.gradient is computed outside the tape's recording range"
    triggers = ("GradientTape", "minimize")
    message = "the target of `{tape}.{method}` is computed outside the tape's recording range"
    outside = (
        "`{target}` is computed at line {line}, outside every `with` block of tape `{tape}`, so the tape "
        "recorded no path to it and `{tape}.{method}` returns None; compute `{target}` inside the `with` block"
    )
    inline = (
        "the target `{target}` is computed in the `{method}` call itself, after tape `{tape}` stopped "
        "recording, so the gradient is None; compute it inside the `with` block and pass the result"
    )
    path = (
        "`{target}` depends on `{owner}` only through `{name}`, computed at line {line} before tape `{tape}` "
        "started recording, so the gradient with respect to `{sources}` is None; move `{name} = ...` into "
        "the `with` block"
    )
    minimize_message = (
        "the loss callable passed to `minimize` returns `{name}`, computed at line {line} before the call, "
        "so the optimizer's tape records nothing and there are no gradients; compute the loss inside the "
        "callable"
    )

    valid = (
        Valid(
            """
import tensorflow as tf
from tensorflow.python.eager import execute

def transpose(op_name, inputs, attrs, outputs):
    # the op ran before the tape started; record_gradient puts it on the tape by hand
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        execute.record_gradient(op_name, inputs, attrs, outputs)
    trainable = [o for o in outputs]
    return tape.gradient(trainable, inputs)
"""
        ),
        Valid(
            """
import tensorflow as tf

loss_object = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

@tf.function
def train_step(model, optimizer, images, labels):
    with tf.GradientTape() as tape:
        predictions = model(images, training=True)
        loss = loss_object(labels, predictions)
    gradients = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(gradients, model.trainable_variables))
    return loss
"""
        ),
        Valid(
            """
import tensorflow as tf

x = tf.constant(3.0)
features = tf.ones([2, 3])  # data computed outside is fine: the source is watched inside
with tf.GradientTape() as g:
    g.watch(x)
    y = tf.reduce_sum(features) * x * x
dy_dx = g.gradient(y, x)
"""
        ),
        Valid(
            """
import tensorflow as tf

def step(model, opt, x, y):
    def loss_fn():
        return tf.reduce_mean(tf.square(model(x) - y))
    opt.minimize(loss_fn, model.trainable_variables)
    with tf.GradientTape() as tape:
        if x is None:
            loss = 0.0
        else:
            loss = tf.reduce_mean(model(x))
    return tape.gradient(loss, model.trainable_variables)
"""
        ),
    )
    invalid = (
        Invalid(
            """
import tensorflow as tf

def train_step(model, loss_fn, optimizer, x, y):
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
    # the loss, from the logits
    loss = loss_fn(y, logits)
    grads = tape.gradient(loss, model.trainable_variables)  # expect: TL001
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
""",
            fixed="""
import tensorflow as tf

def train_step(model, loss_fn, optimizer, x, y):
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        # the loss, from the logits
        loss = loss_fn(y, logits)
    grads = tape.gradient(loss, model.trainable_variables)  # expect: TL001
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
""",
            unsafe=True,
        ),
        Invalid(
            """
import tensorflow as tf

x = tf.Variable(2.0)
with tf.GradientTape() as tape:
    y = x * x
z = y + 1.0
w = tf.sin(z)
print("forward done")
dw = tape.gradient(w, x)  # expect: TL001
""",
            fixed="""
import tensorflow as tf

x = tf.Variable(2.0)
with tf.GradientTape() as tape:
    y = x * x
    z = y + 1.0
    w = tf.sin(z)
print("forward done")
dw = tape.gradient(w, x)  # expect: TL001
""",
            unsafe=True,
        ),
        Invalid(
            """
import tensorflow as tf

model = tf.keras.Sequential([tf.keras.layers.Dense(1)])
loss_object = tf.keras.losses.MeanSquaredError()

def train_step(x, y):
    predictions = model(x, training=True)
    with tf.GradientTape() as tape:
        loss = loss_object(y, predictions)
    return tape.gradient(loss, model.trainable_variables)  # expect: TL001
"""
        ),
        Invalid(
            """
import tensorflow as tf

w = tf.Variable([1.0, 2.0])
with tf.GradientTape() as tape:
    y = w * 3.0
grad = tape.gradient(tf.reduce_sum(y), w)  # expect: TL001
"""
        ),
        Invalid(
            """
import tensorflow as tf

w = tf.Variable(5.0)
opt = tf.keras.optimizers.SGD(0.1)
loss = (w - 3.0) ** 2
opt.minimize(lambda: loss, [w])  # expect: TL001
"""
        ),
    )

    @classmethod
    def screen(cls, facts):
        # a tape's gradient whose target may be computed outside it (`_check_use`), or
        # `opt.minimize(lambda: loss, ...)` (`_check_minimize`)
        if facts.differentiates_on_tape and _may_differentiate_outside(facts):
            return True
        if not (_MINIMIZE_CALL.search(facts.text) and "lambda" in facts.text):
            return False
        for call in facts.calls_where(_MINIMIZE_CALL):
            if isinstance(call.func, ast.Attribute) and call.func.attr == "minimize":
                loss = [k.value for k in call.keywords if k.arg == "loss"] + call.args[:1]
                if any(isinstance(f, ast.Lambda) and isinstance(f.body, ast.Name) for f in loss):
                    return True
        return False

    def check(self, model):
        for tape in model.tapes:
            if not tape.entered or tape.name is None or _records_by_hand(model, tape):
                continue
            for use in tape.differentiations():
                finding = self._check_use(model, tape, use)
                if finding is not None:
                    yield finding
        yield from self._check_minimize(model)

    # -- the target itself ---------------------------------------------------------------------------------
    def _check_use(self, model, tape, use):
        target = use.target
        if target is None or model.tapes.records(tape, use.node) is not False:
            return None
        fmt = dict(tape=tape.name, method=use.method, target=model.code(target))
        if isinstance(target, cst.Name):
            bindings = model.reaching(target)
            if not bindings or any(b.kind not in _COMPUTED for b in bindings):
                return None
            if all(model.tapes.records(tape, b.node) is False for b in bindings):
                if any(model.values.binding_kind(b) in (Kind.VARIABLE, Kind.GRADIENT) for b in bindings):
                    return None  # differentiating a variable, or a gradient (higher order: TL004's domain)
                if all(_picks_recorded_value(model, tape, b.value) for b in bindings):
                    return None
                line = model.line_of(bindings[-1].node)
                return Finding(target, self.outside.format(line=line, **fmt), self._fix(model, tape, use, bindings))
            if all(model.tapes.records(tape, b.node) is True for b in bindings):
                return self._check_path(model, tape, use, bindings)
            return None
        if self._computes_tensor(model, target):
            return Finding(target, self.inline.format(**fmt))
        return None

    @staticmethod
    def _fix(model, tape, use, bindings) -> CstFix | None:
        """Move the statements from the end of the tape's `with` block down to the one computing the
        target into the block, when they directly follow it."""
        if len(bindings) != 1:
            return None
        computed = block_statement(model, bindings[0].node)
        block = block_of(model, computed) if computed is not None else None
        if block is None:
            return None
        body = list(block.body)
        index = body.index(computed)
        # The statement right before the moved ones must be the tape's `with` (nothing in between but
        # the statements we move, which must not end the flow or use the tape).
        start = index
        while start > 0 and body[start - 1] not in tape.withs:
            start -= 1
        if start == 0 or body[start - 1] not in tape.withs:
            return None
        with_ = body[start - 1]
        moved = body[start:index + 1]
        if not isinstance(with_.body, cst.IndentedBlock):
            return None
        use_statement = block_statement(model, use.node)
        tape_nodes = [u.node for u in tape.uses]
        for statement in moved:
            if ends_flow(statement) or statement is use_statement or model.contains(statement, use.node):
                return None
            if any(model.contains(statement, n) for n in tape_nodes):
                return None
            if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
                return None
        if len(moved) > 5:
            return None  # not "directly after" any more: a human should decide
        new_with = with_.with_changes(body=with_.body.with_changes(body=[*with_.body.body, *moved]))
        return CstFix(
            f"Move `{model.code(use.target)}` into the `with` block of tape `{tape.name}`",
            (Replacement(with_, new_with), *(Replacement(s, cst.RemovalSentinel.REMOVE) for s in moved)),
            Applicability.UNSAFE,
        )

    def _computes_tensor(self, model, expr) -> bool:
        """An expression that certainly runs a TensorFlow op when evaluated."""
        if isinstance(expr, cst.Call):
            qname = model.call_name(expr)
            return qname is not None and qname.startswith("tensorflow.") and model.values.kind(expr) is Kind.TENSOR
        if isinstance(expr, (cst.BinaryOperation, cst.UnaryOperation)):
            return model.values.kind(expr) is Kind.TENSOR
        return False

    # -- a value on the path -------------------------------------------------------------------------------
    def _check_path(self, model, tape, use, bindings):
        """The textbook bug: `y_pred = model(x)` before the tape, `loss = loss_fn(y, y_pred)` inside.
        Fires only when the sources are `M.trainable_variables` (or similar), the loss computed inside
        is made of known pure operations on values from outside, and one of those values is `M(...)`."""
        owner = self._sources_owner(model, use.sources)
        if owner is None:
            return None
        outside: list = []
        for b in bindings:
            if not self._pure(model, tape, b.value, owner, outside, depth=0):
                return None
        for name, binding in outside:
            if binding.value is not None and self._calls(model, binding.value, owner):
                return Finding(
                    use.target,
                    self.path.format(
                        target=model.code(use.target), owner=owner, name=name.value,
                        line=model.line_of(binding.node), tape=tape.name, sources=model.code(use.sources),
                    ),
                )
        return None

    @staticmethod
    def _sources_owner(model, sources) -> str | None:
        if isinstance(sources, cst.Attribute) and sources.attr.value in VARIABLE_LIST_ATTRIBUTES and \
                isinstance(sources.value, cst.Name):
            return sources.value.value
        return None

    def _pure(self, model, tape, expr, owner, outside, depth) -> bool:
        """``expr`` runs only TensorFlow/Keras-loss ops on literals, values computed outside the tape
        (collected in ``outside``), and values computed inside by such expressions; it never mentions
        ``owner``."""
        if expr is None or depth > 6:
            return False
        if isinstance(expr, (cst.Integer, cst.Float, cst.SimpleString)):
            return True
        if isinstance(expr, cst.Name):
            if expr.value == owner:
                return False
            if expr.value in ("True", "False", "None"):
                return True
            bindings = model.reaching(expr)
            if bindings and all(b.kind == "param" for b in bindings):
                # a parameter (data such as labels): only mentioning `owner` connects to its variables
                return not self._watched(model, tape, expr)
            if not bindings or any(b.kind not in _COMPUTED for b in bindings):
                return False
            states = {model.tapes.records(tape, b.node) for b in bindings}
            if states == {False}:
                if any(model.values.binding_kind(b) in (Kind.VARIABLE, Kind.VARIABLE_LIST) for b in bindings):
                    return False
                if self._watched(model, tape, expr):
                    return False
                outside.extend((expr, b) for b in bindings)
                return True
            if states == {True}:
                return all(self._pure(model, tape, b.value, owner, outside, depth + 1) for b in bindings)
            return False
        if isinstance(expr, cst.BinaryOperation):
            return self._pure(model, tape, expr.left, owner, outside, depth + 1) and \
                self._pure(model, tape, expr.right, owner, outside, depth + 1)
        if isinstance(expr, cst.UnaryOperation):
            return self._pure(model, tape, expr.expression, owner, outside, depth + 1)
        if isinstance(expr, cst.Call):
            if not self._pure_callable(model, expr.func):
                return False
            return all(self._pure(model, tape, a.value, owner, outside, depth + 1) for a in expr.args)
        return False

    @staticmethod
    def _pure_callable(model, func) -> bool:
        qname = model.qualified_name(func)
        if qname is not None:
            return (qname.startswith("tensorflow.") and qname not in N.VARIABLE_FACTORIES) or \
                qname.startswith("keras.losses.") or qname.startswith("keras.ops.")
        if isinstance(func, cst.Name):  # an instance of a Keras loss, e.g. loss_object = ...Crossentropy()
            bindings = model.bindings_of(func)
            return bool(bindings) and all(
                b.kind == "assign" and isinstance(b.value, cst.Call)
                and (model.call_name(b.value) or "").startswith("keras.losses.")
                for b in bindings
            )
        return False

    @staticmethod
    def _watched(model, tape, name) -> bool:
        for use in tape.uses_of("watch"):
            if any(n.value == name.value for n in model.names_in(use.node)):
                return True
        return False

    @staticmethod
    def _calls(model, expr, owner) -> bool:
        """``expr`` contains a call of ``owner`` (``model(x)``, ``model.call(x)``, ``self(x)``)."""
        for call in model.tree.descendants(expr, cst.Call):
            func = call.func
            if isinstance(func, cst.Name) and func.value == owner:
                return True
            if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == owner \
                    and func.attr.value in ("call", "__call__", "predict_step"):
                return True
        return False

    # -- optimizer.minimize(lambda: loss) -----------------------------------------------------------------
    def _check_minimize(self, model):
        for call in model.nodes(cst.Call):
            method = model.method_call(call)
            if method is None or method[1] != "minimize":
                continue
            fn = model.argument(call, 0, "loss")
            if not (isinstance(fn, cst.Lambda) and isinstance(fn.body, cst.Name)):
                continue
            name = fn.body
            if model.scope_of(name).node is not fn:
                continue
            bindings = model.bindings_of(name)
            owner_scope = model.scopes.resolve_scope(name.value, model.scope_of(name))
            if not bindings or owner_scope is None or owner_scope.node is fn:
                continue
            if all(b.kind in _COMPUTED and model.values.binding_kind(b) is Kind.TENSOR and model.before(b.node, call)
                   for b in bindings):
                yield Finding(name, self.minimize_message.format(name=name.value, line=model.line_of(bindings[-1].node)))


def _picks_recorded_value(model, tape, value) -> bool:
    """``value`` runs no operation, it picks a value the tape recorded: a name the tape bound
    (`total = loss`), or an item, by a constant index or key, of a Python tuple, list or dict the tape
    bound (`total_loss = all_loss[0]`, `all_loss` the tuple a local `compute_loss` returns)."""
    container = isinstance(value, cst.Subscript)
    if container:
        if len(value.slice) != 1 or not isinstance(value.slice[0].slice, cst.Index) or \
                not isinstance(value.slice[0].slice.value, (cst.Integer, cst.SimpleString)):
            return False
        value = value.value
    if not isinstance(value, cst.Name):
        return False
    bindings = model.reaching(value)
    return bool(bindings) and all(
        b.kind in ("assign", "annassign") and model.tapes.records(tape, b.node) is True
        and (not container or _python_container(model, b.value)) for b in bindings)


def _python_container(model, value) -> bool:
    """``value`` is certainly a Python tuple, list or dict: a literal, or a call of a function of this
    file every `return` of which returns one."""
    literals = (cst.Tuple, cst.List, cst.Dict)
    if isinstance(value, literals):
        return True
    if not isinstance(value, cst.Call) or not isinstance(value.func, cst.Name):
        return False
    bindings = model.reaching(value.func) or []
    if len(bindings) != 1 or bindings[0].kind != "def":
        return False
    returns = own_returns(model, bindings[0].definition)
    return bool(returns) and all(isinstance(r.value, literals) for r in returns)


def _records_by_hand(model, tape) -> bool:
    """Some call in the tape's `with` blocks records an operation by hand (`record_gradient`)."""
    for with_node in tape.withs:
        for call in model.tree.descendants(with_node, cst.Call):
            func = call.func
            name = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else None
            if name in _MANUAL_RECORDING:
                return True
    return False


# -- the screen, on CPython's tree ----------------------------------------------------------------------------
def _may_differentiate_outside(facts) -> bool:
    """Some `t.gradient(target, ...)` that `_check_use` may report: on an entered, named tape, after its
    block (records False), with a target that may be computed outside it (see `_target_may_be_outside`)."""
    sites = facts.tapes
    if sites.uncertain:
        return True
    by_hand = any(name in facts.text for name in _MANUAL_RECORDING)
    for use in sites.differentiations():
        target = use.target
        if target is None:
            continue
        tapes = [t for t in sites.tapes_reaching(use) if t.entered and t.name is not None
                 and sites.records(t, use.node) is False and not (by_hand and _records_by_hand_in(t.withs))]
        if not tapes:
            continue
        if not isinstance(target, ast.Name):
            if _may_compute_tensor(facts, target):
                return True
            continue
        stores = facts.stores_by_name
        local = [(name, end_of(store), name) for name, store in stores.get(target.id, ())
                 if sites.function_of(name) is use.context.function]
        reaching = sites.reaching(target, local)
        if any(_target_may_be_outside(sites, tape, use, reaching, stores) for tape in tapes):
            return True
    return False


def _records_by_hand_in(withs) -> bool:
    """As `_records_by_hand`: a call in the `with` statements is named as one of `_MANUAL_RECORDING`."""
    for with_ in withs:
        for call in ast.walk(with_):
            if isinstance(call, ast.Call):
                func = call.func
                name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
                if name in _MANUAL_RECORDING:
                    return True
    return False


def _may_compute_tensor(facts, target) -> bool:
    """As `_computes_tensor`: arithmetic, or a call of what an import can make a `tensorflow.` name."""
    if isinstance(target, (ast.BinOp, ast.UnaryOp)):
        return True
    return isinstance(target, ast.Call) and facts.may_refer_under(target.func, ("tensorflow.",))


def _target_may_be_outside(sites, tape, use, reaching: list[ast.Name], stores) -> bool:
    """``reaching``: the names stores bind to the target's name that may reach it. `_check_use` needs
    every reaching binding outside the block (so one), else `_check_path` needs them inside, and a value
    computed outside by calling the sources' owner."""
    states = {sites.records(tape, name) for name in reaching}
    if False in states:
        return True
    return True in states and _path_may_start_outside(sites, tape, use, stores)


def _path_may_start_outside(sites, tape, use, stores) -> bool:
    """As `_check_path`: the sources are `owner.trainable_variables` (or alike), and a name read in the
    tape's block may be reached by a store outside it whose value calls `owner` (`_pure` collects the
    names read in the values the block binds, in its function: it follows no lambda or comprehension,
    whose bindings it does not record). An augmented assignment's binding has no value there."""
    sources = use.sources
    if not (isinstance(sources, ast.Attribute) and sources.attr in VARIABLE_LIST_ATTRIBUTES
            and isinstance(sources.value, ast.Name)):
        return False
    owner = sources.value.id
    for with_ in tape.withs:
        for statement in with_.body:
            for load in ast.walk(statement):
                if not (isinstance(load, ast.Name) and isinstance(load.ctx, ast.Load) and load.id in stores
                        and sites.records(tape, load) is True):
                    continue
                function = sites.function_of(load)
                local = [(name, end_of(store), (name, store)) for name, store in stores[load.id]
                         if sites.function_of(name) is function]
                for name, store in sites.reaching(load, local):
                    if not isinstance(store, ast.AugAssign) and store.value is not None \
                            and sites.records(tape, name) is False and _calls_owner(store.value, owner):
                        return True
    return False


def _calls_owner(value, owner: str) -> bool:
    """As `_calls`: `owner(...)`, `owner.call(...)`, `owner.__call__(...)`, `owner.predict_step(...)`."""
    for call in ast.walk(value):
        if isinstance(call, ast.Call):
            func = call.func
            if isinstance(func, ast.Name) and func.id == owner:
                return True
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == owner \
                    and func.attr in ("call", "__call__", "predict_step"):
                return True
    return False
