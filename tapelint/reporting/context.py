"""What every output format may need besides the diagnostics themselves."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from tapelint.diagnostics import Diagnostic
from tapelint.rules.base import Rule


@dataclass(frozen=True)
class ReportContext:
    cwd: Path
    # Every known rule by code, pseudo-rules (TL000, TL999) included.
    catalog: Mapping[str, type[Rule]] = field(default_factory=dict)
    version: str = ""
    color: bool = False
    # Findings only: no "Found N errors." / "All checks passed!" line.
    quiet: bool = False
    # Text format: print the offending source line under each finding.
    show_source: bool = False
    # --fix: how many fixes were applied (None: not fixing), for "Found 3 errors (2 fixed, 1 remaining)."
    fixed: int | None = None
    # --unsafe-fixes (True), --no-unsafe-fixes (False), or neither (None: hint at hidden unsafe fixes).
    unsafe_fixes: bool | None = None

    def absolute(self, diagnostic: Diagnostic) -> str:
        """The diagnostic's file as an absolute path (diagnostics carry the path as displayed)."""
        return os.path.normpath(os.path.join(self.cwd, diagnostic.filename))


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
