"""Small helpers shared by the checker: naming functions and places, dtypes, devices."""

from __future__ import annotations

import inspect
import os
import threading
import weakref

import numpy as np
import tensorflow as tf

# Per-thread state: are we inside one of our own checks (no recursion), inside a backward pass?
state = threading.local()


def flag(name: str) -> int:
    return getattr(state, name, 0)


class raised:
    """Context manager that increments a per-thread counter (nestable)."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        setattr(state, self.name, flag(self.name) + 1)

    def __exit__(self, *exc):
        setattr(state, self.name, flag(self.name) - 1)
        return False


def _python_function(fn):
    """The Python code behind ``fn``: unwraps tf.function, TF decorators, Keras layers, callables."""
    for _ in range(10):
        if hasattr(fn, "python_function"):  # tf.function
            fn = fn.python_function
        elif getattr(fn, "__wrapped__", None) is not None and fn.__wrapped__ is not fn:
            fn = fn.__wrapped__
        elif inspect.ismethod(fn):
            fn = fn.__func__
        elif not inspect.isfunction(fn):
            call = getattr(type(fn), "call", None) or getattr(type(fn), "__call__", None)
            if call is None or call is fn:
                break
            fn = call
        else:
            break
    return fn


_described = weakref.WeakKeyDictionary()  # weak: never keeps a user's function or model alive


def describe(fn) -> tuple[str, str]:
    """``(name, "file:line")`` for messages; the path is relative to the working directory when inside it."""
    try:
        hit = _described.get(fn)
        if hit is None:
            hit = _described[fn] = _describe(fn)
        return hit
    except TypeError:  # not weakly referenceable, or unhashable
        return _describe(fn)


def _describe(fn) -> tuple[str, str]:
    target = _python_function(fn)
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if name is None or not isinstance(name, str):
        name = getattr(target, "__qualname__", None) or type(fn).__name__
    if hasattr(fn, "python_function"):
        name = getattr(fn.python_function, "__qualname__", name)
    elif not (inspect.isfunction(fn) or inspect.ismethod(fn)) and hasattr(type(fn), "call"):
        name = type(fn).__qualname__  # a Keras layer or model
    try:
        path = inspect.getsourcefile(target) or inspect.getfile(target)
        _, line = inspect.getsourcelines(target)
    except (TypeError, OSError):
        code = getattr(target, "__code__", None)
        if code is None:
            return name, "<unknown>"
        path, line = code.co_filename, code.co_firstlineno
    try:
        rel = os.path.relpath(path)
        if not rel.startswith(".."):
            path = rel
    except ValueError:
        pass
    return name, f"{path}:{line}"


def eps_of(dtype) -> float:
    return float(np.finfo(tf.as_dtype(dtype).as_numpy_dtype).eps) if tf.as_dtype(dtype) != tf.bfloat16 else 2.0**-7


def short_device(name: str) -> str:
    """'/job:localhost/replica:0/task:0/device:GPU:0' -> 'GPU:0'."""
    if not name:
        return "CPU:0"
    tail = name.rsplit("device:", 1)[-1]
    return tail


def fmt_index(shape, flat_index: int) -> str:
    if len(shape) == 0:
        return ""
    idx = np.unravel_index(int(flat_index), tuple(int(d) for d in shape))
    return "[" + ", ".join(str(int(i)) for i in idx) + "]"


def signature_target(fn):
    """What to read parameter names from: the Python function of a tf.function, a layer's ``call``."""
    if hasattr(fn, "python_function"):
        return fn.python_function
    if not (inspect.isfunction(fn) or inspect.ismethod(fn)) and callable(getattr(fn, "call", None)):
        return fn.call
    return fn


_parameters_of = weakref.WeakKeyDictionary()  # signature target -> its parameters (inspect is slow)


def _parameters(target):
    try:
        hit = _parameters_of.get(target)
    except TypeError:  # not weakly referenceable, or unhashable
        hit = None
    if hit is None:
        try:
            hit = tuple(inspect.signature(target).parameters.values())
        except (TypeError, ValueError):
            hit = ()
        try:
            _parameters_of[target] = hit
        except TypeError:
            pass
    return hit


def positional_names(fn, count: int) -> list[str]:
    """Parameter names for ``count`` positional arguments (``args[i]`` where unknown)."""
    names: list[str] = []
    params = _parameters(signature_target(fn))
    for p in params:
        if len(names) >= count:
            break
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
        elif p.kind == p.VAR_POSITIONAL:
            names.extend(f"{p.name}[{i}]" for i in range(count - len(names)))
    names.extend(f"args[{i}]" for i in range(len(names), count))
    return names[:count]


def _paths(structure):
    if isinstance(structure, (tf.Tensor, tf.Variable, np.ndarray, int, float, bool, str, type(None))):
        return [()]  # a leaf: no need to walk it
    from tensorflow.python.util import nest as _nest

    try:
        return [p for p, _ in _nest.flatten_with_tuple_paths(structure)]
    except (AttributeError, TypeError):
        return [(i,) for i in range(len(tf.nest.flatten(structure)))]


def _join(base: str, path) -> str:
    return base + "".join(f"[{k!r}]" if isinstance(k, str) else f"[{k}]" for k in path)


def leaf_names(fn, args, kwargs) -> list[tuple[str, str]]:
    """``(name, kind)`` for every leaf of ``tf.nest.flatten((args, kwargs))``, in that order."""
    out: list[tuple[str, str]] = []
    pnames = positional_names(fn, len(args))
    for name, arg in zip(pnames, args):
        out.extend((_join(name, p), "argument") for p in _paths(arg))
    for key in sorted(kwargs):
        out.extend((_join(key, p), "keyword argument") for p in _paths(kwargs[key]))
    return out
