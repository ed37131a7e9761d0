"""The runtime half of tapelint: make every custom gradient prove its structure and its values.

    from tapelint.runtime import check_gradients, checking, custom_gradient

``check_gradients(fn, *args)`` checks one function now; ``checking()`` checks every
``tf.custom_gradient`` called inside the block; ``custom_gradient`` is ``tf.custom_gradient`` with a
``numeric=False`` opt-out for intentional estimators. See docs/runtime.md.

The exceptions import without TensorFlow; everything else imports it on first use.
"""

from __future__ import annotations

from .errors import GradientCheckError, GradientContractError, GradientError, NondeterminismError
from .report import GradientReport, SourceReport

__all__ = [
    "check_gradients",
    "checking",
    "enable",
    "disable",
    "custom_gradient",
    "GradientError",
    "GradientContractError",
    "GradientCheckError",
    "NondeterminismError",
    "GradientReport",
    "SourceReport",
    "TapelintWarning",
]

_LAZY = {"checking": "_hook", "enable": "_hook", "disable": "_hook", "custom_gradient": "_hook",
         "TapelintWarning": "_hook"}


def check_gradients(fn, *args, mode="fast", atol=None, rtol=None, eps=None, seed=None, **kwargs):
    """Check the gradients of ``fn(*args, **kwargs)``; return a ``GradientReport`` or raise ``GradientError``.

    Differentiates with respect to every floating-point tensor argument (positional, keyword, nested)
    and every trainable variable ``fn`` reads. ``mode``: ``"fast"`` (random directional derivatives,
    cost independent of the size) or ``"full"`` (whole Jacobian, small inputs). ``atol``/``rtol``
    override the tolerances, ``eps`` the finite-difference step (absolute); ``seed`` picks the random
    directions (default 0: the same verdict every run).
    """
    from . import _engine, report

    try:
        result = _engine.check(fn, args, kwargs, mode=mode, atol=atol, rtol=rtol, eps=eps, seed=seed)
    except GradientError as e:
        name, location = _engine.describe(fn)
        report.record(name, location, calls=1, mode=mode,
                      verdict="nondeterministic" if isinstance(e, NondeterminismError) else "FAILED")
        raise
    report.record(result.function, result.location, calls=1, mode=result.mode, error=result.max_rel_error,
                  verdict="ok" if result.mode != "contracts" else "contracts only")
    return result


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
