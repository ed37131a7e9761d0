"""The checker proper: contracts in the caller's dtype, then values against finite differences.

Vocabulary: a *source* is what gets differentiated (a floating-point tensor argument or a trainable
variable the function reads); ``v`` is a random cotangent for the outputs, so ``r = v^T J`` is one
backward pass; ``phi(x) = <v, f(x)>`` is the scalar whose finite differences are compared with
``<r, w>`` along a direction ``w`` (fast mode), or the whole Jacobian is compared entry by entry (full).
The finite differences run in float64 where the function accepts it (the "reference" space); the
caller's dtype is used for the contracts and for a consistency check of its own gradient.

The function always runs on the active device; the bookkeeping around it (dot products, directions)
runs in NumPy on a CPU or for small inputs, where a TensorFlow op per step would cost more than the
arithmetic, and in TensorFlow on the device otherwise.
"""

from __future__ import annotations

import contextlib
import functools
import math
import zlib

import numpy as np
import tensorflow as tf

from . import _contracts
from ._util import describe, eps_of, fmt_index, leaf_names, raised, short_device
from .errors import GradientCheckError, GradientContractError, NondeterminismError
from .report import GradientReport, SourceReport

FULL_MAX_ENTRIES = 10**6  # Jacobian entries (inputs x outputs) full mode accepts
FULL_MAX_INPUTS = 10**5  # input elements full mode accepts
FAST_TWO_DIRECTIONS_MAX = 2**12  # sources up to this size get a second, purely random direction
MAX_KINKS = 8  # non-differentiable coordinates left out of a direction, one by one
KINK_FALLBACK_MAX_INPUTS = 1024  # beyond MAX_KINKS, sources this small are compared entry by entry
NUMPY_MAX_ON_DEVICE = 2**16  # on an accelerator, bookkeeping in NumPy only up to this many elements
_BLOCK = 6  # columns shown around the worst coordinate
BATCH_MIN = 32  # full mode vectorizes (one traced call) from this many evaluations or Jacobian rows on
BATCH_ELEMENTS = 2**23  # input + output elements of one vectorized chunk (64 MiB in float64)
_RAND_BLOCK = 2**16  # random vectors are tiled from a block this long: O(1) generation cost
SAMPLE = 2**14  # screening tests (linearity, forward agreement) look at this many elements at most

# Default relative tolerances, keyed by the dtype the compared quantities were computed in.
RTOL_REFERENCE = {tf.float64: 1e-6, tf.float32: 1e-3, tf.float16: 3e-2, tf.bfloat16: 1e-1}
RTOL_CONSISTENCY = {tf.float32: 1e-3, tf.float16: 3e-2, tf.bfloat16: 1.5e-1}
_C_FLOOR = 32.0  # rounding-floor multiplier: evaluations are sums of many rounded terms
_C_ANALYTIC = 64.0


@contextlib.contextmanager
def _quiet_tensorflow_logger():
    """pfor traces a new tf.function per call, and TensorFlow warns about retracing: not the user's concern."""
    import logging

    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


class FullModeTooLarge(ValueError):
    """Full mode was asked for a Jacobian over its size limits."""


class _LowPrecision(Exception):
    """The function computes below its dtype's precision (e.g. casts to float32 inside)."""


def _dense(g, shape=None):
    """A dense tensor for a gradient; ``shape``: the source's, for an IndexedSlices without a dense shape
    (TensorFlow accepts those from a custom gradient, and optimizers apply them, but cannot convert them)."""
    if not isinstance(g, tf.IndexedSlices):
        return g
    if g.dense_shape is None and shape is not None and len(shape):
        rows = tf.math.unsorted_segment_sum(g.values, g.indices, shape[0])  # duplicates add up
        return tf.reshape(rows, shape)
    return tf.convert_to_tensor(g)


def _finite(x: float) -> bool:
    return math.isfinite(x)


def _stream_seed(seed: int, stream: tuple) -> list[int]:
    return [seed & 0xFFFFFFFF, zlib.crc32(repr(stream).encode())]


def _new_rand_block(seed: int, stream: tuple, n: int) -> np.ndarray:
    block = np.random.default_rng(_stream_seed(seed, stream)).uniform(-1.0, 1.0, n)
    block.flags.writeable = False
    return block


_small_rand_block = functools.lru_cache(maxsize=256)(_new_rand_block)  # up to 4096 values: 8 MiB at most
_large_rand_block = functools.lru_cache(maxsize=16)(_new_rand_block)  # up to _RAND_BLOCK values: 8 MiB


def _rand_block(seed: int, stream: tuple, n: int) -> np.ndarray:
    """``n`` uniform values in [-1, 1) of the stream, read-only. Remembered: a test suite asks for the same
    ones again and again (same seed, same shapes), and making a generator costs more than a small block."""
    return (_small_rand_block if n <= 4096 else _large_rand_block)(seed, stream, n)


_ALIGN = 64  # TensorFlow shares a NumPy array's buffer (no copy) when it is aligned to this many bytes


def _aligned_empty(n: int, dtype) -> np.ndarray:
    """A fresh 1-D array whose buffer TensorFlow can share without copying it."""
    item = np.dtype(dtype).itemsize
    buf = np.empty(n + _ALIGN // item, dtype)
    off = (-buf.ctypes.data % _ALIGN) // item
    return buf[off:off + n]


def _own_tensor(a: np.ndarray):
    """An eager tensor of ``a``, a fresh array nothing writes to afterwards: on the host it shares ``a``'s
    buffer where aligned (tf.constant always copies, twice for a misaligned array); elsewhere a copy."""
    from tensorflow.python.eager import context
    from tensorflow.python.framework import ops

    ctx = context.context()
    try:
        return ops.EagerTensor(a, ctx.device_name, None)  # what tf.constant does after its defensive copy
    except Exception:  # noqa: BLE001 - another TensorFlow: the public way
        return tf.constant(a)


# ---------------------------------------------------------------------------------------------------
# Array backends: the same small vocabulary over NumPy arrays and float64 tensors.


class NumpyOps:
    name = "numpy"

    @staticmethod
    def f64(t):
        # np.asarray views an eager tensor's buffer (.numpy() would copy it); nothing here writes to it.
        return np.asarray(t).astype(np.float64, copy=False)

    @staticmethod
    def view(t):
        """``t`` for dot products, without a copy where NumPy can: its float32/float64 buffer as is (a dot
        product with a float64 array is then exact and accumulates in float64), other dtypes in float64."""
        a = np.asarray(t)
        return a if a.dtype in (np.float32, np.float64) else a.astype(np.float64)

    @staticmethod
    def feed(a, dtype):
        return tf.constant(np.asarray(a).astype(dtype.as_numpy_dtype, copy=False))

    @staticmethod
    def rounded(a, dtype):
        return np.asarray(a).astype(dtype.as_numpy_dtype).astype(np.float64)

    # einsum, not np.dot: BLAS threads fight TensorFlow's thread pool (15 ms for a dot of 10^5 on 2 cores).
    @staticmethod
    def dot(a, b) -> float:
        return float(np.einsum("i,i->", np.ravel(a), np.ravel(b)))

    @staticmethod
    def l1(a, b) -> float:
        return float(np.einsum("i,i->", np.abs(np.ravel(a)), np.abs(np.ravel(b))))

    @staticmethod
    def amax(a) -> float:
        return max(float(np.max(a)), -float(np.min(a))) if np.size(a) else 0.0

    @staticmethod
    def sample(a):
        """A strided view of at most SAMPLE elements: for cheap screening tests at any size."""
        flat = np.ravel(a)
        return flat[:: -(-flat.size // SAMPLE)] if flat.size > SAMPLE else flat

    @staticmethod
    def rms(a) -> float:
        return math.sqrt(NumpyOps.dot(a, a) / np.size(a)) if np.size(a) else 0.0

    @staticmethod
    def rand(shape, seed, stream, dtype=np.float64):
        n = int(np.prod(shape)) if len(shape) else 1
        base = _rand_block(seed, stream, min(n, _RAND_BLOCK))
        return np.resize(base.astype(dtype), n).reshape(shape)

    @staticmethod
    def cotangent(shape, dtype, seed, stream):
        """A random cotangent in ``dtype`` (a tensor): rounded once, so every pass sees the same values.
        The values of ``rand(shape, seed, stream)``, tiled into an aligned buffer the tensor shares."""
        n = int(np.prod(shape)) if len(shape) else 1
        if n == 0:
            return tf.zeros(shape, dtype)
        block = NumpyOps.rand((min(n, _RAND_BLOCK),), seed, stream, dtype.as_numpy_dtype)
        out = _aligned_empty(n, block.dtype)
        whole = n - n % block.size
        out[:whole].reshape(-1, block.size)[:] = block
        out[whole:] = block[:n - whole]
        return _own_tensor(out.reshape(shape))

    @staticmethod
    def sign(a):
        return np.sign(a)

    @staticmethod
    def axpy(c, a, b):
        """``c * a + b`` with one temporary."""
        out = np.multiply(a, c)
        out += b
        return out

    @staticmethod
    def plus_rand(a, seed, stream):
        """``a`` (a fresh array) plus ``rand(a.shape, seed, stream)``, added block by block in place."""
        flat = a.reshape(-1)
        base = NumpyOps.rand((min(flat.size, _RAND_BLOCK),), seed, stream)
        for lo in range(0, flat.size, _RAND_BLOCK):
            flat[lo:lo + _RAND_BLOCK] += base[:flat.size - lo]
        return a

    @staticmethod
    def sign_step(r, g, x, h, seed, stream):
        """For the direction ``w = sign(r) + rand(r.shape, seed, stream)`` (the values of
        ``plus_rand(sign(r), seed, stream)``), without storing it: ``x + h w`` as a float64 tensor, ``<r, w>``
        and ``<g, w>`` (``g`` may be None). Block by block in the cache: one pass over the memory instead of
        six (sign, add, two dot products, scale, add) and no copy into TensorFlow."""
        rf, xf = np.ravel(r), np.ravel(x)
        gf = None if g is None else np.ravel(g)
        n = rf.size
        base = NumpyOps.rand((min(n, _RAND_BLOCK),), seed, stream)
        out = _aligned_empty(n, np.float64)
        w = np.empty(base.size)
        a = ag = 0.0
        for lo in range(0, n, _RAND_BLOCK):
            hi = min(n, lo + _RAND_BLOCK)
            wb = w[:hi - lo]
            np.sign(rf[lo:hi], out=wb)
            wb += base[:hi - lo]
            a += float(np.einsum("i,i->", rf[lo:hi], wb))
            if gf is not None:
                ag += float(np.einsum("i,i->", gf[lo:hi], wb))
            ob = out[lo:hi]
            np.multiply(wb, h, out=ob)
            ob += xf[lo:hi]
        return _own_tensor(out.reshape(np.shape(x))), a, (None if gf is None else ag)

    @staticmethod
    def masked(a, lo, hi):
        """``a`` with every flat element outside [lo, hi) set to zero."""
        flat = np.zeros(np.size(a))
        flat[lo:hi] = np.ravel(a)[lo:hi]
        return flat.reshape(np.shape(a))

    @staticmethod
    def unit(shape, j):
        e = np.zeros(int(np.prod(shape)) if len(shape) else 1)
        e[j] = 1.0
        return e.reshape(shape)

    @staticmethod
    def at(a, j) -> float:
        return float(np.ravel(a)[j])

    @staticmethod
    def numpy(a):
        return np.asarray(a)

    @staticmethod
    def finite_only(a):
        return np.where(np.isfinite(a), a, 0.0)

    @staticmethod
    def all_finite(a) -> bool:
        # One summing pass without a temporary (in the array's own dtype where NumPy sums it fast); an
        # overflowing sum of finite values only costs a rescan.
        a = np.asarray(a)
        total = np.sum(a) if a.dtype in (np.float32, np.float64) else np.sum(a, dtype=np.float64)
        return math.isfinite(float(total)) or bool(np.all(np.isfinite(a)))

    @staticmethod
    def identical(a, b) -> bool:
        return bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


class TensorOps:
    name = "tensorflow"

    @staticmethod
    def f64(t):
        return tf.cast(tf.convert_to_tensor(t), tf.float64)

    @staticmethod
    def view(t):
        return TensorOps.f64(t)  # TensorFlow's ops want one dtype

    @staticmethod
    def feed(a, dtype):
        return tf.cast(a, dtype)

    @staticmethod
    def rounded(a, dtype):
        return tf.cast(tf.cast(a, dtype), tf.float64)

    @staticmethod
    def dot(a, b) -> float:
        return float(tf.reduce_sum(a * b))

    @staticmethod
    def l1(a, b) -> float:
        return float(tf.reduce_sum(tf.abs(a * b)))

    @staticmethod
    def amax(a) -> float:
        return float(tf.reduce_max(tf.abs(a))) if a.shape.num_elements() else 0.0

    @staticmethod
    def sample(a):
        flat = tf.reshape(a, [-1])
        n = flat.shape.num_elements()
        return flat[:: -(-n // SAMPLE)] if n > SAMPLE else flat

    @staticmethod
    def rms(a) -> float:
        return float(tf.sqrt(tf.reduce_mean(tf.square(a)))) if a.shape.num_elements() else 0.0

    @staticmethod
    def cotangent(shape, dtype, seed, stream):
        return tf.cast(TensorOps.rand(shape, seed, stream), dtype)

    @staticmethod
    def rand(shape, seed, stream):
        return tf.constant(NumpyOps.rand(shape, seed, stream)) if int(np.prod(shape)) <= _RAND_BLOCK else (
            tf.reshape(tf.tile(tf.constant(NumpyOps.rand((_RAND_BLOCK,), seed, stream)),
                               [-(-int(np.prod(shape)) // _RAND_BLOCK)])[:int(np.prod(shape))], shape))

    @staticmethod
    def sign(a):
        return tf.sign(a)

    @staticmethod
    def axpy(c, a, b):
        return c * a + b

    @staticmethod
    def plus_rand(a, seed, stream):
        return a + TensorOps.rand(tuple(a.shape), seed, stream)

    @staticmethod
    def masked(a, lo, hi):
        n = a.shape.num_elements()
        m = tf.pad(tf.ones([hi - lo], tf.float64), [[lo, n - hi]])
        return tf.reshape(tf.reshape(a, [-1]) * m, a.shape)

    @staticmethod
    def unit(shape, j):
        return tf.reshape(tf.one_hot(j, int(np.prod(shape)) if len(shape) else 1, dtype=tf.float64), shape)

    @staticmethod
    def at(a, j) -> float:
        return float(tf.reshape(a, [-1])[j])

    @staticmethod
    def numpy(a):
        return a.numpy()

    @staticmethod
    def finite_only(a):
        return tf.where(tf.math.is_finite(a), a, tf.zeros_like(a))

    @staticmethod
    def all_finite(a) -> bool:
        return bool(tf.reduce_all(tf.math.is_finite(a)))

    @staticmethod
    def identical(a, b) -> bool:
        return bool(tf.reduce_all((a == b) | (tf.math.is_nan(a) & tf.math.is_nan(b))))


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

    def prepare(self, xp):
        self.value64 = tf.cast(self.value, tf.float64)  # also the float64 reference's input: one conversion
        self.x64 = xp.f64(self.value64)
        rms = xp.rms(xp.sample(self.x64))  # the step's scale: a sample estimates it well enough
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
        # Positional leaves only (the common case): called without re-packing a structure every time.
        self.flat = not kwargs and not any(tf.nest.is_nested(a) for a in args)
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
        self.evaluations += 1
        if self.flat:
            return self.fn(*leaves)
        args, kwargs = tf.nest.pack_sequence_as(self.structure, leaves)
        return self.fn(*args, **kwargs)


def _float_outputs(out):
    flat = [_dense(o) if isinstance(o, tf.IndexedSlices) else o for o in tf.nest.flatten(out)]
    return [o for o in flat if isinstance(o, tf.Tensor) and o.dtype.is_floating]


def _components(v):
    """The ResourceVariables behind ``v``: one per replica for a distributed (e.g. mirrored) variable."""
    if isinstance(v, tf.distribute.DistributedValues):
        return list(v.values)
    return [v]


@contextlib.contextmanager
def _swapped_to_float64(variables):
    """Make float32/16 ResourceVariables read as float64 copies, then restore them exactly.

    A distributed variable (MirroredStrategy) is swapped replica by replica: it reads its components. The
    copies are plain ResourceVariables on each component's device, made outside any distribution strategy's
    variable creator. tf.functions run eagerly meanwhile, so no trace captures the temporary float64 handles.
    """
    from tensorflow.python.ops import resource_variable_ops

    saved, keep = [], []
    eager_before = tf.config.functions_run_eagerly()
    try:
        for v in variables:
            for c in _components(v):
                # In the instance's own attributes: a wrapper that delegates attribute reads is no variable.
                if "_handle" not in vars(c) or "_dtype" not in vars(c):
                    raise TypeError(f"cannot upcast variable {v.name}")
                with tf.device(c.device or None):
                    t = resource_variable_ops.ResourceVariable(tf.cast(c.read_value(), tf.float64),
                                                               trainable=c.trainable)
                container = getattr(c._handle, "_distributed_container", None)
                if container is not None:  # tapes map a replica's reads back to its distributed variable
                    t._handle._distributed_container = container
                saved.append((c, c._handle, c._dtype, getattr(c, "_cached_value", None)))
                c._handle, c._dtype, c._cached_value = t._handle, t._dtype, None
                keep.append(t)
        if variables:
            tf.config.run_functions_eagerly(True)
        yield
    finally:
        for c, handle, dtype, cached in reversed(saved):
            c._handle, c._dtype, c._cached_value = handle, dtype, cached
        tf.config.run_functions_eagerly(eager_before)


class Space:
    """One dtype in which ``fn`` is evaluated and differentiated: the caller's, or float64."""

    def __init__(self, problem: Problem, upcast: bool, xp=None):
        self.p = problem
        self.upcast = upcast
        self.xp = xp
        self.tape = None
        self.outputs = None
        self.stack = None  # the float64 variable swap, closed by restore()
        self.current = {}  # source index -> value assigned to its variable (absent: the base value)
        leaves = list(problem.leaves)
        if upcast:  # every floating-point leaf in float64, once (a source's is its value64)
            own = {s.leaf_index: s.value64 for s in problem.sources if s.var is None}
            leaves = [own[i] if i in own else tf.cast(x, tf.float64) if isinstance(x, tf.Tensor)
                      and x.dtype.is_floating and x.dtype != tf.float64 else x for i, x in enumerate(leaves)]
        self.base_leaves = leaves

    def feed_dtype(self, k):
        return tf.float64 if self.upcast else self.p.sources[k].dtype

    # -- evaluation ----------------------------------------------------------------------------------
    def _leaves(self, values):
        leaves = list(self.base_leaves)
        for k, s in enumerate(self.p.sources):
            val = values[k] if values is not None else None
            if s.var is not None:
                if val is not self.current.get(k):
                    s.var.assign(val if val is not None else self._base_of(k))
                    self.current[k] = val
            elif val is not None:
                leaves[s.leaf_index] = val
        return leaves

    def _base_of(self, k):
        s = self.p.sources[k]
        return tf.cast(s.value, tf.float64) if self.upcast else s.value

    def outputs_at(self, k=None, value=None):
        """Flat float outputs with source ``k`` set to ``value`` (float64 array, or a tensor of the feed
        dtype), others at the base."""
        values = [None] * len(self.p.sources)
        if k is not None:
            fed = isinstance(value, tf.Tensor) and value.dtype == self.feed_dtype(k)
            values[k] = value if fed else self.xp.feed(value, self.feed_dtype(k))
        return _float_outputs(self.p.call(self._leaves(values)))

    def fed(self, k, value64):
        """What source ``k`` really receives for ``value64`` (rounded to the feed dtype), in float64."""
        return value64 if self.upcast else self.xp.rounded(value64, self.feed_dtype(k))

    def restore(self):
        try:
            for k, s in enumerate(self.p.sources):
                if s.var is not None and self.current.get(k) is not None:
                    s.var.assign(self._base_of(k))
                    self.current[k] = None
        finally:
            if self.stack is not None:
                self.stack.close()
                self.stack = None

    # -- differentiation -------------------------------------------------------------------------------
    def forward_with_tape(self):
        leaves = self._leaves(None)
        with tf.GradientTape(persistent=True) as tape:
            for s in self.p.sources:
                tape.watch(s.var if s.var is not None else leaves[s.leaf_index])
            out = self.p.call(leaves)
        self.tape, self.leaves_now = tape, leaves
        self.outputs = _float_outputs(out)
        return tape

    def vjp(self, cotangents, raw=False):
        """Gradients for output cotangents (tensors); dense tensors, or as TensorFlow returned them."""
        self.p.backward_calls += 1
        targets = [s.var if s.var is not None else self.leaves_now[s.leaf_index] for s in self.p.sources]
        grads = self.tape.gradient(self.outputs, targets, output_gradients=cotangents,
                                   unconnected_gradients=tf.UnconnectedGradients.NONE)
        if raw:
            return grads
        return [None if g is None else _dense(g, s.shape) for s, g in zip(self.p.sources, grads)]

    def vjp64(self, cotangents):
        return [None if g is None else self.xp.f64(g) for g in self.vjp(cotangents)]


def _find_variables(problem: Problem, tape) -> None:
    known = {id(s.var) for s in problem.sources if s.var is not None}
    for v in sorted(tape.watched_variables(), key=lambda v: v.name):
        if id(v) not in known and v.dtype.is_floating:
            problem.sources.append(Source(v.name, "variable", var=v, value=tf.identity(v)))
            known.add(id(v))


# ---------------------------------------------------------------------------------------------------
# Tolerances.


class Tol:
    def __init__(self, ref_dtype, atol, rtol, eps):
        self.ref_dtype = ref_dtype
        self.eps_eval = eps_of(ref_dtype)
        self.atol = 0.0 if atol is None else float(atol)
        self.rtol = RTOL_REFERENCE.get(ref_dtype, 1e-3) if rtol is None else float(rtol)
        self.step_rel = self.eps_eval ** (1.0 / 3.0)  # central: balances truncation (h^2) and rounding (eps/h)
        self.step_rel_one_sided = self.eps_eval ** 0.5  # one-sided: truncation h, rounding eps/h
        self.eps_abs = eps  # user-given absolute step, or None

    def step(self, source: Source, one_sided=False) -> float:
        if self.eps_abs is not None:
            return float(self.eps_abs)
        return (self.step_rel_one_sided if one_sided else self.step_rel) * source.scale

    def text(self, S=None) -> str:
        scale = f" x scale {S:.3g}" if S is not None else ""
        return f"atol {self.atol:g}, rtol {self.rtol:g}{scale}"


# ---------------------------------------------------------------------------------------------------
# The check.


class Checker:
    def __init__(self, fn, args, kwargs, *, mode, atol, rtol, eps, seed, positional_only=False,
                 display=None, context_note=None, signature_of=None, backend=None):
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
        self.backend = backend  # NumpyOps or TensorOps; None: chosen from the device and the sizes
        self._precision_checked = False

    def _fail(self, cls, text: str):
        extra = f"\n  ({self.context_note})" if self.context_note else ""
        raise cls(f"{self.p.where}: {text}{extra}")

    # -- entry -----------------------------------------------------------------------------------------
    def run(self) -> GradientReport:
        from tensorflow.python.eager import context

        from . import _hook

        scope = context.context().device_name or ""
        dev = scope or next((s.value.device for s in self.p.sources if s.value.device), "")
        with raised("in_check"), tf.device(dev or None):
            with _hook.contract_scope(collect=self.estimators):
                caller = Space(self.p, upcast=False)
                tape = caller.forward_with_tape()
            _find_variables(self.p, tape)
            if not caller.outputs:
                self._fail(GradientContractError, "returns no floating-point tensor: nothing to differentiate")
            if not self.p.sources:
                self._fail(GradientContractError, "has no floating-point tensor argument and reads no trainable "
                                                  "variable: nothing to differentiate")
            self.device = short_device(dev or caller.outputs[0].device)
            if self.mode == "full":
                self._full_size_limit(caller)
            total = sum(s.size for s in self.p.sources) + sum(o.shape.num_elements() for o in caller.outputs)
            on_cpu = self.device.startswith("CPU")
            self.xp = xp = self.backend or (NumpyOps if (on_cpu or total <= NUMPY_MAX_ON_DEVICE) else TensorOps)
            caller.xp = xp
            for s in self.p.sources:
                s.prepare(xp)
            # One cotangent v, rounded to each output's dtype so that every pass sees the same values.
            self.v_caller = [xp.cotangent(tuple(o.shape), o.dtype, self.seed, ("v", i))
                             for i, o in enumerate(caller.outputs)]
            self.v = [xp.view(v) for v in self.v_caller]  # for dot products with float64 outputs
            with _hook.contract_scope(collect=self.estimators):
                self.caller_g = self._caller_gradients(caller)
            estimators = [e for e in self.estimators if not e[2]]
            if estimators:
                names = ", ".join(f"`{n}` ({loc})" for n, loc, _ in estimators[:3])
                self.p.notes.append(f"values not checked: uses intentional estimator {names} (numeric=False)")
                return self._report("contracts", "n/a", checked=False)
            # The contracts were checked on the first backward pass, in the caller's dtype; the passes below
            # (other cotangents, float64, finite differences) would only check them again, at a cost.
            with _hook.contracts_suppressed():
                return self._values(caller)

    def _values(self, caller: Space) -> GradientReport:
        self._finite_forward(caller)
        self._semantic(caller)
        if self.mode == "full":
            self._full_semantic(caller)
        ref = self._reference(caller)
        try:
            ref = self._forward_determinism(caller, ref)
            try:
                self._numerics(ref)
            except _LowPrecision:
                lower = max({s.dtype for s in self.p.sources} | {tf.float32}, key=eps_of)
                self.p.notes.append(f"difference quotients at relative steps 1e-6 and 1e-11 disagree: the "
                                    f"function computes below float64 precision inside (a cast to "
                                    f"{lower.name}?) or jumps near the input; compared with {lower.name} steps "
                                    "and tolerances")
                self.errors.clear()
                self.tol = Tol(lower, self.atol, self.rtol, self.eps)
                self._numerics(ref)
        finally:
            ref.restore()
            caller.restore()
        return self._report(self.mode, self.tol.ref_dtype.name)

    def _finite_forward(self, caller: Space):
        for i, o in enumerate(caller.outputs):
            if self.xp.all_finite(o):
                continue
            flat = self.xp.numpy(self.xp.f64(o)).ravel()
            bad = np.flatnonzero(~np.isfinite(flat))
            if bad.size:
                self._uncheckable(f"output {i} is not finite at this input ({flat[bad[0]]} at flat index "
                                  f"{bad[0]}, {bad.size} such values): its gradient cannot be checked there; check "
                                  "at an input inside the function's domain.")

    def _numerics(self, ref: Space):
        if self.mode == "fast":
            self._fast(ref)
        else:
            self._full(ref)

    def _check_precision(self, ref: Space, k):
        """Before a disagreement counts against the gradient, make sure the float64 evaluations really are
        float64: difference quotients at relative steps 1e-6 and 1e-11 agree for a float64 computation, while
        a cast to float32 inside loses the smaller step entirely. Raises _LowPrecision if they do not."""
        if self.tol.eps_eval > 1e-10 or self._precision_checked:
            return
        self._precision_checked = True
        s, xp, r = self.p.sources[k], self.xp, self.r[k]
        # Along sign(r) (plus noise) the derivative is about sum |r_i|: well above the rounding noise.
        w = (xp.plus_rand(xp.sign(r), self.seed, ("probe", k)) if r is not None and xp.all_finite(r)
             else xp.rand(s.shape, self.seed, ("probe", k)))
        y0 = ref.outputs_at()
        p0 = self._phi(y0)
        quotients = []
        for rel in (1e-6, 1e-11):
            t = rel * s.scale
            quotients.append((self._phi(ref.outputs_at(k, xp.axpy(t, w, s.x64))) - p0) / t)
        big, tiny = quotients
        noise = _C_FLOOR * eps_of(tf.float64) * self._phi_l1(y0) / (1e-11 * s.scale)
        if abs(tiny - big) > 0.1 * max(abs(big), abs(tiny)) + noise:
            raise _LowPrecision()

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
        for s, g in zip(self.p.sources, raw):
            _contracts.check_leaf(self.p.where, s.what, (s.dtype, tf.TensorShape(s.shape)), g)
        # In the caller's dtype: compared with float64 values only through dot products and differences.
        return [None if g is None else self.xp.view(_dense(g, s.shape)) for s, g in zip(self.p.sources, raw)]

    def _caller_g64(self):
        return [None if g is None else self.xp.f64(g) for g in self.caller_g]

    def _semantic(self, caller: Space):
        """Linear in the upstream gradient (grad(-2 dy) == -2 grad(dy), exact in binary floating point);
        when not: tell a nondeterministic backward, a term without ``dy`` and a nonlinear map apart."""
        xp = self.xp
        g2 = caller.vjp([-2 * v for v in self.v_caller])
        if all(a is None and b is None or a is not None and b is not None
               and xp.identical(xp.f64(xp.sample(b)), -2 * xp.sample(a)) for a, b in zip(self.caller_g, g2)):
            return  # the screening test: exact on a sample (large inputs) or on everything
        g2 = [None if b is None else xp.f64(b) for b in g2]
        worst, worst_k = 0.0, None
        for k, (a, b) in enumerate(zip(self.caller_g, g2)):
            if (a is None) != (b is None):
                worst, worst_k = float("inf"), k
                break
            if a is None:
                continue
            diff = xp.amax(xp.finite_only(b + 2 * a))
            size = xp.amax(xp.finite_only(2 * a))
            rel = diff / size if size > 0 else (float("inf") if diff > 0 else 0.0)
            if rel > 64 * eps_of(self.p.sources[k].dtype) and rel > worst:
                worst, worst_k = rel, k
        if worst_k is None:
            return
        noise = self._check_backward_determinism(self.caller_g, caller.vjp64(self.v_caller))
        if worst <= 64 * eps_of(self.p.sources[worst_k].dtype) + 4 * noise[worst_k]:
            return  # explained by a (tolerated, rounding-level) nondeterministic backward
        self._check_zero(caller.vjp64([tf.zeros_like(v) for v in self.v_caller]))
        s = self.p.sources[worst_k]
        self._fail(GradientCheckError,
                   f"the gradient for {s.what} is not linear in the upstream gradient: grad(-2 dy) != "
                   f"-2 grad(dy) (relative difference {worst:.3g}). A gradient is a linear map of `dy`; "
                   "if this is an intentional estimator (clipped or noisy gradients), declare it with "
                   "tapelint.runtime.custom_gradient(numeric=False).")

    def _check_backward_determinism(self, first, again) -> list[float]:
        """Raise on a nondeterministic backward; return the tolerated relative noise per source."""
        noise = [0.0] * len(first)
        for k, (a, b) in enumerate(zip(first, again)):
            if a is None or b is None or self.xp.identical(a, b):
                continue
            d, size = self.xp.amax(a - b), self.xp.amax(a)
            what = self.p.sources[k].what
            if d <= 1e3 * eps_of(self.p.sources[k].dtype) * size:
                noise[k] = d / size
                self.p.notes.append(
                    f"backward is slightly nondeterministic for {what} (max difference {d:.3g}); tolerated. "
                    "tf.config.experimental.enable_op_determinism() makes it exact")
                continue
            self._fail(NondeterminismError,
                       f"the backward pass is not deterministic: two backward passes with the same input and "
                       f"upstream gradient differ by up to {d:.3g} in the gradient for {what} (max |grad| "
                       f"{size:.3g}). This is not a wrong gradient, but it cannot be checked as is: call "
                       "tf.config.experimental.enable_op_determinism() (and set seeds) before the check.")
        return noise

    def _check_zero(self, zero):
        for k, z in enumerate(zero):
            zmax = self.xp.amax(z) if z is not None else 0.0
            if zmax > 0:
                self._fail(GradientCheckError,
                           f"with a zero upstream gradient the gradient for {self.p.sources[k].what} is not zero "
                           f"(max |grad| = {zmax:.6g}): the gradient function adds a term that does not depend "
                           "on the upstream gradient `dy` (or ignores `dy`). Multiply every term by `dy`.")

    def _full_size_limit(self, caller: Space):
        n_in = sum(s.size for s in self.p.sources)
        m_out = sum(o.shape.num_elements() for o in caller.outputs)
        if n_in * m_out > FULL_MAX_ENTRIES or n_in > FULL_MAX_INPUTS:
            raise FullModeTooLarge(
                f"{self.p.where}: full mode builds the whole {m_out} x {n_in} Jacobian ({m_out * n_in:,} "
                f"entries), more than the limit of {FULL_MAX_ENTRIES:,} entries / {FULL_MAX_INPUTS:,} inputs; "
                "use mode='fast' (random directional derivatives, cost independent of the size).")

    def _full_semantic(self, caller: Space):
        """Full mode affords the explicit checks that fast mode runs only when something is off."""
        self._check_backward_determinism(self.caller_g, caller.vjp64(self.v_caller))
        self._check_zero(caller.vjp64([tf.zeros_like(v) for v in self.v_caller]))

    # -- the reference space -----------------------------------------------------------------------------
    def _reference(self, caller: Space) -> Space:
        dtypes = {s.dtype for s in self.p.sources} | {o.dtype for o in caller.outputs}
        ref = self._try_float64(caller) if dtypes != {tf.float64} else caller
        if ref is caller:
            self.r = self._caller_g64()
            ref_dtype = max(dtypes, key=eps_of)  # the least precise dtype involved
            if dtypes != {tf.float64}:
                self.p.notes.append(f"function does not accept float64: finite differences in {ref_dtype.name}")
        else:
            ref_dtype = tf.float64
        self.tol = Tol(ref_dtype, self.atol, self.rtol, self.eps)
        return ref

    def _try_float64(self, caller: Space):
        from . import _hook

        stack = contextlib.ExitStack()
        try:
            stack.enter_context(_swapped_to_float64([s.var for s in self.p.sources if s.var is not None]))
            ref = Space(self.p, upcast=True, xp=self.xp)
            with _hook.contracts_suppressed():
                ref.forward_with_tape()
                if len(ref.outputs) != len(caller.outputs) or any(
                        o.dtype != tf.float64 or o.shape != c.shape for o, c in zip(ref.outputs, caller.outputs)):
                    raise TypeError("outputs are not float64")
                raw = ref.vjp([tf.cast(v, tf.float64) for v in self.v_caller])
            if any(g is not None and (g.dtype != tf.float64 or tuple(g.shape) != s.shape)
                   for s, g in zip(self.p.sources, raw)):
                raise TypeError("gradient is not float64")
            self.r = [None if g is None else self.xp.f64(g) for g in raw]
            ref.stack = stack
            return ref
        except Exception:  # noqa: BLE001 - any failure in float64 means: use the caller's dtype
            stack.close()
            return caller

    def _forward_determinism(self, caller: Space, ref: Space) -> Space:
        """Two evaluations at the same input must agree (a random forward cannot be checked), and the float64
        reference must compute the same function. Returns the space to compare in."""
        xp = self.xp
        if ref is not caller:
            # Screening on a sample: a random forward (dropout, noise) differs almost everywhere.
            gap = max(xp.amax(xp.f64(xp.sample(a)) - xp.sample(b)) for a, b in zip(caller.outputs, ref.outputs))
            size = max(xp.amax(xp.sample(b)) for b in ref.outputs)
            if gap <= 1e-2 * size:
                return ref  # agrees with an independent evaluation in another dtype
            self._same_twice(ref.outputs_at(), ref.outputs_at())
            # Deterministic, yet not what the caller's dtype computes (constants or random streams that
            # depend on the dtype): float64 is no reference for it.
            ref.restore()
            self.r = self._caller_g64()
            lower = max({s.dtype for s in self.p.sources} | {o.dtype for o in caller.outputs}, key=eps_of)
            self.tol = Tol(lower, self.atol, self.rtol, self.eps)
            self.p.notes.append(f"the function computes something else in float64 (dtype-dependent constants or "
                                f"random streams?): finite differences in {lower.name}")
            ref = caller
        self._same_twice(caller.outputs, caller.outputs_at())
        return ref

    def _same_twice(self, y1, y2):
        xp = self.xp
        for i, (o, a, b) in enumerate(zip(y1, y1, y2)):
            a, b = xp.f64(a), xp.f64(b)
            # Rounding-level differences are not randomness: a tf.function called under a tape runs another
            # optimized graph than without one; reductions on a GPU may use atomics.
            if not xp.identical(a, b) and xp.amax(a - b) > 1e3 * eps_of(o.dtype) * xp.amax(a):
                self._fail(NondeterminismError,
                           f"the forward pass is not deterministic: two calls with the same input differ "
                           f"(output {i}, max difference {xp.amax(a - b):.3g}). Random ops (dropout, noise) "
                           "must be off (training=False) or seeded; the gradient is not checked.")

    # -- fast mode ---------------------------------------------------------------------------------------
    def _phi(self, outputs) -> float:
        return sum(self.xp.dot(self.xp.f64(o), v) for o, v in zip(outputs, self.v))

    def _phi_l1(self, outputs) -> float:
        return sum(self.xp.l1(self.xp.f64(o), v) for o, v in zip(outputs, self.v))

    def _fd(self, ref: Space, k, w, h):
        """Central difference of phi along w at step h: (D, the direction really taken, outputs +, -)."""
        s = self.p.sources[k]
        xp, xm = s.x64 + h * w, s.x64 - h * w
        yp, ym = ref.outputs_at(k, xp), ref.outputs_at(k, xm)
        w_eff = w if ref.upcast else (ref.fed(k, xp) - ref.fed(k, xm)) / (2 * h)
        return (self._phi(yp) - self._phi(ym)) / (2 * h), w_eff, yp, ym

    def _fd_one_sided(self, ref: Space, k, w, h):
        """Forward difference from the reference forward at x: one evaluation, error O(h) ~ 1e-8 in float64."""
        yp = ref.outputs_at(k, self.xp.axpy(h, w, self.p.sources[k].x64))
        return (self._phi(yp) - self.phi0) / h, w, yp, ref.outputs

    def _floor(self, yp, ym, h, S) -> float:
        """Rounding floor of a central difference and of the analytical dot product."""
        eps = self.tol.eps_eval
        return _C_FLOOR * eps * (self._phi_l1(yp) + self._phi_l1(ym)) / (2 * h) + _C_ANALYTIC * eps * S

    def _fast(self, ref: Space):
        xp = self.xp
        self.phi0 = self._phi(ref.outputs)
        for k, s in enumerate(self.p.sources):
            if s.size == 0:
                continue
            r = self.r[k]
            if s.size > FAST_TWO_DIRECTIONS_MAX and self._fast_screen(ref, k):
                continue
            for d in range(2 if s.size <= FAST_TWO_DIRECTIONS_MAX else 1):
                a = None
                if d == 0 and r is not None:
                    # Random plus sign(r): <r, u> contains sum |r_i| exactly, so a scaled or 1%-off gradient
                    # cannot cancel out, whatever the gradient's shape, and every step stays bounded.
                    w = xp.plus_rand(xp.sign(r), self.seed, ("u", k, d))
                    a = xp.dot(r, w)  # finite exactly when r is: sign(nan) is nan, inf * sign(inf) is inf
                    if not _finite(a) and not xp.all_finite(r):
                        a = None  # no direction from a non-finite gradient: a random one
                if a is None:
                    w = xp.rand(s.shape, self.seed, ("u", k, d))
                self._direction(ref, k, w, d, a)

    def _fast_screen(self, ref: Space, k) -> bool:
        """Direction #0 of a large source, in one pass: the finite difference and the caller-dtype gradient
        along ``w = sign(r) + rand`` against ``<r, w>``, with the cheap tests of ``_direction`` (which they
        imply). True if both pass; otherwise nothing is concluded and ``_direction`` runs in full."""
        xp, t = self.xp, self.tol
        s, r = self.p.sources[k], self.r[k]
        if r is None or not hasattr(xp, "sign_step") or not self._one_sided(ref, k):
            return False
        gc = self.caller_g[k]
        consistency = not (t.ref_dtype != tf.float64 or s.dtype == tf.float64 or gc is None)
        h = t.step(s, one_sided=True)
        x_step, a, ag = xp.sign_step(r, gc if consistency else None, s.x64, h, self.seed, ("u", k, 0))
        if not _finite(a):
            return False
        D = (self._phi(ref.outputs_at(k, x_step)) - self.phi0) / h
        err = abs(a - D)
        scale = max(abs(a), abs(D))
        if not (_finite(err) and err <= t.atol + t.rtol * scale):
            return False
        if consistency and not abs(ag - a) <= RTOL_CONSISTENCY.get(s.dtype, 1e-3) * max(abs(ag), abs(a)):
            return False
        self._note_error(k, err, err / max(scale, 1e-300))
        return True

    def _one_sided(self, ref: Space, k) -> bool:
        """Evaluated in float64 (a float64 source, or upcast): a forward difference is accurate enough (about
        1e-8, far below the tolerance) and costs one evaluation instead of two."""
        return self.tol.eps_eval < 1e-10 and ref.feed_dtype(k) == tf.float64

    def _direction(self, ref: Space, k, w, d, a=None):
        """Compare <r, w> (``a``, if known) with the finite difference of phi along ``w``."""
        xp, t = self.xp, self.tol
        s, r = self.p.sources[k], self.r[k]
        one_sided = self._one_sided(ref, k)
        h = t.step(s, one_sided)
        D, w_eff, yp, ym = (self._fd_one_sided if one_sided else self._fd)(ref, k, w, h)
        if not _finite(D):
            self._domain_edge(k, h)
        if a is None or w_eff is not w:
            a = xp.dot(r, w_eff) if r is not None else 0.0
        err = abs(a - D)
        # S = sum |r_i w_i|, the scale of the terms of <r, w>: what tolerances and errors are relative to.
        # Skipped for large sources along the gradient-aligned direction, where |a| is close to it anyway.
        S = xp.l1(r, w_eff) if r is not None and (s.size <= FAST_TWO_DIRECTIONS_MAX or d) else None
        scale = S if S is not None else max(abs(a), abs(D))
        if _finite(err) and err <= t.atol + t.rtol * scale:
            self._passed(k, err, scale, w_eff, a)  # the cheap test, implied by the full one
            return
        if S is None:
            S = xp.l1(r, w_eff) if r is not None else 0.0
        tol = t.atol + t.rtol * S + self._floor(yp, ym, h, S)
        if r is None and abs(D) > tol:
            self._check_precision(ref, k)
            self._missing(k, f"d<v, f>/du = {D:.6g} along a random direction u")
        if not _finite(a) and _finite(D):
            self._nonfinite(k)
        if _finite(err) and err <= tol:
            self._passed(k, err, max(S, abs(a), abs(D)), w_eff, a)
            return
        if one_sided:  # central differences at their own step: exact at a kink for a mid-slope choice
            h = t.step(s)
            D, w_eff, yp, ym = self._fd(ref, k, w, h)
            tol = t.atol + t.rtol * S + self._floor(yp, ym, h, S)
            if abs(a - D) <= tol:
                self._passed(k, abs(a - D), max(S, abs(a), abs(D)), w_eff, a)
                return
        self._diagnose(ref, k, w, h, a, D, tol, S, d)

    def _passed(self, k, err, scale, w_eff, a=None):
        self._note_error(k, err, err / max(scale, 1e-300))
        self._consistency(k, w_eff, a)

    def _consistency(self, k, w, ar=None):
        """The caller-dtype gradient must agree with the float64 one (overflow, dtype-specific code)."""
        xp = self.xp
        s = self.p.sources[k]
        gc, r = self.caller_g[k], self.r[k]
        if self.tol.ref_dtype != tf.float64 or s.dtype == tf.float64 or gc is None or r is None:
            return
        ac, ar = xp.dot(gc, w), (xp.dot(r, w) if ar is None else ar)
        rt = RTOL_CONSISTENCY.get(s.dtype, 1e-3)
        if abs(ac - ar) <= rt * max(abs(ac), abs(ar)):
            return  # the cheap test, implied by the full one (|<g, w>| <= sum |g w|)
        if not _finite(ac) and _finite(ar):
            flat = xp.numpy(gc).ravel()
            j = int(np.flatnonzero(~np.isfinite(flat))[0])
            self._fail(GradientCheckError,
                       f"the {s.dtype.name} gradient for {s.what} is not finite (at {s.label(j)}: {flat[j]:g}) "
                       f"where the float64 gradient is ({xp.at(r, j):.6g}): an overflow or 0/0 in "
                       f"{s.dtype.name}; compute it in a numerically stable form.")
        Sc = xp.l1(gc, w)
        tol = rt * Sc + _C_ANALYTIC * eps_of(s.dtype) * Sc
        if abs(ac - ar) > tol:
            self._fail(GradientCheckError,
                       f"the {s.dtype.name} gradient for {s.what} disagrees with the same gradient computed in "
                       f"float64: <grad, u> = {ac:.8g} ({s.dtype.name}) vs {ar:.8g} (float64), difference "
                       f"{abs(ac - ar):.3g} > tolerance {tol:.3g} (rtol {rt:g} x scale {Sc:.3g}). The gradient "
                       f"function behaves differently in {s.dtype.name} (dtype-specific code or precision loss).")

    def _domain_edge(self, k, h):
        self._uncheckable(
            f"the output is finite at the input but not a finite-difference step away (step {h:.3g} along "
            f"{self.p.sources[k].what}): the input is within a step of the edge of the function's domain (sqrt "
            "or log near 0?). Check at an input farther from it, or pass a smaller eps=.")

    def _uncheckable(self, text):
        """The input, not the gradient, is the problem: raised as such; checking() skips the call."""
        error = GradientCheckError(f"{self.p.where}: {text}")
        error.uncheckable = True
        raise error

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

    def _nonfinite(self, k):
        s = self.p.sources[k]
        self._fail(GradientCheckError,
                   f"the gradient for {s.what} is not finite where the function and its finite differences are "
                   f"(max |grad| = {self.xp.amax(self.r[k]):g}).")

    # -- diagnosis of a mismatch (fast mode) ------------------------------------------------------------
    def _diagnose(self, ref: Space, k, w, h, a, D1, tol, S, d):
        """A smooth mismatch is a wrong gradient; a kink is left out; a random forward is reported."""
        self._check_precision(ref, k)
        s = self.p.sources[k]
        p0, p0b = self._phi(ref.outputs_at()), self._phi(ref.outputs_at())
        if p0 != p0b and abs(p0 - p0b) / (2 * h) > 0.1 * tol:
            self._fail(NondeterminismError,
                       f"the forward pass is not deterministic: <v, f(x)> is {p0!r} then {p0b!r} at the same "
                       "input, so finite differences are meaningless. Random ops (dropout, noise) must be off "
                       "or seeded; the gradient is not checked.")
        _, _, y1p, y1m = self._fd(ref, k, w, h)
        D2, _, y2p, y2m = self._fd(ref, k, w, h / 2)
        D0, _, _, _ = self._fd(ref, k, w, 2 * h)
        if not all(_finite(x) for x in (D0, D1, D2)):
            self._domain_edge(k, 2 * h)
        p1p, p1m, p2p, p2m = (self._phi(y) for y in (y1p, y1m, y2p, y2m))
        F1, B1 = (p1p - p0) / h, (p0 - p1m) / h
        F2, B2 = (p2p - p0) / (h / 2), (p0 - p2m) / (h / 2)
        noise = 8 * tol
        # Smooth: F - B = h phi'' + O(h^3) halves with h, and D(2h) - D(h) = 4 (D(h) - D(h/2)).
        jump = abs(2 * (F2 - B2) - (F1 - B1))
        e1, e0 = D1 - D2, D0 - D1
        if jump <= noise and abs(e0 - 4 * e1) <= noise:
            R = D2 + (D2 - D1) / 3  # Richardson: the truncation error cancels to O(h^4)
            err = abs(a - R)
            if err <= tol + abs(e1):
                self._note_error(k, err, err / max(S, abs(a), abs(R), 1e-300))
                self._consistency(k, self._fd(ref, k, w, h)[1] if not ref.upcast else w)
                return
            self._wrong(ref, k, w, h, a, R, tol, S, d,
                        extra=f"finite differences agree across steps 2h, h, h/2 ({D0:.8g}, {D1:.8g}, {D2:.8g})")
        # A kink: find the coordinates responsible and leave them out of the comparison.
        kinks, wk = [], w
        for _ in range(MAX_KINKS):
            j = self._bisect(ref, k, wk, h)
            if not self._coordinate_kink(ref, k, j, h, p0):
                self._wrong(ref, k, wk, h, a, D1, tol, S, d, worst=j,
                            extra=f"finite differences disagree between steps (a non-differentiable point near "
                                  f"the input?), but {s.label(j)} is smooth there and its gradient is off")
            kinks.append(j)
            wk = wk - self.xp.unit(s.shape, j) * self.xp.at(wk, j)
            Dm, w_eff, yp, ym = self._fd(ref, k, wk, h)
            r = self.r[k]
            am = self.xp.dot(r, w_eff) if r is not None else 0.0
            Sm = self.xp.l1(r, w_eff) if r is not None else 0.0
            if abs(am - Dm) <= self.tol.atol + self.tol.rtol * Sm + self._floor(yp, ym, h, Sm):
                self._note_error(k, abs(am - Dm), abs(am - Dm) / max(Sm, abs(am), abs(Dm), 1e-300))
                self.p.notes.append(
                    f"non-differentiable point(s) at {', '.join(s.label(i) for i in kinks)}: left out of the "
                    "comparison (one-sided derivatives differ there)")
                self._consistency(k, w_eff)
                return
        labels = ", ".join(s.label(i) for i in kinks)
        m_out = sum(o.shape.num_elements() for o in ref.outputs)
        if s.size <= KINK_FALLBACK_MAX_INPUTS and s.size * m_out <= FULL_MAX_ENTRIES:
            # Many kinks (ReLU on an input full of zeros): compare entry by entry, where a kink is sound to
            # handle (one-sided derivatives per entry), as full mode does.
            self.p.notes.append(f"more than {MAX_KINKS} non-differentiable points for {s.what} ({labels}, ...): "
                                "compared entry by entry")
            self._full_source(ref, k, self._analytic_jacobian(ref)[k])
            return
        self.p.notes.append(f"inconclusive for {s.what}: more than {MAX_KINKS} non-differentiable points "
                            f"({labels}, ...) in a large input; use mode='full' on a smaller input, or inputs "
                            "away from kinks")

    def _partial(self, ref: Space, k, j, h):
        """Numerical d phi / d x_j (central) and the outputs at x +- h e_j."""
        s = self.p.sources[k]
        e = self.xp.unit(s.shape, j)
        xp_, xm_ = s.x64 + h * e, s.x64 - h * e
        yp, ym = ref.outputs_at(k, xp_), ref.outputs_at(k, xm_)
        hp = self.xp.at(ref.fed(k, xp_) - s.x64, j)
        hm = self.xp.at(s.x64 - ref.fed(k, xm_), j)
        pp, pm = self._phi(yp), self._phi(ym)
        central = (pp - pm) / (hp + hm) if hp + hm > 0 else float("nan")
        return central, (pp, pm, hp, hm), yp, ym

    def _coordinate_kink(self, ref: Space, k, j, h, p0) -> bool:
        """One-sided derivatives along x_j differ, and the analytical value lies between them."""
        _, (pp, pm, hp, hm), yp, ym = self._partial(ref, k, j, h)
        if hp <= 0 or hm <= 0:
            return False
        F, B = (pp - p0) / hp, (p0 - pm) / hm
        rj = self.xp.at(self.r[k], j) if self.r[k] is not None else 0.0
        floor = _C_FLOOR * self.tol.eps_eval * (self._phi_l1(yp) + self._phi_l1(ym)) / min(hp, hm)
        if abs(F - B) <= 1e-3 * (abs(F) + abs(B)) + floor:
            return False
        margin = 1e-3 * (abs(F) + abs(B)) + floor + self.tol.rtol * abs(rj)
        return min(F, B) - margin <= rj <= max(F, B) + margin

    def _bisect(self, ref: Space, k, w, h) -> int:
        """The coordinate with the largest discrepancy <r, w_S> - D_S (both are additive over S)."""
        s = self.p.sources[k]
        r = self.r[k] if self.r[k] is not None else 0.0 * s.x64

        def disc(lo, hi):
            D, w_eff, _, _ = self._fd(ref, k, self.xp.masked(w, lo, hi), h)
            return self.xp.dot(r, w_eff) - D

        lo, hi = 0, s.size
        total = disc(lo, hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            left = disc(lo, mid)
            if abs(left) >= abs(total - left):
                hi, total = mid, left
            else:
                lo, total = mid, total - left
        return lo

    def _wrong(self, ref: Space, k, w, h, a, D, tol, S, d, worst=None, extra=""):
        s = self.p.sources[k]
        if worst is None:
            worst = self._bisect(ref, k, w, h)
        lines = [
            f"wrong gradient for {s.what} (shape {list(s.shape)}, {s.dtype.name}):",
            f"  directional derivative v^T J u along direction #{d} (seed {self.seed}; u "
            f"{'random + gradient-aligned' if d == 0 else 'random'}, v random):",
            f"    analytical {a:.10g}   numerical {D:.10g}   (central differences in "
            f"{self.tol.ref_dtype.name}, step {h:.3g})",
            f"    |difference| {abs(a - D):.3g} > tolerance {tol:.3g} ({self.tol.text(S)} + rounding floor)",
        ]
        if extra:
            lines.append(f"    {extra}")
        lines.append(f"  worst coordinate: {s.label(worst)}")
        lines.extend(self._block(ref, k, worst, h))
        lines.append(_hint(D, a))
        self._fail(GradientCheckError, "\n".join(lines))

    def _block(self, ref: Space, k, j, h):
        """A bounded block around coordinate j: the Jacobian itself when the output is small."""
        xp = self.xp
        s = self.p.sources[k]
        lo = max(0, min(j - _BLOCK // 2, s.size - _BLOCK))
        cols = list(range(lo, min(s.size, lo + _BLOCK)))
        sizes = [o.shape.num_elements() for o in ref.outputs]
        m_out = sum(sizes)
        if m_out <= 16:
            numerical = np.zeros((m_out, len(cols)))
            for n, c in enumerate(cols):
                _, (_, _, hp, hm), yp, ym = self._partial(ref, k, c, h)
                numerical[:, n] = np.concatenate([(xp.numpy(xp.f64(p)) - xp.numpy(xp.f64(q))).ravel()
                                                  for p, q in zip(yp, ym)]) / (hp + hm)
            analytical = np.zeros((m_out, len(cols)))
            for i in range(m_out):
                gi = ref.vjp64(_one_hot_cotangents(ref.outputs, sizes, i))[k]
                if gi is not None:
                    analytical[i] = xp.numpy(gi).ravel()[cols]
            rows = sorted(np.argsort(-np.abs(numerical - analytical).max(axis=1))[:4].tolist())
            return _table(f"  Jacobian block d out[i] / d {s.name}[j], numerical | analytical:",
                          [s.label(c) for c in cols], [f"out[{i}]" for i in rows],
                          [[(numerical[i, n], analytical[i, n]) for n in range(len(cols))] for i in rows])
        r = xp.numpy(self.r[k]).ravel() if self.r[k] is not None else np.zeros(s.size)
        x = xp.numpy(s.x64).ravel()
        out = [f"  d<v, f>/d {s.name}[j] around the worst coordinate (a v-weighted Jacobian row):",
               f"    {'index':<18}{'input':>14}{'numerical':>18}{'analytical':>18}"]
        for c in cols:
            num = self._partial(ref, k, c, h)[0]
            out.append(f"    {s.label(c):<18}{x[c]:>14.6g}{num:>18.10g}{r[c]:>18.10g}"
                       f"{'   <-- worst' if c == j else ''}")
        return out

    # -- full mode ---------------------------------------------------------------------------------------
    def _full(self, ref: Space):
        rows = self._analytic_jacobian(ref)
        for k, s in enumerate(self.p.sources):
            if s.size:
                self._full_source(ref, k, rows[k])
                r = self.r[k]
                self._consistency(k, self.xp.plus_rand(self.xp.sign(r), self.seed, ("u", k, 0)) if r is not None
                                  else self.xp.rand(s.shape, self.seed, ("u", k, 0)))

    def _analytic_jacobian(self, ref: Space):
        """[m_out, size] per source: all rows at once (tape.jacobian, pfor), else one backward pass per row."""
        sizes = [o.shape.num_elements() for o in ref.outputs]
        m_out = sum(sizes)
        if m_out >= BATCH_MIN and not tf.config.functions_run_eagerly():
            try:
                with ref.tape:
                    y = tf.concat([tf.reshape(o, [-1]) for o in ref.outputs], 0)
                targets = [src.var if src.var is not None else ref.leaves_now[src.leaf_index]
                           for src in self.p.sources]
                with _quiet_tensorflow_logger():
                    jac = ref.tape.jacobian(y, targets, experimental_use_pfor=True)
                self.p.backward_calls += 1
                return [np.zeros((m_out, src.size)) if j is None else
                        self.xp.numpy(self.xp.f64(tf.convert_to_tensor(j))).reshape(m_out, src.size)
                        for src, j in zip(self.p.sources, jac)]
            except Exception:  # noqa: BLE001 - not vectorizable: one row at a time
                pass
        rows = [np.zeros((m_out, src.size)) for src in self.p.sources]
        for i in range(m_out):
            for k, gk in enumerate(ref.vjp64(_one_hot_cotangents(ref.outputs, sizes, i))):
                if gk is not None:
                    rows[k][i] = self.xp.numpy(gk).ravel()
        return rows

    def _y0(self, ref: Space):
        return np.concatenate([self.xp.numpy(self.xp.f64(y)).ravel() for y in ref.outputs_at()])

    def _columns(self, ref: Space, k, t, cols):
        """Outputs at x +- t e_j for j in cols: (plus [cols, m], minus [cols, m], steps +, steps -)."""
        xp = self.xp
        s = self.p.sources[k]
        cols = list(cols)
        flat_x = xp.numpy(s.x64).ravel()
        points = np.repeat(flat_x[None, :], 2 * len(cols), axis=0)
        idx = np.arange(len(cols))
        points[2 * idx, cols] += t
        points[2 * idx + 1, cols] -= t
        fed = NumpyOps.rounded(points, ref.feed_dtype(k)) if not ref.upcast else points
        steps = np.abs(fed[np.repeat(idx, 2) * 2 + np.tile([0, 1], len(cols)), np.repeat(cols, 2)] -
                       flat_x[np.repeat(cols, 2)]) if len(cols) else np.zeros(0)
        outputs = self._batched_outputs(ref, k, points) if len(cols) >= BATCH_MIN else None
        if outputs is None:
            outputs = np.stack([np.concatenate([xp.numpy(xp.f64(y)).ravel()
                                                for y in ref.outputs_at(k, xp.f64(pt.reshape(s.shape)))])
                                for pt in points]) if len(cols) else np.zeros((0, 0))
        return outputs[0::2], outputs[1::2], steps[0::2], steps[1::2]

    def _batched_outputs(self, ref: Space, k, points):
        """All evaluations in one vectorized call (tf.vectorized_map), or None where that is not possible
        (variables as sources, Python-side code in the function, a function pfor cannot convert)."""
        if any(src.var is not None for src in self.p.sources) or tf.config.functions_run_eagerly():
            return None
        s = self.p.sources[k]
        base = ref._leaves(None)

        def one(x):
            leaves = list(base)
            leaves[s.leaf_index] = x
            args, kwargs = tf.nest.pack_sequence_as(self.p.structure, leaves)
            return tf.concat([tf.reshape(tf.cast(o, tf.float64), [-1])
                              for o in _float_outputs(self.p.fn(*args, **kwargs))], 0)

        m_out = sum(o.shape.num_elements() for o in ref.outputs)
        chunk = min(len(points), max(1, BATCH_ELEMENTS // (s.size + m_out)))  # bounded memory per call
        # Traced once: every chunk has the same shape (the last one is padded).
        vectorized = tf.function(lambda batch: tf.vectorized_map(one, batch, fallback_to_while_loop=False))
        dtype = ref.feed_dtype(k).as_numpy_dtype
        outs = []
        try:
            for lo in range(0, len(points), chunk):
                part = points[lo:lo + chunk]
                pad = chunk - len(part)
                if pad:
                    part = np.concatenate([part, np.repeat(part[-1:], pad, axis=0)])
                with _quiet_tensorflow_logger():
                    out = vectorized(tf.constant(part.reshape((-1,) + s.shape).astype(dtype))).numpy()
                outs.append(out[:chunk - pad])
        except Exception:  # noqa: BLE001 - not vectorizable: evaluate one by one
            return None
        self.p.evaluations += len(points)
        return np.concatenate(outs).reshape(len(points), -1)

    def _full_source(self, ref: Space, k, J_an):
        """Entry by entry: central differences at h for every column (2n evaluations); the columns that
        disagree get h/2 too (Richardson) and one-sided differences (kinks)."""
        s, t = self.p.sources[k], self.tol
        h = t.step(s)
        analytic_floor = _C_ANALYTIC * t.eps_eval * (np.abs(J_an).max(axis=1, keepdims=True) if J_an.size else 0.0)
        p1, m1, hp1, hm1 = self._columns(ref, k, h, range(s.size))
        R = ((p1 - m1) / (hp1 + hm1)[:, None]).T  # [m_out, size]
        floor = _C_FLOOR * t.eps_eval * (np.abs(p1) + np.abs(m1)).T / (hp1 + hm1)[None, :] + analytic_floor
        tol = t.atol + t.rtol * np.maximum(np.abs(J_an), np.abs(R)) + floor
        kink = np.zeros(R.shape, bool)
        kink_ok = np.zeros(R.shape, bool)
        suspect = np.flatnonzero(((np.abs(J_an - R) > tol) | ~np.isfinite(J_an)).any(axis=0))
        if suspect.size:
            D1 = R[:, suspect]
            p2, m2, hp2, hm2 = self._columns(ref, k, h / 2, suspect)
            y0 = self._y0(ref)
            D2 = ((p2 - m2) / (hp2 + hm2)[:, None]).T
            F1, B1 = ((p1[suspect] - y0) / hp1[suspect, None]).T, ((y0 - m1[suspect]) / hm1[suspect, None]).T
            F2, B2 = ((p2 - y0) / hp2[:, None]).T, ((y0 - m2) / hm2[:, None]).T
            R[:, suspect] = D2 + (D2 - D1) / 3  # Richardson: the truncation error cancels to O(h^4)
            floor[:, suspect] = (_C_FLOOR * t.eps_eval * (np.abs(p2) + np.abs(m2)).T / (hp2 + hm2)[None, :]
                                 + analytic_floor)
            tol[:, suspect] = (t.atol + t.rtol * np.maximum(np.abs(J_an[:, suspect]), np.abs(R[:, suspect]))
                               + floor[:, suspect] + np.abs(D1 - D2) / 3)
            # Smooth: F - B = h f'' + O(h^3) halves with h. A kink: F - B stays (the jump).
            jump = np.abs(2 * (F2 - B2) - (F1 - B1))
            ks = (jump > 8 * tol[:, suspect]) & (np.abs(F2 - B2) > 1e-3 * (np.abs(F2) + np.abs(B2)))
            lo = np.minimum.reduce([F1, B1, F2, B2]) - tol[:, suspect]
            hi = np.maximum.reduce([F1, B1, F2, B2]) + tol[:, suspect]
            kink[:, suspect] = ks
            kink_ok[:, suspect] = ks & (J_an[:, suspect] >= lo) & (J_an[:, suspect] <= hi)
        if (self.r[k] is None and (np.abs(R) > tol).any()) or (
                ((np.abs(J_an - R) > tol) & ~kink_ok).any()):
            self._check_precision(ref, k)
        if self.r[k] is None:
            missing = np.abs(R) > tol
            if missing.any():
                i, j = np.unravel_index(int(np.argmax(np.where(missing, np.abs(R), -1))), R.shape)
                self._missing(k, f"d out[{i}] / d {s.label(j)} = {R[i, j]:.6g}")
        err = np.abs(J_an - R)
        bad = ((err > tol) & ~kink_ok) | (~np.isfinite(J_an) & np.isfinite(R))
        checked = ~kink_ok
        rel = err / np.maximum(np.maximum(np.abs(J_an), np.abs(R)), floor + 1e-300)
        self._note_error(k, float(err[checked].max()) if checked.any() else 0.0,
                         float(rel[checked].max()) if checked.any() else 0.0)
        kink_cols = sorted(set(np.nonzero(kink_ok)[1].tolist()))
        if kink_cols:
            self.p.notes.append(f"non-differentiable point(s) at {', '.join(s.label(c) for c in kink_cols[:8])}"
                                f"{' ...' if len(kink_cols) > 8 else ''}: entries there compared with one-sided "
                                "derivatives")
        if not bad.any():
            return
        ratio = np.where(bad, np.nan_to_num(err / np.maximum(tol, 1e-300), nan=np.inf, posinf=np.inf), -1.0)
        i, j = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
        m_out = J_an.shape[0]
        r0 = max(0, min(i - 1, m_out - 4))
        c0 = max(0, min(j - _BLOCK // 2, s.size - _BLOCK))
        row_ids, col_ids = range(r0, min(m_out, r0 + 4)), range(c0, min(s.size, c0 + _BLOCK))
        head = (f"likely non-differentiable point near the input at {s.label(j)} (one-sided derivatives differ "
                f"there), and the gradient for {s.what} matches neither side"
                if kink[i, j] else f"wrong gradient for {s.what} (shape {list(s.shape)}, {s.dtype.name})")
        lines = [
            head + ":",
            f"  worst entry d out[{i}] / d {s.label(j)}: analytical {J_an[i, j]:.10g}, numerical {R[i, j]:.10g} "
            f"(central differences in {t.ref_dtype.name}, steps {h:.3g} and {h / 2:.3g}, Richardson)",
            f"  |difference| {err[i, j]:.3g} > tolerance {tol[i, j]:.3g} ({t.text()} x |entry| + rounding floor)",
            f"  {int(bad.sum())} of {bad.size} entries disagree",
        ]
        lines += _table("  Jacobian block d out[i] / d " + s.name + "[j], numerical | analytical:",
                        [s.label(c) for c in col_ids], [f"out[{r}]" for r in row_ids],
                        [[(R[r, c], J_an[r, c]) for c in col_ids] for r in row_ids])
        lines.append(_hint(R[i, j], J_an[i, j]))
        self._fail(GradientCheckError, "\n".join(lines))


def _one_hot_cotangents(outputs, sizes, i):
    cot, off = [], 0
    for o, n in zip(outputs, sizes):
        hot = tf.one_hot(i - off, n, dtype=o.dtype) if off <= i < off + n else tf.zeros([n], o.dtype)
        cot.append(tf.reshape(hot, o.shape))
        off += n
    return cot


def _table(title, col_labels, row_labels, cells):
    width = max([len(c) for c in col_labels] + [21])
    lines = [title, "    " + " " * 9 + "".join(f"{c:>{width + 2}}" for c in col_labels)]
    for label, row in zip(row_labels, cells):
        lines.append("    " + f"{label:<9}" + "".join(f"{f'{n:+.4g} | {a:+.4g}':>{width + 2}}" for n, a in row))
    return lines


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
