"""Which installed distributions declare tapelint plugins, read off ``sys.path`` without
``importlib.metadata``.

Every run asks whether plugins are installed: to key the rule catalog in the cache
(:mod:`tapelint.manifest`) and to know whether plugin output formats exist. ``importlib.metadata``
answers in 20 to 50 ms (its import, and reading every distribution's metadata, in a venv with
TensorFlow), a fifth or more of a cached run. A plugin is declared in the ``[tapelint]`` section of
its distribution's ``entry_points.txt``, in a ``*.dist-info`` or ``*.egg-info`` directory of a
``sys.path`` directory (or the ``EGG-INFO`` directory of an ``.egg`` one), which is where
``importlib.metadata`` finds it too; listing those directories
takes about 2 ms. Where that is not all ``importlib.metadata`` would look at (a zip file on
``sys.path``, a finder that provides distributions of its own), the answer is None and the caller asks
``importlib.metadata``.
"""

from __future__ import annotations

import functools
import os
import re
import sys

GROUP = "tapelint"
# The section header as importlib.metadata reads it: the line stripped, then the name between brackets.
_SECTION = re.compile(r"^[ \t]*\[" + GROUP + r"\][ \t]*\r?$", re.M)


def declared() -> tuple[tuple[str, str], ...] | None:
    """(distribution directory, the text of its ``entry_points.txt``) for each distribution on
    ``sys.path`` whose entry points have a ``[tapelint]`` section, in ``sys.path`` order (shadowed
    copies included); None where distributions may come from elsewhere than ``sys.path``
    directories."""
    if _other_distribution_finders():
        return None
    return _declared_on(tuple(sys.path))


@functools.lru_cache(maxsize=4)  # asked a few times a run; a new sys.path is looked at anew
def _declared_on(path: tuple[str, ...]) -> tuple[tuple[str, str], ...] | None:
    found: list[tuple[str, str]] = []
    for entry in path:
        try:
            entries = os.scandir(entry or ".")
        except NotADirectoryError:  # a zip or egg file: only importlib.metadata reads those
            return None
        except OSError:  # missing or unreadable: nothing is found there either way
            continue
        # What importlib.metadata takes for a distribution's metadata directory, case aside: a
        # `*.dist-info` or `*.egg-info` entry, and an `EGG-INFO` entry of an `.egg` directory.
        egg = os.path.basename(entry).lower().endswith(".egg")
        with entries:
            names = sorted(e.name for e in entries
                           if e.name.lower().endswith((".dist-info", ".egg-info"))
                           or egg and e.name.lower() == "egg-info")
        for name in names:
            try:
                with open(os.path.join(entry or ".", name, "entry_points.txt"), encoding="utf-8",
                          errors="replace") as stream:
                    text = stream.read()
            except OSError:  # no entry points, or an egg-info file rather than a directory
                continue
            if _SECTION.search(text):
                found.append((os.path.join(entry or ".", name), text))
    return tuple(found)


def none_installed() -> bool:
    """Certainly no plugin is installed (False where :func:`declared` cannot tell)."""
    return declared() == ()


def _other_distribution_finders() -> bool:
    """A meta-path finder other than the standard path finder provides distributions."""
    import importlib.machinery

    return any(hasattr(finder, "find_distributions") and finder is not importlib.machinery.PathFinder
               for finder in sys.meta_path)
