from __future__ import annotations

from tapelint.lazy_libcst import cst
from tapelint.rules.base import Finding, Invalid, Rule, Valid
from tapelint.semantic.custom_gradients import own_returns
from tapelint.semantic.tapes import DIFFERENTIATE

_STOP = frozenset({"tensorflow.stop_gradient"})


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
        return facts.differentiates_on_tape

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
