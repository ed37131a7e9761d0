from __future__ import annotations

import ast

from tapelint.lazy_libcst import cst
from tapelint.rules.base import Finding, Invalid, Rule, Valid
from tapelint.screen import Pattern, _flat_targets, _own_expressions, call_pattern
from tapelint.screen_tapes import before
from tapelint.semantic.custom_gradients import own_returns
from tapelint.semantic.tapes import DIFFERENTIATE

_STOP = frozenset({"tensorflow.stop_gradient"})
_WALRUS = Pattern((":=",), "", prefix=True)  # (where an assignment expression may be)


class HigherOrderWrongTape(Rule):
    """
    ## What it does
    Checks higher-order derivatives, where the target of a `gradient`/`jacobian` call is (or is computed
    from) another gradient:
    - the gradient is taken with the tape that produced it, when that tape is not persistent or produced
      it after its `with` block had ended;
    - the first gradient is computed outside the `with` block of the outer tape that differentiates it
      (a WGAN-GP gradient penalty computed before or after the discriminator's tape, nested tapes whose
      inner `gradient` call sits after the outer block).

    A first gradient computed inside a `with tape.stop_recording():` block of the outer tape, or wrapped
    in `tf.stop_gradient`, is taken to be a deliberate constant and is not reported.

    ## Why is this bad?
    A tape can only differentiate what it recorded, and computing a gradient is itself a computation that
    must be recorded to be differentiated again. When the first gradient is computed while the
    differentiating tape is not recording, the second derivative is `None`, or the gradient-penalty term
    silently contributes nothing to the update: the model trains, just without the penalty. A
    non-persistent tape, moreover, is released by its first `gradient` call and raises `RuntimeError`
    when asked again.

    ## Example
    ```python
    import tensorflow as tf

    x = tf.Variable(1.5)
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            y = x ** 3
    dy_dx = inner.gradient(y, x)
    d2y_dx2 = outer.gradient(dy_dx, x)  # expect: TL004
    ```

    ## Use instead
    ```python
    import tensorflow as tf

    x = tf.Variable(1.5)
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            y = x ** 3
        dy_dx = inner.gradient(y, x)  # recorded by `outer`
    d2y_dx2 = outer.gradient(dy_dx, x)
    ```

    ## References
    - [Higher-order gradients](https://www.tensorflow.org/guide/advanced_autodiff#higher-order_gradients)
    - [WGAN-GP on keras.io](https://keras.io/examples/generative/wgan_gp/)
    """

    code = "TL004"
    needs_indirect_callers = False  # what its trigger code refers to, and the direct callers of that code
    name = "higher-order-wrong-tape"
    summary = "A second-order gradient is taken with the wrong tape, or from a gradient the tape did not record"
    message = (
        "`{target}` depends on `{inner}.{inner_method}(...)` at line {line}, computed outside the `with` "
        "block of tape `{tape}`: `{tape}` did not record how that gradient was computed, so its part of "
        "`{tape}.{method}` is silently missing (None if nothing else connects); compute it inside "
        "`with ... as {tape}:`, nesting tape `{inner}` in it"
    )
    call_message = (
        "`{target}` depends on `{call}` at line {line}, which returns a gradient of tape `{inner}` "
        "(line {inner_line}) and runs outside the `with` block of tape `{tape}`: `{tape}` did not record "
        "how that gradient was computed, so its part of `{tape}.{method}` is silently missing; call it "
        "inside `with ... as {tape}:`"
    )
    own_message = (
        "tape `{tape}` differentiates `{target}`, which is its own gradient from line {line}: {why}"
    )
    own_non_persistent = (
        "a non-persistent tape is released by that first call, so this one raises RuntimeError; compute "
        "the first gradient with an inner tape inside the `with` block of a second (outer) tape, and take "
        "the second derivative with the outer one"
    )
    own_not_recording = (
        "the tape had stopped recording when it computed it, so the second derivative is None; compute "
        "`{target}` inside the `with` block of the persistent tape, or use nested tapes"
    )

    valid = (
        Valid(
            """
import tensorflow as tf

x = tf.Variable(1.0)
with tf.GradientTape() as t2:
    with tf.GradientTape() as t1:
        y = x * x * x
    dy_dx = t1.gradient(y, x)
d2y_dx2 = t2.gradient(dy_dx, x)
"""
        ),
        Valid(
            """
import tensorflow as tf

def laplacian(u_fn, x):
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        u = u_fn(x)
        u_x = tape.gradient(u, x)
    u_xx = tape.gradient(u_x, x)
    del tape
    return u_xx
"""
        ),
        Valid(
            """
import tensorflow as tf

def train_d(disc, opt, real, fake, gp_weight=10.0):
    with tf.GradientTape() as tape:
        d_cost = tf.reduce_mean(disc(fake)) - tf.reduce_mean(disc(real))
        alpha = tf.random.uniform([tf.shape(real)[0], 1], 0.0, 1.0)
        interpolated = real + alpha * (fake - real)
        with tf.GradientTape() as gp_tape:
            gp_tape.watch(interpolated)
            pred = disc(interpolated)
        grads = gp_tape.gradient(pred, [interpolated])[0]
        norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1]))
        gp = tf.reduce_mean((norm - 1.0) ** 2)
        d_loss = d_cost + gp * gp_weight
    d_grads = tape.gradient(d_loss, disc.trainable_variables)
    opt.apply_gradients(zip(d_grads, disc.trainable_variables))
"""
        ),
        Valid(
            """
import tensorflow as tf

def weighted_step(model, opt, x, y, aux_loss_fn):
    with tf.GradientTape() as tape:
        main = tf.reduce_mean(tf.square(model(x) - y))
        with tape.stop_recording():  # the weight is a constant on purpose
            with tf.GradientTape() as aux_tape:
                aux = aux_loss_fn(model, x)
            g = aux_tape.gradient(aux, model.trainable_variables)
            weight = 1.0 / (1.0 + tf.linalg.global_norm(g))
        loss = main + weight * aux_loss_fn(model, x)
    grads = tape.gradient(loss, model.trainable_variables)
    opt.apply_gradients(zip(grads, model.trainable_variables))
"""
        ),
    )
    invalid = (
        Invalid(
            """
import tensorflow as tf

def d_step(disc, opt, real, fake):
    alpha = tf.random.uniform([tf.shape(real)[0], 1], 0.0, 1.0)
    interpolated = real + alpha * (fake - real)
    with tf.GradientTape() as gp_tape:
        gp_tape.watch(interpolated)
        pred = disc(interpolated)
    grads = gp_tape.gradient(pred, interpolated)
    gp = tf.reduce_mean((tf.norm(grads, axis=1) - 1.0) ** 2)
    with tf.GradientTape() as tape:
        d_loss = tf.reduce_mean(disc(fake)) - tf.reduce_mean(disc(real)) + 10.0 * gp
    d_grads = tape.gradient(d_loss, disc.trainable_variables)  # expect: TL004
    opt.apply_gradients(zip(d_grads, disc.trainable_variables))
"""
        ),
        Invalid(
            """
import tensorflow as tf

x = tf.Variable(2.0)
with tf.GradientTape(persistent=True) as tape:
    y = tf.sin(x)
dy = tape.gradient(y, x)
d2y = tape.gradient(dy, x)  # expect: TL004
del tape
"""
        ),
        Invalid(
            """
import tensorflow as tf

class Critic(tf.keras.Model):
    def gradient_penalty(self, real, fake):
        eps = tf.random.uniform([tf.shape(real)[0], 1])
        mixed = eps * real + (1.0 - eps) * fake
        with tf.GradientTape() as gp_tape:
            gp_tape.watch(mixed)
            score = self(mixed)
        grads = gp_tape.gradient(score, mixed)
        return tf.reduce_mean((tf.norm(grads, axis=-1) - 1.0) ** 2)

    def train_step(self, data):
        real, fake = data
        gp = self.gradient_penalty(real, fake)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(self(fake)) - tf.reduce_mean(self(real)) + 10.0 * gp
        grads = tape.gradient(loss, self.trainable_variables)  # expect: TL004
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return {"loss": loss}
"""
        ),
    )

    @classmethod
    def screen(cls, facts):
        if not facts.differentiates_on_tape:
            return False
        sites = facts.tapes
        if sites.uncertain:
            return True
        # `check`: a differentiation on an entered tape whose target flows from a call before it in its
        # function, where that call is another differentiation (`_check_inner`: on the same tape, not
        # persistent, or one the tape does not record) or calls a function of the module that holds one
        # (`_check_local_call`: a call the tape does not record)
        diffs = sites.differentiations()
        if len(diffs) < 2:
            return False
        holders = _functions_differentiating(diffs)
        local_calls = bound = None
        for use in diffs:
            tapes = [t for t in sites.tapes_reaching(use) if t.entered]
            if use.target is None or not tapes:
                continue
            function = use.context.function
            suspects = [inner.node for inner in diffs if inner is not use and inner.context.function is function
                        and before(inner.node, use.node) and any(
                            sites.records(t, inner.node) is False
                            or t.persistent is False and t in sites.tapes_reaching(inner) for t in tapes)]
            if any(f is not function for found in holders.values() for f in found):
                if local_calls is None:
                    local_calls = _calls_named(facts, sites, holders)
                suspects += [call for call in local_calls if sites.function_of(call) is function
                             and before(call, use.node) and any(f is not function for f in holders[_called_name(call)])
                             and any(sites.records(t, call) is False for t in tapes)]
            if not suspects:
                continue
            if bound is None:
                bound = _bound_values(facts, sites), _declared(facts)
            if _flows_from(sites, *bound, use.target, function, {id(call) for call in suspects}):
                return True
        return False

    def check(self, model):
        for tape in model.tapes:
            if not tape.entered or tape.name is None:
                continue
            for use in tape.differentiations():
                if use.target is None:
                    continue
                finding = self._check_use(model, tape, use)
                if finding is not None:
                    yield finding

    def _check_use(self, model, tape, use):
        tapes = model.tapes
        fn = model.function_of(use.node)
        calls = model.upstream_calls(use.target, stop=lambda c: self._stops(model, c))
        fmt = dict(target=model.code(use.target), tape=tape.name, method=use.method)
        for call in calls:
            if not model.before(call, use.node) or model.function_of(call) is not fn:
                continue
            inner = tapes.use_at(call)
            if inner is not None and inner.method in DIFFERENTIATE:
                if inner is use or not model.before(inner.tape.create, call):
                    continue
                finding = self._check_inner(model, tape, use, inner, fmt)
                if finding is not None:
                    return finding
                continue
            finding = self._check_local_call(model, tape, use, call, fmt)
            if finding is not None:
                return finding
        return None

    def _check_inner(self, model, tape, use, inner, fmt):
        recorded = model.tapes.records(tape, inner.node)
        if inner.tape is tape:
            if tape.persistent is False:
                why = self.own_non_persistent
            elif recorded is False:
                why = self.own_not_recording
            else:
                return None
            return Finding(use.node, self.own_message.format(line=model.line_of(inner.node),
                                                             why=why.format(**fmt), **fmt))
        if recorded is False and not self._in_hole(model, tape, inner.node):
            return Finding(use.node, self.message.format(
                inner=inner.tape.name or "tape", inner_method=inner.method, line=model.line_of(inner.node), **fmt))
        return None

    def _check_local_call(self, model, tape, use, call, fmt):
        """`gp = self.gradient_penalty(...)` outside the tape, where that method returns a gradient."""
        if model.tapes.records(tape, call) is not False or self._in_hole(model, tape, call):
            return None
        fn = self._local_function(model, call)
        if fn is None or fn is model.function_of(use.node):
            return None
        inner = self._returned_gradient(model, fn)
        if inner is None:
            return None
        return Finding(use.node, self.call_message.format(
            call=model.code(call), line=model.line_of(call), inner=inner.tape.name or "tape",
            inner_line=model.line_of(inner.node), **fmt))

    @staticmethod
    def _stops(model, call) -> bool:
        """Calls not to look into: other differentiations, `tf.stop_gradient`, `.numpy()`."""
        if model.tapes.use_at(call) is not None:
            return True
        if model.call_name(call) in _STOP:
            return True
        method = model.method_call(call)
        return method is not None and method[1] == "numpy"

    @staticmethod
    def _in_hole(model, tape, node) -> bool:
        return any(model.contains(hole, node) for hole in tape.holes)

    @staticmethod
    def _local_function(model, call) -> cst.FunctionDef | None:
        """The function defined in this file that ``call`` certainly calls: ``f(...)`` or ``self.m(...)``."""
        func = call.func
        if isinstance(func, cst.Name):
            bindings = model.reaching(func) or []
            if len(bindings) == 1 and bindings[0].kind == "def":
                return bindings[0].definition
            return None
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self":
            cls = model.values.class_around(call)
            if cls is None:
                return None
            methods = [s for s in cls.body.body if isinstance(s, cst.FunctionDef) and s.name.value == func.attr.value]
            return methods[0] if len(methods) == 1 else None
        return None

    def _returned_gradient(self, model, fn):
        """A differentiation inside ``fn`` whose result flows into what ``fn`` returns."""
        for ret in own_returns(model, fn):
            if ret.value is None:
                continue
            for call in model.upstream_calls(ret.value, stop=lambda c: self._stops(model, c)):
                inner = model.tapes.use_at(call)
                if inner is not None and inner.method in DIFFERENTIATE and model.function_of(call) is fn:
                    return inner
        return None


# -- the screen, on CPython's tree ----------------------------------------------------------------------------
def _functions_differentiating(diffs) -> dict[str, list[ast.AST]]:
    """Name -> the functions (`def`) of that name whose own code differentiates: those whose gradient
    `_returned_gradient` may find."""
    out: dict[str, list[ast.AST]] = {}
    for use in diffs:
        function = use.context.function
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) and function not in out.get(function.name, ()):
            out.setdefault(function.name, []).append(function)
    return out


def _called_name(call: ast.Call) -> str | None:
    """``f`` of `f(...)` and of `self.f(...)`: the calls `_local_function` follows."""
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self":
        return func.attr
    return None


def _calls_named(facts, sites, names) -> list[ast.Call]:
    """The calls `f(...)` and `self.f(...)` for ``f`` one of ``names``, found on the lines that call
    one of them."""
    out = {}
    for line in call_pattern(*names).lines(facts.text):
        for statement in sites.statements_on(line):
            for expr in _own_expressions(statement):
                out.update((id(n), n) for n in ast.walk(expr) if isinstance(n, ast.Call) and _called_name(n) in names)
    return list(out.values())




def _bound_values(facts, sites) -> dict[str, list[tuple[ast.AST | None, ast.AST]]]:
    """Name -> the function of each binding of it in the module (None: the module) and what the binding
    is computed from, as ``model._bound_from``: the whole value of an assignment, augmented or annotated
    one and `:=`, the iterable of a `for`, the context manager of a `with`."""
    stores: list[tuple[ast.AST, ast.AST, ast.AST | None]] = []  # (where, target, value)
    for statement in facts.statements:
        if isinstance(statement, ast.Assign):
            stores += [(statement, target, statement.value) for target in statement.targets]
        elif isinstance(statement, (ast.AugAssign, ast.AnnAssign)):
            stores.append((statement, statement.target, statement.value))
        elif isinstance(statement, (ast.For, ast.AsyncFor)):
            stores.append((statement, statement.target, statement.iter))
        elif isinstance(statement, (ast.With, ast.AsyncWith)):
            stores += [(statement, item.optional_vars, item.context_expr) for item in statement.items
                       if item.optional_vars is not None]
    for line in _WALRUS.lines(facts.text):
        for statement in sites.statements_on(line):
            stores += [(node, node.target, node.value) for expr in _own_expressions(statement)
                       for node in ast.walk(expr) if isinstance(node, ast.NamedExpr)]
    out: dict[str, list[tuple[ast.AST | None, ast.AST]]] = {}
    for where, target, value in stores:
        if value is not None:
            for name in _flat_targets(target):
                if isinstance(name, ast.Name):
                    out.setdefault(name.id, []).append((sites.function_of(where), value))
    return out


def _declared(facts) -> frozenset[str]:
    """The names some `global` or `nonlocal` statement declares: a function may bind them for others."""
    return frozenset(name for statement in facts.statements if isinstance(statement, (ast.Global, ast.Nonlocal))
                     for name in statement.names)


def _flows_from(sites, values, declared, expr: ast.AST, function: ast.AST | None, calls: set[int]) -> bool:
    """One of ``calls`` (their ids) is among ``model.upstream_calls(expr)`` (``expr`` in ``function``),
    followed here without its stops and limit, through names alone (a superset): the calls in ``expr``,
    and those in what each binding of a name it reads is computed from, transitively. A name read in a
    function may be bound there, in a function around it or in the module; a `global` or `nonlocal` one
    anywhere; one read in a lambda, by `:=` in that lambda (any lambda's is taken)."""
    followed: set[tuple[str, ast.AST | None]] = set()
    todo = [(expr, function)]
    while todo:
        expr, function = todo.pop()
        scopes = _scopes_seen_from(sites, function)
        for node in ast.walk(expr):
            if isinstance(node, ast.Call):
                if id(node) in calls:
                    return True
            elif isinstance(node, ast.Name) and (node.id, function) not in followed:
                followed.add((node.id, function))
                anywhere = node.id in declared
                todo += [(value, where) for where, value in values.get(node.id, ())
                         if anywhere or where in scopes or isinstance(where, ast.Lambda)]
    return False


def _scopes_seen_from(sites, function: ast.AST | None) -> list[ast.AST | None]:
    """``function``, the functions around it, and the module (None)."""
    out = [function]
    while function is not None:
        function = sites.function_of(function)
        out.append(function)
    return out
