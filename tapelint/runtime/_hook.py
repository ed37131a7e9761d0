"""Reaching every ``tf.custom_gradient``: patch TensorFlow's private decorators while checking is on.

``tf.custom_gradient`` looks up ``_eager_mode_decorator`` / ``_graph_mode_decorator`` in its module at
call time, so replacing them reaches functions decorated before the patch (imported in a conftest), and
also ``tf.recompute_grad`` and ``tf.grad_pass_through``. Where those names are missing (another
TensorFlow), ``tf.custom_gradient`` itself is wrapped instead: that reaches only functions decorated
afterwards. Off, nothing is patched and TensorFlow runs exactly as shipped.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import warnings
import weakref

import numpy as np
import tensorflow as tf
from tensorflow.python.ops import custom_gradient as _cg

from . import _contracts, report
from ._util import describe, flag, leaf_names, raised, state
from .errors import GradientContractError, GradientError, NondeterminismError

MODES = ("contracts", "fast", "full")
_MAX_SIGNATURES_PER_FUNCTION = 8  # numerical checks per function: bounds the slowdown of a suite
_TESTED_VERSIONS = ((2, 13), (3, 0))  # [first, last) TensorFlow versions whose internals we patch
_UNKNOWN_DIM = 3  # size of an unknown dimension in synthetic inputs


class TapelintWarning(UserWarning):
    """A check that could not run (random forward, nondeterministic backward, inputs unknown)."""


_lock = threading.RLock()
_mode: str | None = None  # the mode of checking(); None: off
_users = 0  # check_gradients calls that need the contracts installed
_installed: tuple | None = None  # how we patched, and the originals
# function (or, for a method, its instance) -> {(function, signature, mode, traced): None if it passed, else
# (error class, message)}. Weak keys: a custom gradient made in a factory, or a layer, is forgotten with it;
# no traceback (frames) is kept.
_cache = weakref.WeakKeyDictionary()


@functools.lru_cache(maxsize=None)
def _tested_version(version: str) -> bool:
    try:
        major, minor = (int(p) for p in version.split(".")[:2])
    except ValueError:
        return False
    lo, hi = _TESTED_VERSIONS
    return lo <= (major, minor) < hi


def _private_hooks_usable() -> bool:
    return (_tested_version(tf.__version__) and callable(getattr(_cg, "_eager_mode_decorator", None))
            and callable(getattr(_cg, "_graph_mode_decorator", None)))


def _install() -> None:
    global _installed
    if _installed is not None:
        return
    if _private_hooks_usable():
        orig_eager, orig_graph = _cg._eager_mode_decorator, _cg._graph_mode_decorator
        _cg._eager_mode_decorator = functools.partial(_patched, orig_eager, graph=False)
        _cg._graph_mode_decorator = functools.partial(_patched, orig_graph, graph=True)
        _installed = ("private", orig_eager, orig_graph)
    else:
        orig = tf.custom_gradient

        def custom_gradient(f=None):
            if f is None:
                return custom_gradient
            return orig(_fallback_instrument(f, orig))

        tf.custom_gradient = custom_gradient
        _installed = ("public", orig)


def _uninstall() -> None:
    global _installed
    if _installed is None:
        return
    if _installed[0] == "private":
        _cg._eager_mode_decorator, _cg._graph_mode_decorator = _installed[1], _installed[2]
    else:
        tf.custom_gradient = _installed[1]
    _installed = None


def enable(mode: str = "fast") -> None:
    """Check every ``tf.custom_gradient`` from now on (until ``disable()``)."""
    global _mode
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    with _lock:
        _mode = mode
        _install()


def disable() -> None:
    """Stop checking; TensorFlow's own decorators are back in place."""
    global _mode
    with _lock:
        _mode = None
        if _users == 0:
            _uninstall()


def enabled_mode() -> str | None:
    return _mode


@contextlib.contextmanager
def checking(mode: str = "fast"):
    """Check every ``tf.custom_gradient`` called inside the block; restore TensorFlow on exit, always."""
    global _mode
    with _lock:
        previous = _mode
        enable(mode)
    try:
        yield
    finally:
        with _lock:
            _mode = previous
            if _mode is None and _users == 0:
                _uninstall()


@contextlib.contextmanager
def contract_scope(collect: list | None = None):
    """Contracts on (patching if needed) for one ``check_gradients``; ``collect`` gets the custom
    gradients called: ``(name, location, numeric)``."""
    global _users
    with _lock:
        _users += 1
        _install()
    old = getattr(state, "collect", None)
    state.collect = collect
    try:
        yield
    finally:
        state.collect = old
        with _lock:
            _users -= 1
            if _users == 0 and _mode is None:
                _uninstall()


@contextlib.contextmanager
def contracts_suppressed():
    """For evaluations in float64: contracts are checked in the caller's dtype only."""
    with raised("no_contracts"):
        yield


# ---------------------------------------------------------------------------------------------------


def _where(f) -> tuple[str, str]:
    return describe(getattr(f, "__func__", f))


def _is_tf_internal(f) -> bool:
    module = getattr(getattr(f, "__func__", f), "__module__", "") or ""
    return module.startswith(("tensorflow.", "keras.", "tf_keras."))


def _numeric_wanted(f) -> bool:
    return getattr(f, "__tapelint_numeric__", True) and not _is_tf_internal(f)


_takes_variables_of = {}  # code object -> does a gradient function with this code take `variables`?


def _takes_variables(grad_fn) -> bool:
    """As TensorFlow decides it (getfullargspec), once per code object: a gradient function is a closure
    made anew on every forward call, its code is not."""
    from tensorflow.python.util import tf_inspect

    code = getattr(grad_fn, "__code__", None)
    hit = _takes_variables_of.get(code) if code is not None and not hasattr(grad_fn, "__wrapped__") else None
    if hit is None:
        spec = tf_inspect.getfullargspec(grad_fn)
        hit = "variables" in spec.args or "variables" in spec.kwonlyargs or spec.varkw is not None
        if code is not None and not hasattr(grad_fn, "__wrapped__") and len(_takes_variables_of) < 4096:
            _takes_variables_of[code] = hit
    return hit


def _wrap_grad_fn(grad_fn, f, args):
    """``grad_fn`` with its output checked; keeps its signature as far as TensorFlow inspects it."""
    takes_variables = _takes_variables(grad_fn)

    def check(out, variables):
        if flag("no_contracts"):
            return
        if any(isinstance(x, tf.__internal__.CompositeTensor) for x in tf.nest.flatten(args)):
            return  # TensorFlow expands composite inputs into their components: counts differ
        name, loc = _where(f)
        names = [leaf for leaf, _ in leaf_names(f, args, {})]
        _contracts.check_custom_gradient(f"{name} ({loc})", names, tuple(args), variables, out,
                                         allow_none_variables=_is_tf_internal(f))

    if takes_variables:
        def checked(*dys, variables=None):
            with raised("in_backward"):
                out = grad_fn(*dys, variables=variables) if variables is not None else grad_fn(*dys)
            check(out, variables)
            return out
    else:
        def checked(*dys):
            with raised("in_backward"):
                out = grad_fn(*dys)
            check(out, None)
            return out
    # Named like the original, but no __wrapped__: TensorFlow must inspect this signature, not the original's.
    checked.__name__ = getattr(grad_fn, "__name__", "grad_fn")
    checked.__qualname__ = getattr(grad_fn, "__qualname__", checked.__name__)
    return checked


def _instrument(f):
    """``f`` whose returned gradient function checks its output."""

    @functools.wraps(f)
    def instrumented(*args, **kwargs):
        result, grad_fn = f(*args, **kwargs)
        collect = getattr(state, "collect", None)
        if collect is not None:
            name, loc = _where(f)
            collect.append((name, loc, bool(getattr(f, "__tapelint_numeric__", True))))
        return result, _wrap_grad_fn(grad_fn, f, args)

    return instrumented


def _check_keyword_tensors(f, kwargs):
    """Eager TensorFlow gives tensors passed by keyword no gradient: fail if a tape is watching one."""
    from tensorflow.python.eager import record

    watched = [key for key in sorted(kwargs)
               for x in tf.nest.flatten(kwargs[key])
               if isinstance(x, (tf.Tensor, tf.Variable)) and x.dtype.is_floating
               and record.should_record_backprop([x.handle if isinstance(x, tf.Variable) else x])]
    if watched:
        name, loc = _where(f)
        raise GradientContractError(
            f"{name} ({loc}): keyword argument `{watched[0]}` is a tensor a GradientTape is watching, but "
            "tf.custom_gradient gives no gradient to tensors passed by keyword (in eager mode, silently): "
            "pass it positionally, or wrap it in tf.stop_gradient if it needs no gradient.")


def _patched(original, f, args, kwargs, *, graph: bool):
    if flag("no_contracts"):
        return original(f, args, kwargs)
    if kwargs and not graph and not flag("in_check"):
        _check_keyword_tensors(f, kwargs)
    out = original(_instrument(f), args, kwargs)
    mode = _mode
    if mode is None or flag("in_check") or flag("in_backward"):
        return out
    if mode != "contracts" and _numeric_wanted(f):
        eager = _installed[1]  # the re-runs happen eagerly, also for a function traced in tf.function
        _numeric_check(f, args, kwargs, mode, lambda a, k: eager(_instrument(f), a, k), graph)
    elif not _is_tf_internal(f):  # TensorFlow's own custom gradients would only clutter the summary
        name, loc = _where(f)
        report.record(name, loc, calls=1, mode="contracts",
                      verdict="ok" if mode == "contracts" else "contracts only")
    return out


def _fallback_instrument(f, orig_custom_gradient):
    """For TensorFlow without the private decorators: check contracts and, for plain functions, values."""
    inst = _instrument(f)

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        result, grad_fn = inst(*args, **kwargs)
        mode = _mode
        if mode in ("fast", "full") and not flag("in_check") and not flag("in_backward") and _numeric_wanted(f):
            def rerun(a, k):
                return orig_custom_gradient(_instrument(f))(*a, **k)

            _numeric_check(f, args, kwargs, mode, rerun, graph=not tf.executing_eagerly())
        return result, grad_fn

    return wrapper


# ---------------------------------------------------------------------------------------------------


def _signature(args, kwargs):
    def leaf(x):
        if isinstance(x, (tf.Tensor, tf.Variable, np.ndarray)):
            return (str(x.dtype), tuple(x.shape.as_list() if hasattr(x.shape, "as_list") else x.shape))
        if isinstance(x, (bool, int, float, str, type(None))):
            return repr(x)[:40]
        return type(x).__name__

    return tuple(leaf(x) for x in tf.nest.flatten((tuple(args), dict(kwargs))))


def _synthetic(args, kwargs, seed):
    """Concrete inputs for a function traced inside tf.function: constants where known, else N(0, 1), with
    ``_UNKNOWN_DIM`` for every unknown dimension (the batch of a Keras ``fit``: one size for all, so that
    dimensions that must agree do)."""
    rng = np.random.default_rng(seed)

    def leaf(x):
        if isinstance(x, tf.Tensor) and not hasattr(x, "numpy"):
            static = tf.get_static_value(x)
            if static is not None:
                return tf.constant(static, dtype=x.dtype)
            if not (x.dtype.is_floating and x.shape.rank is not None):
                raise LookupError(f"no concrete value for a {x.dtype.name} input of shape {x.shape}")
            shape = [_UNKNOWN_DIM if d is None else d for d in x.shape.as_list()]
            return tf.cast(tf.constant(rng.standard_normal(shape)), x.dtype)
        return x

    return tf.nest.map_structure(leaf, (tuple(args), dict(kwargs)))


def _numeric_check(f, args, kwargs, mode, rerun, graph: bool):
    from . import _engine

    name, loc = _where(f)
    report.record(name, loc, calls=1)
    # A method is checked per instance: two layers of one class differ in their state (weights, options).
    # (The inner key must not hold the weak key itself: for a plain function it names no function.)
    owner, func = (f.__self__, f.__func__) if hasattr(f, "__self__") and hasattr(f, "__func__") else (f, None)
    try:
        checked = _cache.setdefault(owner, {})
        key = (func, _signature(args, kwargs), mode, graph)
    except TypeError:  # a callable that cannot be weakly referenced: check it every time
        checked, key = {}, None
    if key in checked:
        if checked[key] is not None:
            error_class, message = checked[key]
            raise error_class(message)
        return
    if sum(k[0] is func for k in checked) >= _MAX_SIGNATURES_PER_FUNCTION:
        return

    def remember(error=None):
        if key is not None:
            checked[key] = None if error is None else (type(error), str(error))

    note = None
    try:
        if graph:
            with tf.init_scope():
                if not tf.executing_eagerly():
                    raise LookupError("TF1 graph mode")
                a, k = _synthetic(args, kwargs, seed=0)
            note = ("traced inside tf.function, so checked on synthetic inputs: standard normal values of the "
                    f"traced shapes ({_UNKNOWN_DIM} for an unknown dimension)")
        else:
            a, k = _copies(args, kwargs)
    except LookupError as e:
        report.record(name, loc, mode=mode, verdict=f"skipped: {e}")
        remember()
        return

    def run(m):
        with _eager_outside_trace() if graph else contextlib.nullcontext():
            return _engine.check(lambda *aa, **kk: rerun(aa, kk), a, k, mode=m, positional_only=True,
                                 display=(name, loc), context_note=note, signature_of=f)

    try:
        try:
            rep = run(mode)
        except _engine.FullModeTooLarge:
            rep = run("fast")  # full mode only where it is affordable; fast mode elsewhere
    except NondeterminismError as e:
        warnings.warn(TapelintWarning(str(e)), stacklevel=4)
        report.record(name, loc, mode=mode, verdict="nondeterministic")
        remember()
        return
    except GradientError as e:
        if getattr(e, "uncheckable", False):  # e.g. log of a negative synthetic input: not a verdict
            report.record(name, loc, mode=mode, verdict="skipped: output not finite")
            remember()
            return
        report.record(name, loc, mode=mode, verdict="FAILED")
        remember(e)
        raise
    except Exception as e:  # noqa: BLE001 - our machinery must never fail a user's test
        report.record(name, loc, mode=mode, verdict=f"skipped: {type(e).__name__}")
        warnings.warn(TapelintWarning(f"{name} ({loc}): values not checked: {type(e).__name__}: {e}"),
                      stacklevel=4)
        remember()
        return
    report.record(name, loc, mode=rep.mode, error=rep.max_rel_error,
                  verdict="ok" if rep.mode != "contracts" else "contracts only")
    remember()


@contextlib.contextmanager
def _eager_outside_trace():
    """Eager execution from inside a tf.function trace, with tapes recording (init_scope pauses them)."""
    from tensorflow.python import pywrap_tfe

    with tf.init_scope():
        pywrap_tfe.TFE_Py_TapeSetRestartOnThread()
        try:
            yield
        finally:
            pywrap_tfe.TFE_Py_TapeSetStopOnThread()


def _copies(args, kwargs):
    """Fresh tensors not watched by the caller's tapes, so the check leaves no trace on them."""
    from tensorflow.python.eager import record

    with record.stop_recording():
        return tf.nest.map_structure(
            lambda x: tf.identity(x) if isinstance(x, tf.Tensor) else x, (tuple(args), dict(kwargs)))


def reset_cache() -> None:
    """Forget which functions were checked (they will be checked again)."""
    _cache.clear()


def custom_gradient(f=None, *, numeric: bool = True):
    """Drop-in for ``tf.custom_gradient``; ``numeric=False`` marks an intentional estimator.

    Returns TensorFlow's own decorated function: with checking off it costs nothing. Under
    ``checking()`` (or in ``check_gradients``) the gradient's structure, shapes and dtypes are still
    checked when ``numeric=False``, but not its values.
    """
    if f is None:
        return functools.partial(custom_gradient, numeric=numeric)
    if not numeric:
        target = getattr(f, "__func__", f)
        target.__tapelint_numeric__ = False
    return tf.custom_gradient(f)
