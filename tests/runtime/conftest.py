"""Shared set-up for the runtime checker's tests (TensorFlow is required: no skipping)."""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # fixtures/runtime is imported as a package from the repository root
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_checker_state():
    """Every test starts with TensorFlow unpatched, an empty cache and an empty session record."""
    from tensorflow.python.ops import custom_gradient as cg

    from tapelint.runtime import _hook, report

    originals = (cg._eager_mode_decorator, cg._graph_mode_decorator)
    _hook.reset_cache()
    report.clear()
    yield
    _hook.disable()
    assert (cg._eager_mode_decorator, cg._graph_mode_decorator) == originals
    _hook.reset_cache()
    report.clear()


@pytest.fixture
def numerical_checks(monkeypatch):
    """A list that gets one entry per numerical check the engine runs (to test caching and bounds)."""
    from tapelint.runtime import _engine

    calls = []
    real = _engine.check
    monkeypatch.setattr(_engine, "check", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls
