"""pytest plugin of tapelint's runtime checker (registered through the ``pytest11`` entry point).

- ``--tapelint-runtime=off|contracts|fast|full`` (or the ini option ``tapelint_runtime``): check every
  ``tf.custom_gradient`` the test session calls.
- ``@pytest.mark.gradcheck`` / ``@pytest.mark.gradcheck(mode="full")``: the same for one test.
- the ``gradcheck`` fixture: ``gradcheck(fn, *args, **kwargs)`` runs ``check_gradients`` and fails the
  test with the checker's message.
- a summary table of the custom gradients checked, at the end of the session.

pytest loads this module in every project where tapelint is installed, so it imports nothing heavy:
TensorFlow is imported only when an option, a marker or the fixture asks for a check.
"""

from __future__ import annotations

import sys

import pytest

MODES = ("off", "contracts", "fast", "full")
_ENABLED_KEY = pytest.StashKey[bool]()


def pytest_addoption(parser):
    group = parser.getgroup("tapelint", "tapelint runtime gradient checks")
    group.addoption(
        "--tapelint-runtime", dest="tapelint_runtime", default=None, choices=MODES,
        help="check every tf.custom_gradient called by the tests: contracts (structure, shapes, dtypes), "
             "fast (+ random directional derivatives, once per function and input signature) or full "
             "(+ whole Jacobians for small inputs). Default: the ini option tapelint_runtime, else off.")
    parser.addini("tapelint_runtime", default="off",
                  help="off|contracts|fast|full: as --tapelint-runtime (the command line wins)")


def _session_mode(config) -> str:
    mode = config.getoption("tapelint_runtime") or config.getini("tapelint_runtime") or "off"
    mode = str(mode).strip().lower()
    if mode not in MODES:
        raise pytest.UsageError(f"tapelint_runtime must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "gradcheck(mode='fast'): check every tf.custom_gradient this test calls (tapelint); "
                   "mode is contracts, fast or full")
    mode = _session_mode(config)
    config.stash[_ENABLED_KEY] = False
    if mode != "off":
        from tapelint.runtime import _hook  # imports TensorFlow: asked for

        _hook.enable(mode)
        config.stash[_ENABLED_KEY] = True


def pytest_unconfigure(config):
    if config.stash.get(_ENABLED_KEY, False):
        from tapelint.runtime import _hook

        _hook.disable()


def _marker_mode(marker) -> str:
    mode = marker.kwargs.get("mode", marker.args[0] if marker.args else "fast")
    if mode not in MODES[1:]:
        raise pytest.UsageError(f"@pytest.mark.gradcheck: mode must be contracts, fast or full, got {mode!r}")
    return mode


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    marker = item.get_closest_marker("gradcheck")
    if marker is None:
        yield
        return
    mode = _marker_mode(marker)
    from tapelint.runtime import _hook

    with _hook.checking(mode):
        yield


@pytest.fixture
def gradcheck():
    """``gradcheck(fn, *args, mode="fast", atol=None, rtol=None, eps=None, seed=None, **kwargs)``.

    Runs ``tapelint.runtime.check_gradients`` and returns its report; on a gradient problem the test
    fails with the checker's message (no traceback through TensorFlow).
    """
    from tapelint.runtime import GradientError, check_gradients

    def run(fn, *args, **kwargs):
        __tracebackhide__ = True
        try:
            return check_gradients(fn, *args, **kwargs)
        except GradientError as e:
            error = e
        pytest.fail(f"{type(error).__name__}: {error}", pytrace=False)  # outside `except`: no chained report

    return run


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    report = sys.modules.get("tapelint.runtime.report")  # nothing was checked unless it is loaded
    records = report.records() if report is not None else []
    if not records:
        return
    rows = [(f"{r.function} ({r.location})", str(r.calls), ",".join(sorted(r.modes)) or "-",
             f"{r.max_error:.2g}" if r.max_error else "0", r.verdict) for r in records]
    head = ("function", "calls", "mode", "max error", "verdict")
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    tr = terminalreporter
    tr.section("tapelint: custom gradients checked")
    tr.line("  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip())
    for row in sorted(rows, key=lambda r: (r[4] != "FAILED", r[0])):
        tr.line("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip(),
                red=row[4] == "FAILED", yellow=row[4].startswith(("skipped", "nondet")))
