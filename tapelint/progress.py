"""A progress bar on stderr for long runs on a terminal; nothing when stderr is piped or redirected,
with ``--quiet`` or ``--verbose`` (whose log lines would tear it), or on a dumb terminal."""

from __future__ import annotations

import os
import time
from typing import TextIO


def wanted(stream: TextIO, *, quiet: bool = False, verbose: bool = False) -> bool:
    """Whether a run writing to ``stream`` gets a progress bar."""
    if quiet or verbose or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or not a real stream
        return False


class Progress:
    """``advance()`` as files are done; drawn only once the run has lasted ``delay`` seconds, at most
    ten times a second, and erased by ``close()`` so that the report starts on a clean line."""

    def __init__(self, total: int, stream: TextIO, *, delay: float = 0.4, label: str = "files") -> None:
        self.total = total
        self.done = 0
        self.stream = stream
        self.label = label
        self._start = time.monotonic()
        self._delay = delay
        self._last = 0.0
        self._drawn = False

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._start < self._delay or now - self._last < 0.1:
            return
        self._last = now
        self._draw()

    def _draw(self) -> None:
        import shutil

        width = max(20, min(shutil.get_terminal_size((80, 24)).columns, 100) - 1)
        counter = f" {self.done}/{self.total} {self.label}"
        bar = max(10, width - len(counter) - 3)
        filled = bar * self.done // max(self.total, 1)
        line = "[" + "=" * filled + (">" if filled < bar else "") + " " * max(bar - filled - 1, 0) + "]" + counter
        try:
            self.stream.write("\r" + line[:width])
            self.stream.flush()
            self._drawn = True
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        if self._drawn:
            try:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
            except (OSError, ValueError):
                pass
            self._drawn = False


class NoProgress:
    def advance(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass
