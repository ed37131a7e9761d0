"""libcst, imported where one of its names is first used.

The rule modules, and the parts of the semantic model they import at module level, name libcst's node
types throughout, but screening a file (tapelint/screen.py) builds no node: a file whose trigger words
every screen rules out is linted without libcst, whose import (about 0.12 s) would otherwise be most of
that run, as in a pre-commit run on a model file that mentions `kernel`. ``from tapelint.lazy_libcst
import cst`` gives an object whose attributes are libcst's, imported on first access and then kept.
Module-level tables of node types in those modules are built on first use for the same reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any


class _Libcst:
    def __getattr__(self, name: str) -> Any:
        import libcst

        value = getattr(libcst, name)
        setattr(self, name, value)  # later reads are plain attribute reads
        return value


if TYPE_CHECKING:
    import libcst as cst
else:
    cst = _Libcst()
