"""Terminal colour: on for a terminal, off when piped; ``NO_COLOR`` turns it off and ``FORCE_COLOR``
on (https://no-color.org, https://force-color.org)."""

from __future__ import annotations

import os
from typing import Mapping, TextIO

BOLD = "1"
RED = "31"
CYAN = "36"
GREEN = "32"


def color_enabled(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    force = env.get("FORCE_COLOR", "")
    if force and force.lower() not in ("0", "false"):
        return True
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed stream
        return False


def paint(text: str, *codes: str, enabled: bool) -> str:
    return f"\x1b[{';'.join(codes)}m{text}\x1b[0m" if enabled and codes else text
