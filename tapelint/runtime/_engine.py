"""The checker proper: contracts in the caller's dtype, then values against finite differences.

Vocabulary: a *source* is what gets differentiated (a floating-point tensor argument or a trainable
variable the function reads); ``v`` is a random cotangent for the outputs, so ``r = v^T J`` is one
backward pass; ``phi(x) = <v, f(x)>`` is the scalar whose finite differences are compared with
``<r, w>`` along a direction ``w`` (fast mode), or the whole Jacobian is compared entry by entry (full).
The finite differences run in float64 where the function accepts it ("reference" space); the caller's
dtype is used for the contracts and for a consistency check of its own gradient.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import tensorflow as tf

from . import _contracts
from ._util import describe, eps_of, fmt_index, is_float, leaf_names, raised, short_device, state
from .errors import GradientCheckError, GradientContractError, NondeterminismError
from .report import GradientReport, SourceReport

FULL_MAX_ENTRIES = 10**6  # Jacobian entries (inputs x outputs) full mode accepts
FULL_MAX_INPUTS = 10**5  # input elements full mode accepts
FAST_TWO_DIRECTIONS_MAX = 2**16  # sources up to this size get a second random direction
MAX_KINKS = 8  # non-differentiable coordinates masked out before giving up on a direction
_BLOCK = 6  # columns shown around the worst coordinate
_RAND_BLOCK = 2**16  # random vectors are tiled from a block this long (generation cost is O(1))

# Default relative tolerances, keyed by the dtype the compared quantities were computed in.
RTOL_REFERENCE = {tf.float64: 1e-6, tf.float32: 1e-3, tf.float16: 3e-2, tf.bfloat16: 1e-1}
RTOL_CONSISTENCY = {tf.float32: 1e-3, tf.float16: 3e-2, tf.bfloat16: 1.5e-1}
_C_FLOOR = 32.0  # rounding-floor multiplier: evaluations are sums of many rounded terms
_C_ANALYTIC = 64.0


def _f64(t):
    return tf.cast(tf.convert_to_tensor(t), tf.float64)


def _dense(g):
    return tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g


def _dot(a, b) -> float:
    return float(tf.reduce_sum(a * b))


def _finite(x: float) -> bool:
    return math.isfinite(x)


# ---------------------------------------------------------------------------------------------------
# Random numbers: seeded, cheap at any size (a block of uniform numbers, tiled on the device).

_rand_cache: dict = {}


def _rand(shape, seed: int, stream: tuple) -> tf.Tensor:
    n = int(np.prod(shape)) if len(shape) else 1
    m = min(n, _RAND_BLOCK)
    key = (seed, stream, m)
    base = _rand_cache.get(key)
    if base is None:
        rng = np.random.default_rng([seed & 0xFFFFFFFF, *[abs(hash(s)) & 0xFFFFFFFF for s in stream]])
        base = rng.uniform(-1.0, 1.0, m)
        if len(_rand_cache) > 256:
            _rand_cache.clear()
        _rand_cache[key] = base
    t = tf.constant(base, tf.float64)
    if n > m:
        t = tf.tile(t, [-(-n // m)])[:n]
    return tf.reshape(t, shape)


# ---------------------------------------------------------------------------------------------------
# The call being checked.


class Source:
    def __init__(self, name, kind, leaf_index=None, var=None, value=None):
        self.name = name
        self.kind = kind  # "argument", "keyword argument", "variable"
        self.leaf_index = leaf_index
        self.var = var
        self.value = value  # caller-dtype tensor (variables: their value when the check started)
        self.dtype = value.dtype.base_dtype
        self.shape = tuple(int(d) for d in value.shape)
        self.size = int(np.prod(self.shape)) if self.shape else 1
        self.x64 = _f64(value)
        rms = float(tf.sqrt(tf.reduce_mean(tf.square(self.x64)))) if self.size else 0.0
        self.scale = rms if (rms > 0 and _finite(rms)) else 1.0

    @property
    def what(self) -> str:
        return f"{self.kind} `{self.name}`"

    def label(self, flat_index: int) -> str:
        return f"{self.name}{fmt_index(self.shape, flat_index)}"


class Problem:
    """``fn(*args, **kwargs)`` with its floating-point leaves found, named and counted."""

    def __init__(self, fn, args, kwargs, positional_only: bool, display=None, signature_of=None):
        self.fn = fn
        self.structure = (tuple(args), dict(kwargs))
        leaves = tf.nest.flatten(self.structure)
        names = leaf_names(signature_of or fn, args, kwargs)
        if len(names) != len(leaves):
            names = [(f"leaf[{i}]", "argument") for i in range(len(leaves))]
        self.leaves = []
        self.sources: list[Source] = []
        n_pos = len(tf.nest.flatten(tuple(args)))
        for i, (leaf, (name, kind)) in enumerate(zip(leaves, names)):
            if isinstance(leaf, np.ndarray) and leaf.dtype.kind == "f":
                leaf = tf.constant(leaf)
            self.leaves.append(leaf)
            if positional_only and i >= n_pos:
                continue
            if isinstance(leaf, tf.Variable):
                if leaf.dtype.is_floating:
                    self.sources.append(Source(name, "variable", var=leaf, value=tf.identity(leaf)))
            elif isinstance(leaf, tf.Tensor) and leaf.dtype.is_floating:
                self.sources.append(Source(name, kind, leaf_index=i, value=leaf))
        self.name, self.location = display or describe(fn)
        self.where = f"{self.name} ({self.location})"
        self.evaluations = 0
        self.backward_calls = 0
        self.notes: list[str] = []

    def call(self, leaves):
        args, kwargs = tf.nest.pack_sequence_as(self.structure, leaves)
        self.evaluations += 1
        return self.fn(*args, **kwargs)


def _float_outputs(out):
    flat = [_dense(o) if isinstance(o, tf.IndexedSlices) else o for o in tf.nest.flatten(out)]
    return [o for o in flat if isinstance(o, tf.Tensor) and o.dtype.is_floating]


@contextlib.contextmanager
def _swapped_to_float64(variables):
    """Make float32/16 ResourceVariables read as float64 copies, then restore them exactly.

    tf.functions run eagerly meanwhile, so no trace captures the temporary float64 handles.
    """
    saved, keep = [], []
    eager_before = tf.config.functions_run_eagerly()
    try:
        for v in variables:
            if not hasattr(v, "_handle") or not hasattr(v, "_dtype"):
                raise TypeError(f"cannot upcast variable {v.name}")
            t = tf.Variable(tf.cast(v.read_value(), tf.float64), trainable=v.trainable)
            saved.append((v, v._handle, v._dtype, getattr(v, "_cached_value", None)))
            v._handle, v._dtype, v._cached_value = t._handle, t._dtype, None
            keep.append(t)
        if variables:
            tf.config.run_functions_eagerly(True)
        yield
    finally:
        for v, handle, dtype, cached in reversed(saved):
            v._handle, v._dtype, v._cached_value = handle, dtype, cached
        tf.config.run_functions_eagerly(eager_before)


class Space:
    """One dtype in which ``fn`` is evaluated and differentiated: the caller's, or float64."""

    def __init__(self, problem: Problem, upcast: bool):
        self.p = problem
        self.upcast = upcast
        self.tape = None
        self.outputs = None
        self.stack = None  # the float64 variable swap, closed by restore()
        self.current = {}  # source index -> value assigned to its variable (absent: the base value)

    # -- evaluation ----------------------------------------------------------------------------------
    def _leaves(self, values):
        leaves = list(self.p.leaves)
        if self.upcast:
            leaves = [tf.cast(l, tf.float64) if isinstance(l, tf.Tensor) and l.dtype.is_floating
                      and l.dtype != tf.float64 else l for l in leaves]
        for k, s in enumerate(self.p.sources):
            val = values[k]
            if s.var is not None:
                if val is not self.current.get(k):
                    s.var.assign(val if val is not None else tf.cast(s.x64, s.var.dtype))
                    self.current[k] = val
            elif val is not None:
                leaves[s.leaf_index] = val
        return leaves

    def feed_dtype(self, k):
        return tf.float64 if self.upcast else self.p.sources[k].dtype

    def base_values(self):
        return [tf.cast(s.x64, self.feed_dtype(k)) if s.var is None else None
                for k, s in enumerate(self.p.sources)]

    def outputs_at(self, k=None, value=None):
        """Flat float outputs with source ``k`` set to ``value`` (a float64 tensor), others at the base."""
        values = self.base_values()
        if k is not None:
            values[k] = tf.cast(value, self.feed_dtype(k))
        return _float_outputs(self.p.call(self._leaves(values)))

    def fed(self, k, value64):
        """The value source ``k`` actually receives for ``value64`` (rounded to the feed dtype), in float64."""
        return _f64(tf.cast(value64, self.feed_dtype(k)))

    def restore(self):
        try:
            for k, s in enumerate(self.p.sources):
                if s.var is not None and self.current.get(k) is not None:
                    s.var.assign(tf.cast(s.x64, s.var.dtype) if self.upcast else s.value)
                    self.current[k] = None
        finally:
            if self.stack is not None:
                self.stack.close()
                self.stack = None

    # -- differentiation -------------------------------------------------------------------------------
    def forward_with_tape(self):
        values = self.base_values()
        leaves = self._leaves(values)
        with tf.GradientTape(persistent=True) as tape:
            for s in self.p.sources:
                tape.watch(s.var if s.var is not None else leaves[s.leaf_index])
            out = self.p.call(leaves)
        self.tape, self.leaves_now = tape, leaves
        self.outputs = _float_outputs(out)
        return tape

    def targets(self):
        return [s.var if s.var is not None else self.leaves_now[s.leaf_index] for s in self.p.sources]

    def vjp(self, cotangents, raw=False):
        self.p.backward_calls += 1
        grads = self.tape.gradient(self.outputs, self.targets(), output_gradients=cotangents,
                                   unconnected_gradients=tf.UnconnectedGradients.NONE)
        return grads if raw else [None if g is None else _dense(g) for g in grads]


def _find_variables(problem: Problem, tape) -> None:
    known = {id(s.var) for s in problem.sources if s.var is not None}
    for v in sorted(tape.watched_variables(), key=lambda v: v.name):
        if id(v) not in known and v.dtype.is_floating:
            problem.sources.append(Source(v.name, "variable", var=v, value=tf.identity(v)))
            known.add(id(v))


# ---------------------------------------------------------------------------------------------------
# Tolerances.


class Tol:
    def __init__(self, ref_dtype, caller_dtypes, atol, rtol, eps):
        self.ref_dtype = ref_dtype
        self.eps_eval = eps_of(ref_dtype)
        self.atol = 0.0 if atol is None else float(atol)
        self.rtol = RTOL_REFERENCE.get(ref_dtype, 1e-3) if rtol is None else float(rtol)
        self.step_rel = self.eps_eval ** (1.0 / 3.0)
        self.eps_abs = eps  # user-given absolute step, or None
        self.user_rtol = rtol is not None
        self.caller_dtypes = caller_dtypes

    def step(self, source: Source) -> float:
        return float(self.eps_abs) if self.eps_abs is not None else self.step_rel * source.scale

    def text(self, S=None) -> str:
        scale = f" x scale {S:.3g}" if S is not None else ""
        return f"atol {self.atol:g}, rtol {self.rtol:g}{scale}"


# ---------------------------------------------------------------------------------------------------
# The check.


class Checker:
    def __init__(self, fn, args, kwargs, *, mode, atol, rtol, eps, seed, positional_only=False,
                 display=None, context_note=None, signature_of=None):
        if mode not in ("fast", "full"):
            raise ValueError(f"mode must be 'fast' or 'full', got {mode!r}")
        if not tf.executing_eagerly():
            raise RuntimeError("check_gradients runs eagerly: call it outside tf.function")
        self.p = Problem(fn, args, kwargs, positional_only, display, signature_of)
        self.mode = mode
        self.seed = 0 if seed is None else int(seed)
        self.atol, self.rtol, self.eps = atol, rtol, eps
        self.context_note = context_note
        self.errors: dict[int, list] = {}  # source index -> [max abs, max rel]
        self.estimators: list = []

    # -- messages ------------------------------------------------------------------------------------
    def _fail(self, cls, text: str):
        extra = f"\n  ({self.context_note})" if self.context_note else ""
        raise cls(f"{self.p.where}: {text}{extra}")

    # -- entry -----------------------------------------------------------------------------------------
    def run(self) -> GradientReport:
        from . import _hook

        from tensorflow.python.eager import context

        scope = context.context().device_name or ""
        dev = scope or next((s.value.device for s in self.p.sources if s.value.device), "")
        with raised("in_check"), tf.device(dev or None):
            with _hook.contract_scope(collect=self.estimators):
                caller = Space(self.p, upcast=False)
                tape = caller.forward_with_tape()
            _find_variables(self.p, tape)
            self.device = short_device(dev or (caller.outputs[0].device if caller.outputs else ""))
            if not caller.outputs:
                self._fail(GradientContractError, "returns no floating-point tensor: nothing to differentiate")
            if not self.p.sources:
                self._fail(GradientContractError,
                           "has no floating-point tensor argument and reads no trainable variable: "
                           "nothing to differentiate")
            self.v = [_rand(o.shape, self.seed, ("v", i)) for i, o in enumerate(caller.outputs)]
            self.v_caller = [tf.cast(v, o.dtype) for v, o in zip(self.v, caller.outputs)]
            self.v = [_f64(v) for v in self.v_caller]  # the exact values the caller pass used
            with _hook.contract_scope(collect=self.estimators):
                g = self._caller_gradients(caller)
            self.caller_g_first = g
            estimators = [e for e in self.estimators if not e[2]]
            if estimators:
                names = ", ".join(f"`{n}` ({loc})" for n, loc, _ in estimators[:3])
                self.p.notes.append(f"values not checked: uses intentional estimator {names} (numeric=False)")
                return self._report("contracts", "n/a", checked=False)
            self._semantic(caller, g)
            if self.mode == "full":
                self._full_semantic(caller)
            ref = self._reference(caller, g)
            try:
                self._forward_determinism(caller, ref)
                if self.mode == "fast":
                    self._fast(ref, g)
                else:
                    self._full(caller, ref, g)
            finally:
                ref.restore()
                caller.restore()
            return self._report(self.mode, self.tol.ref_dtype.name)

    def _report(self, mode, ref_name, checked=True) -> GradientReport:
        nan = float("nan")
        srcs = tuple(
            SourceReport(s.name, s.kind, s.shape, s.dtype.name,
                         *(self.errors.get(k, [0.0, 0.0]) if checked else [nan, nan]),
                         self.device, self.p.evaluations, mode)
            for k, s in enumerate(self.p.sources))
        return GradientReport(self.p.name, self.p.location, mode, self.device, self.p.evaluations,
                              self.p.backward_calls, ref_name, self.seed, srcs, tuple(dict.fromkeys(self.p.notes)))

    def _note_error(self, k, abs_err, rel_err):
        e = self.errors.setdefault(k, [0.0, 0.0])
        e[0] = max(e[0], abs_err)
        e[1] = max(e[1], rel_err)

    # -- contracts and semantics in the caller's dtype -------------------------------------------------
    def _caller_gradients(self, caller: Space):
        raw = caller.vjp(self.v_caller, raw=True)
        g = []
        for s, gr in zip(self.p.sources, raw):
            _contracts.check_leaf(self.p.where, s.what, (s.dtype, tf.TensorShape(s.shape)), gr)
            g.append(None if gr is None else _dense(gr))
        return g

    def _semantic(self, caller: Space, g):
        """Linearity in the upstream gradient, determinism and zero-in-zero-out, before any differences."""
        g2 = caller.vjp([-2 * v for v in self.v_caller])
        worst, worst_k = 0.0, None
        for k, (a, b) in enumerate(zip(g, g2)):
            if a is None and b is None:
                continue
            if (a is None) != (b is None):
                worst, worst_k = float("inf"), k
                break
            a64, b64 = _f64(a), _f64(b)
            ok = tf.math.is_finite(a64) & tf.math.is_finite(b64)
            diff = float(tf.reduce_max(tf.where(ok, tf.abs(b64 + 2 * a64), 0.0))) if a64.shape.num_elements() else 0.0
            size = float(tf.reduce_max(tf.where(ok, tf.abs(2 * a64), 0.0))) if a64.shape.num_elements() else 0.0
            rel = diff / size if size > 0 else (float("inf") if diff > 0 else 0.0)
            if rel > 64 * eps_of(a.dtype) and rel > worst:
                worst, worst_k = rel, k
        if worst_k is None:
            return
        # Something is off: tell nondeterminism, a constant term and nonlinearity apart.
        g1b = caller.vjp(self.v_caller)
        for k, (a, b) in enumerate(zip(g, g1b)):
            if a is None or b is None:
                continue
            d = float(tf.reduce_max(tf.abs(_f64(a) - _f64(b)))) if a.shape.num_elements() else 0.0
            if d > 0:
                size = float(tf.reduce_max(tf.abs(_f64(a))))
                if d <= 1e3 * eps_of(a.dtype) * size:
                    self.p.notes.append(
                        f"backward is slightly nondeterministic for {self.p.sources[k].what} (max difference "
                        f"{d:.3g}); tolerated. tf.config.experimental.enable_op_determinism() makes it exact")
                    return
                self._fail(NondeterminismError,
                           f"the backward pass is not deterministic: two backward passes with the same input "
                           f"and upstream gradient differ by up to {d:.3g} in the gradient for "
                           f"{self.p.sources[k].what} (max |grad| {size:.3g}). This is not a wrong gradient, "
                           "but it cannot be checked as is: call "
                           "tf.config.experimental.enable_op_determinism() (and set seeds) before the check.")
        g0 = caller.vjp([tf.zeros_like(v) for v in self.v_caller])
        for k, z in enumerate(g0):
            if z is None:
                continue
            zmax = float(tf.reduce_max(tf.abs(_f64(z)))) if z.shape.num_elements() else 0.0
            if zmax > 0:
                self._fail(GradientCheckError,
                           f"with a zero upstream gradient the gradient for {self.p.sources[k].what} is not zero "
                           f"(max |grad| = {zmax:.6g}): the gradient function adds a term that does not depend "
                           "on the upstream gradient `dy` (or ignores `dy`). Multiply every term by `dy`.")
        s = self.p.sources[worst_k]
        self._fail(GradientCheckError,
                   f"the gradient for {s.what} is not linear in the upstream gradient: grad(-2 dy) != "
                   f"-2 grad(dy) (relative difference {worst:.3g}). A gradient is a linear map of `dy`; "
                   "if this is an intentional estimator (clipped or noisy gradients), declare it with "
                   "tapelint.runtime.custom_gradient(numeric=False).")

    # -- the reference space -----------------------------------------------------------------------------
    def _reference(self, caller: Space, g) -> Space:
        callers = {s.dtype for s in self.p.sources} | {o.dtype for o in caller.outputs}
        ref = caller
        if callers != {tf.float64}:
            ref = self._try_float64(caller)
        if ref is caller:
            self.r = [None if x is None else _f64(x) for x in g]
            ref_dtype = tf.float64 if callers == {tf.float64} else max(
                (s.dtype for s in self.p.sources), key=lambda d: eps_of(d))  # the least precise one
            if callers != {tf.float64}:
                self.p.notes.append("function does not accept float64: finite differences in the caller's dtype")
        else:
            ref_dtype = tf.float64
        self.tol = Tol(ref_dtype, callers, self.atol, self.rtol, self.eps)
        self.caller_g = g
        return ref

    def _try_float64(self, caller: Space):
        vars_ = [s.var for s in self.p.sources if s.var is not None]
        stack = contextlib.ExitStack()
        try:
            stack.enter_context(_swapped_to_float64(vars_))
            ref = Space(self.p, upcast=True)
            from . import _hook

            with _hook.contracts_suppressed():
                ref.forward_with_tape()
                if len(ref.outputs) != len(caller.outputs) or any(
                        o.dtype != tf.float64 or o.shape != c.shape for o, c in zip(ref.outputs, caller.outputs)):
                    raise TypeError("outputs are not float64")
                r = ref.vjp(self.v)
            for s, x in zip(self.p.sources, r):
                if x is not None and (x.dtype != tf.float64 or tuple(x.shape) != s.shape):
                    raise TypeError("gradient is not float64")
            self.r = r
            ref.stack = stack
            return ref
        except Exception:  # noqa: BLE001 - any failure in float64 means: use the caller's dtype
            stack.close()
            return caller

    def _forward_determinism(self, caller: Space, ref: Space):
        """Two evaluations at the same input must agree; a random forward cannot be checked."""
        if ref is not caller:
            gap = max(float(tf.reduce_max(tf.abs(_f64(a) - b))) if a.shape.num_elements() else 0.0
                      for a, b in zip(caller.outputs, ref.outputs))
            size = max(float(tf.reduce_max(tf.abs(b))) if b.shape.num_elements() else 0.0 for b in ref.outputs)
            if gap <= 1e-2 * size:
                return  # agrees with an independent evaluation in another dtype
            y1, y2 = ref.outputs_at(), ref.outputs_at()
        else:
            y1, y2 = caller.outputs, caller.outputs_at()
        for i, (a, b) in enumerate(zip(y1, y2)):
            same = bool(tf.reduce_all((a == b) | (tf.math.is_nan(a) & tf.math.is_nan(b))))
            if not same:
                d = float(tf.reduce_max(tf.abs(_f64(a) - _f64(b))))
                self._fail(NondeterminismError,
                           f"the forward pass is not deterministic: two calls with the same input differ "
                           f"(output {i}, max difference {d:.3g}). Random ops (dropout, noise) must be off "
                           "(training=False) or seeded; the gradient is not checked.")

    # -- fast mode ---------------------------------------------------------------------------------------
    def _phi(self, outputs) -> float:
        return float(sum(tf.reduce_sum(_f64(o) * v) for o, v in zip(outputs, self.v)))

    def _phi_l1(self, outputs) -> float:
        return float(sum(tf.reduce_sum(tf.abs(_f64(o) * v)) for o, v in zip(outputs, self.v)))

    def _fd(self, ref: Space, k, w, h):
        """Central difference of phi along w at step h; returns (D, a_eff-direction, plus/minus outputs)."""
        s = self.p.sources[k]
        xp, xm = s.x64 + h * w, s.x64 - h * w
        yp, ym = ref.outputs_at(k, xp), ref.outputs_at(k, xm)
        w_eff = (ref.fed(k, xp) - ref.fed(k, xm)) / (2 * h)  # the step the function really saw
        return (self._phi(yp) - self._phi(ym)) / (2 * h), w_eff, yp, ym

    def _floor(self, yp, ym, h, S) -> float:
        t = self.tol
        eval_floor = _C_FLOOR * t.eps_eval * (self._phi_l1(yp) + self._phi_l1(ym)) / (2 * h)
        return eval_floor + _C_ANALYTIC * t.eps_eval * S

    def _fast(self, ref: Space, g):
        for k, s in enumerate(self.p.sources):
            r = self.r[k]
            if s.size == 0:
                continue
            n_dirs = 2 if s.size <= FAST_TWO_DIRECTIONS_MAX else 1
            for d in range(n_dirs):
                w = _rand(s.shape, self.seed, ("u", k, d))
                if d == 0 and r is not None:
                    peak = float(tf.reduce_max(tf.abs(r)))
                    if peak > 0 and _finite(peak):
                        w = w + r / peak  # gradient-aligned part: a scaled gradient cannot cancel out
                self._direction(ref, k, w, d)

    def _direction(self, ref: Space, k, w, d, masked=()):
        s = self.p.sources[k]
        r = self.r[k]
        h = self.tol.step(s)
        D, w_eff, yp, ym = self._fd(ref, k, w, h)
        a = _dot(r, w_eff) if r is not None else 0.0
        err = abs(a - D)
        t = self.tol
        if _finite(err) and err <= t.atol + t.rtol * max(abs(a), abs(D)):
            self._record_direction(k, a, D, err, w_eff)
            return
        S = float(tf.reduce_sum(tf.abs(r * w_eff))) if r is not None else 0.0
        tol = t.atol + t.rtol * S + self._floor(yp, ym, h, S)
        if r is None and abs(D) > tol:
            self._missing(k, f"d<v, f>/du = {D:.6g} along a random direction u")
        if not _finite(a) and _finite(D):
            self._nonfinite(k, r)
        if _finite(err) and err <= tol:
            self._record_direction(k, a, D, err, w_eff)
            return
        self._diagnose(ref, k, w, h, a, D, tol, S, d)

    def _record_direction(self, k, a, D, err, w_eff):
        self._note_error(k, err, err / max(abs(a), abs(D), 1e-300))
        self._consistency(k, w_eff)

    def _consistency(self, k, w):
        """The caller-dtype gradient must agree with the float64 one (overflow, dtype-specific code)."""
        s = self.p.sources[k]
        gc, r = self.caller_g[k], self.r[k]
        if self.tol.ref_dtype != tf.float64 or s.dtype == tf.float64 or gc is None or r is None:
            return
        gc64 = _f64(gc)
        ac, ar = _dot(gc64, w), _dot(r, w)
        if not _finite(ac) and _finite(ar):
            bad = tf.where(~tf.math.is_finite(gc64))
            idx = s.label(int(np.ravel_multi_index(bad[0].numpy(), s.shape))) if s.shape else s.name
            self._fail(GradientCheckError,
                       f"the {s.dtype.name} gradient for {s.what} is not finite (e.g. at {idx}: "
                       f"{float(tf.reshape(gc64, [-1])[int(np.ravel_multi_index(bad[0].numpy(), s.shape)) if s.shape else 0]):g}) "
                       f"where the float64 gradient is finite: an overflow or 0/0 in {s.dtype.name}; "
                       "compute it in a numerically stable form.")
        Sc = float(tf.reduce_sum(tf.abs(gc64 * w)))
        rt = RTOL_CONSISTENCY.get(s.dtype, 1e-3)
        tol = rt * Sc + _C_ANALYTIC * eps_of(s.dtype) * Sc
        if abs(ac - ar) > tol:
            self._fail(GradientCheckError,
                       f"the {s.dtype.name} gradient for {s.what} disagrees with the same gradient computed in "
                       f"float64: <grad, u> = {ac:.8g} ({s.dtype.name}) vs {ar:.8g} (float64), difference "
                       f"{abs(ac - ar):.3g} > tolerance {tol:.3g} (rtol {rt:g} x scale {Sc:.3g}). The gradient "
                       f"function behaves differently in {s.dtype.name} (dtype-specific code or precision loss).")

    def _missing(self, k, evidence):
        s = self.p.sources[k]
        hint = ""
        if s.kind == "keyword argument":
            hint = (" Tensors passed by keyword to a tf.custom_gradient function get no gradient in eager mode: "
                    "pass it positionally.")
        elif s.kind == "variable":
            hint = " The optimizer will silently skip this variable."
        self._fail(GradientContractError,
                   f"no gradient (None) for {s.what}, but the output depends on it (numerically {evidence}).{hint}")

    def _nonfinite(self, k, r):
        s = self.p.sources[k]
        self._fail(GradientCheckError,
                   f"the gradient for {s.what} is not finite where the function and its finite differences are "
                   f"(max |grad| = {float(tf.reduce_max(tf.abs(r))):g}).")

    # -- diagnosis of a mismatch (fast mode) ------------------------------------------------------------
    def _diagnose(self, ref: Space, k, w, h, a, D1, tol, S, d):
        s = self.p.sources[k]
        p0 = self._phi(ref.outputs_at())
        p0b = self._phi(ref.outputs_at())
        if p0 != p0b and abs(p0 - p0b) / (2 * h) > 0.1 * tol:
            self._fail(NondeterminismError,
                       f"the forward pass is not deterministic: <v, f(x)> is {p0!r} then {p0b!r} at the same "
                       "input, so finite differences are meaningless. Random ops (dropout, noise) must be off "
                       "or seeded; the gradient is not checked.")
        D1b, _, y1p, y1m = self._fd(ref, k, w, h)
        D2, _, y2p, y2m = self._fd(ref, k, w, h / 2)
        D0, _, _, _ = self._fd(ref, k, w, 2 * h)
        p1p, p1m, p2p, p2m = (self._phi(y) for y in (y1p, y1m, y2p, y2m))
        F1, B1 = (p1p - p0) / h, (p0 - p1m) / h
        F2, B2 = (p2p - p0) / (h / 2), (p0 - p2m) / (h / 2)
        noise = 8 * tol
        jump = abs(2 * (F2 - B2) - (F1 - B1))
        e1, e0 = D1 - D2, D0 - D1
        converges = abs(e0 - 4 * e1) <= noise
        kink = jump > noise or not converges
        if not kink:
            R = D2 + (D2 - D1) / 3  # Richardson: the truncation error cancels to O(h^4)
            err = abs(a - R)
            if err <= tol + abs(e1):
                self._note_error(k, err, err / max(abs(a), abs(R), 1e-300))
                _, w_eff, _, _ = self._fd(ref, k, w, h)
                self._consistency(k, w_eff)
                return
            self._wrong(ref, k, w, h, a, R, tol, S, d,
                        extra=f"finite differences agree across steps h/2, h, 2h ({D2:.8g}, {D1:.8g}, {D0:.8g})")
        # A kink: find the coordinates responsible and leave them out.
        bracket = (min(F1, B1, F2, B2, D0, D1, D2), max(F1, B1, F2, B2, D0, D1, D2))
        kinks = []
        wk = w
        for _ in range(MAX_KINKS):
            j = self._bisect(ref, k, wk, h)
            verdict = self._coordinate_kink(ref, k, j, h, p0)
            if verdict is not True:
                self._wrong(ref, k, wk, h, a, D1, tol, S, d, worst=j,
                            extra=f"finite differences disagree between steps (a non-differentiable point near "
                                  f"the input?), but {s.label(j)} is smooth and its gradient is off")
            kinks.append(j)
            mask = tf.tensor_scatter_nd_update(tf.ones([s.size], tf.float64), [[j]], [0.0])
            wk = wk * tf.reshape(mask, s.shape)
            Dm, w_eff, yp, ym = self._fd(ref, k, wk, h)
            am = _dot(self.r[k], w_eff) if self.r[k] is not None else 0.0
            Sm = float(tf.reduce_sum(tf.abs(self.r[k] * w_eff))) if self.r[k] is not None else 0.0
            tolm = self.tol.atol + self.tol.rtol * Sm + self._floor(yp, ym, h, Sm)
            if abs(am - Dm) <= tolm:
                self._note_error(k, abs(am - Dm), abs(am - Dm) / max(abs(am), abs(Dm), 1e-300))
                self.p.notes.append(
                    f"non-differentiable point(s) at {', '.join(s.label(i) for i in kinks)}: left out of the "
                    "comparison (one-sided derivatives differ there)")
                self._consistency(k, w_eff)
                return
        labels = ", ".join(s.label(i) for i in kinks)
        if bracket[0] - tol <= a <= bracket[1] + tol:
            self.p.notes.append(f"inconclusive for {s.what}: more than {MAX_KINKS} non-differentiable points "
                                f"({labels}, ...); the gradient lies within the one-sided derivatives")
            return
        self._fail(GradientCheckError,
                   f"likely non-differentiable point near the input for {s.what}: finite differences at steps "
                   f"2h, h, h/2 disagree ({D0:.8g}, {D1:.8g}, {D2:.8g}; h = {h:.3g}) and one-sided derivatives "
                   f"differ (jump {jump:.3g}) at {labels} and more; the analytical value {a:.8g} lies outside "
                   f"all of them [{bracket[0]:.8g}, {bracket[1]:.8g}], so the gradient may also be wrong. "
                   "Check away from kinks (ReLU at 0, ties in max/sort, floor).")

    def _partial(self, ref: Space, k, j, h, p0=None):
        """Numerical d phi / d x_j (central), and the one-sided ones when p0 is given."""
        s = self.p.sources[k]
        e = tf.reshape(tf.one_hot(j, s.size, dtype=tf.float64), s.shape)
        xp, xm = s.x64 + h * e, s.x64 - h * e
        yp, ym = ref.outputs_at(k, xp), ref.outputs_at(k, xm)
        hp = float(tf.reshape(ref.fed(k, xp) - s.x64, [-1])[j])
        hm = float(tf.reshape(s.x64 - ref.fed(k, xm), [-1])[j])
        pp, pm = self._phi(yp), self._phi(ym)
        central = (pp - pm) / (hp + hm) if hp + hm > 0 else float("nan")
        if p0 is None:
            return central, yp, ym, hp + hm
        return central, (pp - p0) / hp, (p0 - pm) / hm, yp, ym

    def _coordinate_kink(self, ref: Space, k, j, h, p0):
        """True if one-sided derivatives along x_j differ and the analytical value lies between them."""
        _, F, B, yp, ym = self._partial(ref, k, j, h, p0)
        rj = float(tf.reshape(self.r[k], [-1])[j]) if self.r[k] is not None else 0.0
        floor = _C_FLOOR * self.tol.eps_eval * (self._phi_l1(yp) + self._phi_l1(ym)) / h
        spread = abs(F - B)
        if spread <= 1e-3 * (abs(F) + abs(B)) + floor:
            return False
        margin = 1e-3 * (abs(F) + abs(B)) + floor + self.tol.rtol * abs(rj)
        return min(F, B) - margin <= rj <= max(F, B) + margin

    def _bisect(self, ref: Space, k, w, h) -> int:
        """The coordinate with the largest discrepancy <r, w_S> - D_S (both are additive over S)."""
        s = self.p.sources[k]
        flat_w = tf.reshape(w, [-1])
        r = tf.reshape(self.r[k], [-1]) if self.r[k] is not None else tf.zeros([s.size], tf.float64)

        def disc(lo, hi):
            m = tf.pad(tf.ones([hi - lo], tf.float64), [[lo, s.size - hi]])
            wS = tf.reshape(flat_w * m, s.shape)
            D, w_eff, _, _ = self._fd(ref, k, wS, h)
            return _dot(tf.reshape(r, s.shape), w_eff) - D

        lo, hi = 0, s.size
        total = disc(lo, hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            left = disc(lo, mid)
            right = total - left
            if abs(left) >= abs(right):
                hi, total = mid, left
            else:
                lo, total = mid, right
        return lo

    def _wrong(self, ref: Space, k, w, h, a, D, tol, S, d, worst=None, extra=""):
        s = self.p.sources[k]
        if worst is None:
            worst = self._bisect(ref, k, w, h)
        lines = [
            f"wrong gradient for {s.what} (shape {list(s.shape)}, {s.dtype.name}):",
            f"  directional derivative v^T J u along direction #{d} (seed {self.seed}: u = "
            f"{'random + gradient-aligned' if d == 0 else 'random'}, v random):",
            f"    analytical {a:.10g}   numerical {D:.10g}   (central differences in "
            f"{self.tol.ref_dtype.name}, step {h:.3g})",
            f"    |difference| {abs(a - D):.3g} > tolerance {tol:.3g} ({self.tol.text(S)} + rounding floor)",
        ]
        if extra:
            lines.append(f"    {extra}")
        lines.append(f"  worst coordinate: {s.label(worst)}")
        lines.extend(self._block(ref, k, worst, h))
        lines.append(_hint(abs(D), abs(a)))
        self._fail(GradientCheckError, "\n".join(lines))

    def _block(self, ref: Space, k, j, h):
        """A bounded block around coordinate j: numerical vs analytical partial derivatives."""
        s = self.p.sources[k]
        lo = max(0, min(j - _BLOCK // 2, s.size - _BLOCK))
        cols = list(range(lo, min(s.size, lo + _BLOCK)))
        m_out = sum(int(np.prod(o.shape)) for o in ref.outputs)
        r = tf.reshape(self.r[k], [-1]).numpy() if self.r[k] is not None else np.zeros(s.size)
        x = tf.reshape(s.x64, [-1]).numpy()
        if m_out <= 16:
            # Small output: the real Jacobian block (numerical columns, analytical rows).
            num_cols, rows = [], []
            for c in cols:
                _, yp, ym, span = self._partial(ref, k, c, h)
                num_cols.append(np.concatenate([(_f64(p) - _f64(q)).numpy().ravel() / span
                                                for p, q in zip(yp, ym)]))
            numerical = np.stack(num_cols, axis=1)
            for i in range(m_out):
                cot, off = [], 0
                for o in ref.outputs:
                    n = int(np.prod(o.shape))
                    cot.append(tf.cast(tf.reshape(tf.one_hot(i - off, n, dtype=tf.float64)
                                                  if off <= i < off + n else tf.zeros([n], tf.float64),
                                                  o.shape), o.dtype))
                    off += n
                gi = ref.vjp(cot)[k]
                rows.append(np.zeros(s.size) if gi is None else _f64(gi).numpy().ravel())
            analytical = np.stack(rows)[:, cols]
            order = np.argsort(-np.abs(numerical - analytical).max(axis=1))[:4]
            out = ["  Jacobian block d out[i] / d " + s.name + "[j] (numerical | analytical):"]
            for i in sorted(order):
                cells = "  ".join(f"{s.label(c)}: {numerical[i, n]:+.6g} | {analytical[i, n]:+.6g}"
                                  for n, c in enumerate(cols))
                out.append(f"    out[{i}]  {cells}")
            return out
        out = [f"  d<v, f>/d{s.name}[j] around the worst coordinate (v-weighted Jacobian row):",
               f"    {'index':<16}{'input':>14}{'numerical':>16}{'analytical':>16}"]
        for c in cols:
            num, _, _, _ = self._partial(ref, k, c, h)
            mark = "  <-- worst" if c == j else ""
            out.append(f"    {s.label(c):<16}{x[c]:>14.6g}{num:>16.8g}{r[c]:>16.8g}{mark}")
        return out

    # -- full mode ---------------------------------------------------------------------------------------
    def _full(self, caller: Space, ref: Space, g):
        n_in = sum(s.size for s in self.p.sources)
        m_out = sum(int(np.prod(o.shape)) for o in ref.outputs)
        if n_in * m_out > FULL_MAX_ENTRIES or n_in > FULL_MAX_INPUTS:
            raise ValueError(
                f"{self.p.where}: full mode builds the whole {m_out} x {n_in} Jacobian ({m_out * n_in:,} "
                f"entries), more than the limit of {FULL_MAX_ENTRIES:,} entries / {FULL_MAX_INPUTS:,} inputs; "
                "use mode='fast' (random directional derivatives, cost independent of the size).")
        J_an = self._analytic_jacobian(ref, m_out)
        for k, s in enumerate(self.p.sources):
            if s.size == 0:
                continue
            self._full_source(ref, k, J_an[k], m_out)
            self._consistency(k, _rand(s.shape, self.seed, ("u", k, 0)) + (
                self.r[k] / max(float(tf.reduce_max(tf.abs(self.r[k]))), 1e-300) if self.r[k] is not None else 0))

    def _full_semantic(self, caller: Space):
        """Explicit determinism and zero-in-zero-out checks (fast mode runs them only when needed)."""
        again = caller.vjp(self.v_caller)
        for k, (a, b) in enumerate(zip(self.caller_g_first, again)):
            if a is not None and b is not None and not bool(tf.reduce_all(_f64(a) == _f64(b))):
                d = float(tf.reduce_max(tf.abs(_f64(a) - _f64(b))))
                if d <= 1e3 * eps_of(a.dtype) * float(tf.reduce_max(tf.abs(_f64(a)))):
                    continue  # tiny (atomics on a GPU): tolerated, as in fast mode
                self._fail(NondeterminismError,
                           f"the backward pass is not deterministic: two backward passes with the same input and "
                           f"upstream gradient differ by up to {d:.3g} for {self.p.sources[k].what}. This is not a "
                           "wrong gradient, but it cannot be checked as is: call "
                           "tf.config.experimental.enable_op_determinism() (and set seeds) before the check.")
        zero = caller.vjp([tf.zeros_like(v) for v in self.v_caller])
        for k, z in enumerate(zero):
            if z is not None and z.shape.num_elements() and float(tf.reduce_max(tf.abs(_f64(z)))) > 0:
                self._fail(GradientCheckError,
                           f"with a zero upstream gradient the gradient for {self.p.sources[k].what} is not zero "
                           f"(max |grad| = {float(tf.reduce_max(tf.abs(_f64(z)))):.6g}): the gradient function "
                           "adds a term that does not depend on the upstream gradient `dy` (or ignores `dy`).")

    def _analytic_jacobian(self, ref: Space, m_out):
        rows = [[] for _ in self.p.sources]
        for i in range(m_out):
            cot, off = [], 0
            for o in ref.outputs:
                n = int(np.prod(o.shape))
                onehot = tf.one_hot(i - off, n, dtype=o.dtype) if off <= i < off + n else tf.zeros([n], o.dtype)
                cot.append(tf.reshape(onehot, o.shape))
                off += n
            grads = ref.vjp(cot)
            for k, (s, gk) in enumerate(zip(self.p.sources, grads)):
                rows[k].append(np.zeros(s.size) if gk is None else _f64(gk).numpy().ravel())
        return [np.stack(r) if r else np.zeros((0, s.size)) for r, s in zip(rows, self.p.sources)]

    def _columns(self, ref: Space, k, h):
        """Numerical outputs at x +- h e_j, x +- h/2 e_j for every j: arrays [size, m_out] (and steps)."""
        s = self.p.sources[k]
        res = {t: ([], []) for t in (h, h / 2)}
        steps = {t: ([], []) for t in (h, h / 2)}
        x_flat = tf.reshape(s.x64, [-1])
        for j in range(s.size):
            for t in (h, h / 2):
                for sign, bucket in ((1, 0), (-1, 1)):
                    xv = tf.tensor_scatter_nd_add(x_flat, [[j]], [sign * t])
                    xv = tf.reshape(xv, s.shape)
                    ys = ref.outputs_at(k, xv)
                    res[t][bucket].append(np.concatenate([_f64(y).numpy().ravel() for y in ys]))
                    steps[t][bucket].append(abs(float(tf.reshape(ref.fed(k, xv) - s.x64, [-1])[j])))
        return {t: (np.stack(res[t][0]), np.stack(res[t][1]), np.array(steps[t][0]), np.array(steps[t][1]))
                for t in res}

    def _full_source(self, ref: Space, k, J_an, m_out):
        s = self.p.sources[k]
        h = self.tol.step(s)
        y0 = np.concatenate([_f64(y).numpy().ravel() for y in ref.outputs_at()])
        cols = self._columns(ref, k, h)
        (p1, m1, hp1, hm1), (p2, m2, hp2, hm2) = cols[h], cols[h / 2]
        # [m_out, size] matrices
        D1 = ((p1 - m1) / (hp1 + hm1)[:, None]).T
        D2 = ((p2 - m2) / (hp2 + hm2)[:, None]).T
        F1, B1 = ((p1 - y0) / hp1[:, None]).T, ((y0 - m1) / hm1[:, None]).T
        F2, B2 = ((p2 - y0) / hp2[:, None]).T, ((y0 - m2) / hm2[:, None]).T
        R = D2 + (D2 - D1) / 3
        t = self.tol
        if self.r[k] is None and np.any(np.abs(R) > _C_FLOOR * t.eps_eval * (np.abs(p2) + np.abs(m2)).T.max()
                                        / (hp2 + hm2).min() + t.rtol * np.abs(R).max() + t.atol):
            i, j = np.unravel_index(int(np.argmax(np.abs(R))), R.shape)
            self._missing(k, f"d out[{i}] / d {s.label(j)} = {R[i, j]:.6g}")
        ymag = (np.abs(p2) + np.abs(m2)).T  # [m_out, size]
        floor = _C_FLOOR * t.eps_eval * ymag / (hp2 + hm2)[None, :] + _C_ANALYTIC * t.eps_eval * (
            np.abs(J_an).max(axis=1, keepdims=True) if J_an.size else 0.0)
        tol = t.atol + t.rtol * np.maximum(np.abs(J_an), np.abs(R)) + floor + np.abs(D1 - D2) / 3
        err = np.abs(J_an - R)
        jump = np.abs(2 * (F2 - B2) - (F1 - B1))
        kink = (jump > 8 * tol) & (np.abs(F2 - B2) > 1e-3 * (np.abs(F2) + np.abs(B2)))
        lo = np.minimum.reduce([F1, B1, F2, B2]) - tol
        hi = np.maximum.reduce([F1, B1, F2, B2]) + tol
        kink_ok = kink & (J_an >= lo) & (J_an <= hi)
        bad = (err > tol) & ~kink_ok
        bad |= ~np.isfinite(J_an) & np.isfinite(R)
        checked = ~kink_ok
        if checked.any():
            rel = err / np.maximum(np.maximum(np.abs(J_an), np.abs(R)), floor + 1e-300)
            self._note_error(k, float(err[checked].max()), float(rel[checked].max()))
        else:
            self._note_error(k, 0.0, 0.0)
        kink_cols = sorted(set(np.nonzero(kink_ok)[1].tolist()))
        if kink_cols:
            self.p.notes.append(f"non-differentiable point(s) at {', '.join(s.label(c) for c in kink_cols[:8])}"
                                f"{' ...' if len(kink_cols) > 8 else ''}: entries there compared with one-sided "
                                "derivatives")
        if not bad.any():
            return
        ratio = np.where(bad, err / np.maximum(tol, 1e-300), -1)
        i, j = np.unravel_index(int(np.nanargmax(np.where(np.isfinite(ratio), ratio, np.inf))), ratio.shape)
        at_kink = bool(kink[i, j])
        r0, r1 = max(0, i - 1), min(m_out, max(0, i - 1) + 4)
        c0 = max(0, min(j - _BLOCK // 2, s.size - _BLOCK))
        c1 = min(s.size, c0 + _BLOCK)
        head = (f"likely non-differentiable point near the input at {s.label(j)} (one-sided derivatives differ), "
                f"and the gradient for {s.what} matches neither side"
                if at_kink else f"wrong gradient for {s.what} (shape {list(s.shape)}, {s.dtype.name})")
        lines = [
            head + ":",
            f"  worst entry d out[{i}] / d {s.label(j)}: analytical {J_an[i, j]:.10g}, numerical {R[i, j]:.10g} "
            f"(central differences in {t.ref_dtype.name}, steps {h:.3g} and {h / 2:.3g}, Richardson)",
            f"  |difference| {err[i, j]:.3g} > tolerance {tol[i, j]:.3g} ({t.text()} x |entry| + rounding floor)",
            f"  {int(bad.sum())} of {bad.size} entries disagree. Jacobian block, numerical | analytical:",
        ]
        for ii in range(r0, r1):
            cells = "  ".join(f"{R[ii, jj]:+.6g} | {J_an[ii, jj]:+.6g}" for jj in range(c0, c1))
            lines.append(f"    out[{ii}] {s.label(c0)}..{s.label(c1 - 1)}:  {cells}")
        lines.append(_hint(abs(R[i, j]), abs(J_an[i, j])))
        self._fail(GradientCheckError, "\n".join(lines))


def _hint(numerical: float, analytical: float) -> str:
    if numerical == 0 and analytical != 0:
        return ("  hint: the function is flat here but the gradient is not: if this is an intentional estimator "
                "(straight-through, clipped or noisy gradient), declare it with "
                "tapelint.runtime.custom_gradient(numeric=False).")
    return ("  hint: if this is an intentional estimator (straight-through, clipped or noisy gradient), declare it "
            "with tapelint.runtime.custom_gradient(numeric=False).")


def check(fn, args, kwargs, *, mode="fast", atol=None, rtol=None, eps=None, seed=None,
          positional_only=False, display=None, context_note=None, signature_of=None) -> GradientReport:
    return Checker(fn, args, kwargs, mode=mode, atol=atol, rtol=rtol, eps=eps, seed=seed,
                   positional_only=positional_only, display=display, context_note=context_note,
                   signature_of=signature_of).run()
