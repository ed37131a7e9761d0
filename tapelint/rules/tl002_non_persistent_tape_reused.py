from __future__ import annotations

from tapelint.diagnostics import Applicability
from tapelint.lazy_libcst import cst
from tapelint.rules.base import CstFix, Finding, Invalid, Replacement, Rule, Valid
from tapelint.rules.fix_helpers import block_of, block_statement, del_statement, ends_flow


class NonPersistentTapeReused(Rule):
    """
    ## What it does
    Checks for a `tf.GradientTape` created without `persistent=True` that computes gradients more than
    once: two `gradient`/`jacobian` calls in sequence, or one call repeated by a loop that does not
    create a new tape on each iteration.

    ## Why is this bad?
    A non-persistent tape releases what it recorded as soon as its first `gradient` call returns. The
    second call raises `RuntimeError: A non-persistent GradientTape can only be used to compute one set
    of gradients (or jacobians)`, typically after the first (expensive) training step.

    ## Example
    ```python
    import tensorflow as tf

    x = tf.Variable(3.0)
    with tf.GradientTape() as tape:
        y = x * x
        z = y * y
    dz_dx = tape.gradient(z, x)
    dy_dx = tape.gradient(y, x)  # expect: TL002
    ```

    ## Use instead
    ```python
    import tensorflow as tf

    x = tf.Variable(3.0)
    with tf.GradientTape(persistent=True) as tape:
        y = x * x
        z = y * y
    dz_dx = tape.gradient(z, x)
    dy_dx = tape.gradient(y, x)
    del tape  # release the resources a persistent tape holds
    ```

    ## Fix safety
    The fix adds `persistent=True` to the tape's constructor and, where the tape's last use is certain
    (every use in the same function, after the tape is made on every path), `del tape` right after that
    use, so the recording a persistent tape holds is released. It is safe: every gradient the code asked
    for is computed as before, now without the `RuntimeError`.

    ## References
    - [tf.GradientTape](https://www.tensorflow.org/api_docs/python/tf/GradientTape)
    - [Gradients of non-scalar targets and persistent tapes](https://www.tensorflow.org/guide/autodiff)
    """

    code = "TL002"
    needs_indirect_callers = False  # what its trigger code refers to, and the direct callers of that code
    name = "non-persistent-tape-reused"
    summary = "A non-persistent GradientTape is asked for gradients more than once"
    message = (
        "tape `{tape}` is not persistent but computes gradients again here (first at line {first}): "
        "this raises RuntimeError at run time; create it with `tf.GradientTape(persistent=True)` and "
        "`del {tape}` after the last use"
    )
    loop_message = (
        "tape `{tape}` is not persistent but this `{method}` call runs on every loop iteration with the "
        "same tape: the second iteration raises RuntimeError; create the tape inside the loop, or make "
        "it persistent"
    )

    valid = (
        Valid(
            """
import tensorflow as tf

def train(model, opt, dataset):
    for x, y in dataset:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x) - y))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
"""
        ),
        Valid(
            """
import tensorflow as tf

x = tf.Variable(2.0)
with tf.GradientTape() as tape:
    y = x ** 2
dy = tape.gradient(y, x)
with tf.GradientTape() as tape:  # a new tape under the same name
    z = x ** 3
dz = tape.gradient(z, x)
"""
        ),
        Valid(
            """
import tensorflow as tf

def f(x, flag):
    with tf.GradientTape() as t:
        t.watch(x)
        y = x * x
    if flag:
        return t.gradient(y, x)
    else:
        return t.jacobian(y, x)
"""
        ),
    )
    invalid = (
        Invalid(
            """
import tensorflow as tf

def gan_step(gen, disc, noise, real):
    with tf.GradientTape() as tape:
        fake = gen(noise)
        g_loss = -tf.reduce_mean(disc(fake))
        d_loss = tf.reduce_mean(disc(fake)) - tf.reduce_mean(disc(real))
    g_grads = tape.gradient(g_loss, gen.trainable_variables)
    d_grads = tape.gradient(d_loss, disc.trainable_variables)  # expect: TL002
    return g_grads, d_grads
""",
            fixed="""
import tensorflow as tf

def gan_step(gen, disc, noise, real):
    with tf.GradientTape(persistent=True) as tape:
        fake = gen(noise)
        g_loss = -tf.reduce_mean(disc(fake))
        d_loss = tf.reduce_mean(disc(fake)) - tf.reduce_mean(disc(real))
    g_grads = tape.gradient(g_loss, gen.trainable_variables)
    d_grads = tape.gradient(d_loss, disc.trainable_variables)  # expect: TL002
    del tape
    return g_grads, d_grads
""",
        ),
        Invalid(
            """
import tensorflow as tf

x = tf.Variable([1.0, 2.0])
tape = tf.GradientTape()
with tape:
    y = tf.reduce_sum(x ** 2)
for i in range(3):
    g = tape.gradient(y, x)  # expect: TL002
""",
            fixed="""
import tensorflow as tf

x = tf.Variable([1.0, 2.0])
tape = tf.GradientTape(persistent=True)
with tape:
    y = tf.reduce_sum(x ** 2)
for i in range(3):
    g = tape.gradient(y, x)  # expect: TL002
del tape
""",
        ),
        Invalid(
            """
from tensorflow import GradientTape as GT

def jac(f, x):
    with GT(persistent=False) as t:
        t.watch(x)
        y = f(x)
    j = t.jacobian(y, x)
    h = t.batch_jacobian(y, x)  # expect: TL002
    return j, h
""",
            fixed="""
from tensorflow import GradientTape as GT

def jac(f, x):
    with GT(persistent=True) as t:
        t.watch(x)
        y = f(x)
    j = t.jacobian(y, x)
    h = t.batch_jacobian(y, x)  # expect: TL002
    del t
    return j, h
""",
        ),
    )

    @classmethod
    def screen(cls, facts):
        if not facts.differentiates_on_tape:
            return False
        sites = facts.tapes
        if sites.uncertain:
            return True
        # `check`: a named tape, not persistent, one of whose differentiations repeats in a loop or has
        # an earlier one that dominates it (the resets between are not looked at)
        diffs = sites.differentiations()
        reaching = {id(use): sites.tapes_reaching(use) for use in diffs}
        for tape in sites.tapes:
            if tape.persistent is not False or tape.name is None:
                continue
            uses = [use for use in diffs if tape in reaching[id(use)]]
            for i, use in enumerate(uses):
                if sites.repeating_loops(tape, use.node):
                    return True
                if any(sites.may_dominate(earlier.node, use.node) for earlier in uses[:i]):
                    return True
        return False

    def check(self, model):
        for tape in model.tapes:
            if tape.persistent is not False or tape.name is None:
                continue
            diffs = tape.differentiations()
            resets = tape.uses_of("reset")
            reported = False
            for i, use in enumerate(diffs):
                if use.in_loop:
                    yield self._finding(model, tape, use, self.loop_message.format(tape=tape.name, method=use.method))
                    reported = True
                    break
                earlier = [d for d in diffs[:i] if model.dominates(d.node, use.node)]
                if earlier and not any(model.before(earlier[-1].node, r.node) and model.before(r.node, use.node) for r in resets):
                    first = model.line_of(earlier[0].node)
                    yield self._finding(model, tape, use, self.message.format(tape=tape.name, first=first))
                    reported = True
                    break
            if reported:
                continue

    def _finding(self, model, tape, use, message):
        fix = self._fix(tape)
        release = self._release(model, tape)
        if release is not None:
            fix = CstFix("Make the tape persistent and `del` it after its last use",
                         fix.replacements + (release,), fix.applicability)
        return Finding(use.node, message, fix)

    @staticmethod
    def _release(model, tape) -> Replacement | None:
        """``del tape`` after the statement holding the tape's last use, when that is certainly the
        last use: all uses in the tape's own function, the statement in the innermost block holding
        the tape's binding and every use, and run on every path after the binding."""
        binding = tape.binding
        if binding is None or tape.uses_of("del"):
            return None
        loads = model.loads_of(binding)
        if not loads:
            return None
        home = model.function_of(binding.node)
        if any(model.function_of(n) is not home for n in loads):
            return None  # a closure may use the tape later
        if any(model.reaching(n) != [binding] for n in loads):
            return None  # another binding of the name reaches a use: which tape is last is unclear
        statement = block_statement(model, binding.node)
        block = block_of(model, statement) if statement is not None else None
        while block is not None and not all(model.contains(block, n) for n in loads):
            statement = block_statement(model, block)
            block = block_of(model, statement) if statement is not None else None
        if block is None:
            return None
        last = block_statement(model, loads[-1])
        while last is not None and block_of(model, last) is not block:
            last = block_statement(model, model.parent(last))
        if last is None or ends_flow(last) or model.contains(last, tape.create):
            return None
        if not model.dominates(binding.node, last):
            return None
        return Replacement(last, cst.FlattenSentinel([last, del_statement(binding.name)]))

    @staticmethod
    def _fix(tape) -> CstFix:
        call = tape.create
        args = list(call.args)
        existing = [a for a in args if a.keyword is not None and a.keyword.value == "persistent"]
        if existing:
            new_args = [a.with_changes(value=cst.Name("True")) if a is existing[0] else a for a in args]
        elif args and args[0].keyword is None and not args[0].star:
            new_args = [args[0].with_changes(value=cst.Name("True"))] + args[1:]
        else:
            new_arg = cst.Arg(value=cst.Name("True"), keyword=cst.Name("persistent"),
                              equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")))
            if args:
                args[-1] = args[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
            new_args = [new_arg] + args if not args else args + [new_arg]
        return CstFix("Make the tape persistent", (Replacement(call, call.with_changes(args=new_args)),),
                      Applicability.SAFE)
