"""What a check found, and the session's record of every check (read by the pytest plugin).

No TensorFlow here: the plugin reads the records at the end of a session without importing it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SourceReport:
    """One differentiated input: a floating-point tensor argument or a trainable variable.

    ``max_abs_error`` / ``max_rel_error`` compare the analytical gradient with finite differences:
    per Jacobian entry in ``full`` mode, per directional derivative v^T J u in ``fast`` mode
    (``nan`` where the values were not checked, e.g. ``numeric=False``).
    """

    name: str
    kind: str  # "argument", "keyword argument" or "variable"
    shape: tuple
    dtype: str
    max_abs_error: float
    max_rel_error: float
    device: str
    evaluations: int
    mode: str


@dataclass(frozen=True)
class GradientReport:
    function: str
    location: str
    mode: str  # the mode that ran: "fast", "full" or "contracts" (values not checked)
    device: str
    evaluations: int  # forward calls of the function
    backward_calls: int
    reference_dtype: str  # dtype of the finite differences ("float64" unless the function refused it)
    seed: int
    sources: tuple[SourceReport, ...]
    notes: tuple[str, ...] = ()

    @property
    def max_abs_error(self) -> float:
        return max((s.max_abs_error for s in self.sources if s.max_abs_error == s.max_abs_error), default=0.0)

    @property
    def max_rel_error(self) -> float:
        return max((s.max_rel_error for s in self.sources if s.max_rel_error == s.max_rel_error), default=0.0)

    def __str__(self) -> str:
        lines = [
            f"{self.function} ({self.location}): mode={self.mode} device={self.device} "
            f"reference={self.reference_dtype} evaluations={self.evaluations} "
            f"backward_calls={self.backward_calls} seed={self.seed}"
        ]
        for s in self.sources:
            lines.append(
                f"  {s.kind} {s.name}: shape={list(s.shape)} dtype={s.dtype} "
                f"max_abs_error={s.max_abs_error:.3g} max_rel_error={s.max_rel_error:.3g}"
            )
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


@dataclass
class Record:
    """The session's summary line for one checked function (all its signatures together)."""

    function: str
    location: str
    calls: int = 0
    modes: set = field(default_factory=set)
    max_error: float = 0.0  # largest relative error seen
    verdict: str = "ok"  # "ok", "FAILED", "skipped: ..." (worst wins)


_VERDICT_RANK = {"ok": 0, "contracts only": 1, "skipped": 2, "nondeterministic": 3, "FAILED": 4}

_lock = threading.Lock()
_records: dict[tuple[str, str], Record] = {}


def _rank(verdict: str) -> int:
    return _VERDICT_RANK.get(verdict.split(":")[0], 2)


def record(function: str, location: str, *, calls: int = 0, mode: str | None = None,
           error: float | None = None, verdict: str | None = None) -> None:
    with _lock:
        rec = _records.setdefault((function, location), Record(function, location))
        rec.calls += calls
        if mode:
            rec.modes.add(mode)
        if error is not None and error == error:
            rec.max_error = max(rec.max_error, error)
        if verdict is not None and _rank(verdict) >= _rank(rec.verdict):
            rec.verdict = verdict


def records() -> list[Record]:
    with _lock:
        return [Record(r.function, r.location, r.calls, set(r.modes), r.max_error, r.verdict)
                for r in _records.values()]


def clear() -> None:
    with _lock:
        _records.clear()
