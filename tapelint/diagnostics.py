"""What a lint run produces: diagnostics with locations and optional fixes.

Field names follow ruff's JSON output so that reporters can map them one to one.
Rows are 1-based; columns are 1-based (as ruff prints them).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Location:
    row: int
    column: int


class Applicability(str, enum.Enum):
    SAFE = "safe"
    UNSAFE = "unsafe"


@dataclass(frozen=True)
class Edit:
    """Replace the text between ``location`` and ``end_location`` with ``content``."""

    content: str
    location: Location
    end_location: Location


@dataclass(frozen=True)
class Fix:
    applicability: Applicability
    message: str
    edits: tuple[Edit, ...] = ()


@dataclass
class Diagnostic:
    code: str
    name: str
    message: str
    filename: str
    location: Location
    end_location: Location
    fix: Fix | None = None
    url: str | None = None
    # For notebooks: the 1-based code cell number; rows are then relative to the cell.
    cell: int | None = None
    # The row whose `# noqa` comment suppresses this diagnostic (the statement's last line for
    # multi-line statements is not used: like flake8, only the reported row counts).
    noqa_row: int | None = None
    # Internal: the rule's libcst-level fix, applied by the fixer (not serialised).
    cst_fix: object | None = field(default=None, repr=False, compare=False)
    # Internal: where the nodes ``cst_fix`` replaces lie in the parsed module (None: not known): the
    # indices, in its body, of the top-level statements holding them, and the ids of every node above
    # them, so its edit is rendered from those statements alone (tapelint.fixer.with_edits).
    fix_scope: tuple[tuple[int, ...], frozenset[int]] | None = field(default=None, repr=False, compare=False)

    def sort_key(self) -> tuple:
        return (self.filename, self.cell or 0, self.location.row, self.location.column, self.code)


PARSE_ERROR_CODE = "TL000"
PARSE_ERROR_NAME = "syntax-error"
INTERNAL_ERROR_CODE = "TL999"
INTERNAL_ERROR_NAME = "internal-error"
DOCS_URL = "https://github.com/tapelint/tapelint/blob/main/docs/rules.md#{code_lower}"


def rule_url(code: str) -> str:
    return DOCS_URL.format(code_lower=code.lower())
