"""The pre-filter: which rules can fire on a file, decided from its raw bytes before any decoding or
parsing.

Each rule declares ``triggers`` (at least one must occur) and ``requires`` (all must occur). A rule
none of whose triggers occur in a file cannot report anything there, so the file is skipped without
being decoded or parsed; on the trees tapelint is run on, that is most files.

Trigger words are ASCII identifiers and punctuation, so they are the same bytes in every encoding
Python accepts for source files that the bytes can be searched in directly (UTF-8, Latin-1, the
Windows code pages...). A file that declares another encoding (a UTF-16 BOM, a cookie naming an
EBCDIC code page) is decoded first and the words are looked for in its text.
"""

from __future__ import annotations

import codecs
import re
from typing import Sequence

from tapelint.rules.base import Rule

_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")
_PROBE = "GradientTape custom_gradient .()_0123456789"


def _ascii_compatible(encoding: str) -> bool:
    try:
        return _PROBE.encode(codecs.lookup(encoding).name) == _PROBE.encode("ascii")
    except (LookupError, UnicodeError):
        return False


def _declared_encoding(data: bytes) -> str | None:
    """The encoding a BOM or PEP 263 cookie (first two lines) names, when it is not ASCII-compatible."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "utf-16"
    head = data[:400]
    for line in head.split(b"\n", 2)[:2]:
        m = _COOKIE.match(line)
        if m:
            name = m.group(1).decode("ascii", "replace")
            return None if _ascii_compatible(name) else name
        if line.strip() and not line.lstrip().startswith(b"#"):
            break
    return None


class Prefilter:
    """The trigger test for one tuple of rules, compiled once and applied to many files."""

    def __init__(self, rules: Sequence[type[Rule]]) -> None:
        self.rules = tuple(rules)
        words = {w for r in self.rules for w in (*r.triggers, *getattr(r, "requires", ()))}
        self._words = frozenset(words)
        # A word that contains another cannot occur where that one does not ("apply_gradients" and
        # "gradients"): the shorter one is searched for first and settles both. So do the runs of
        # characters words share (`radient` of `GradientTape` and `custom_gradient`, `ariable` of
        # `Variable` and `add_variable`): each is searched once, where a word holding it is asked for,
        # and where it is absent (as in most files) the words are too.
        runs = _shared_runs(words) - words
        probes = {r for r in runs if not any(o != r and o in r for o in runs | words)}  # the shortest
        searched = words | probes
        self._bytes = {w: w.encode("utf-8") for w in searched}
        self._parts = {w: sorted((p for p in searched if p != w and p in w), key=len) for w in searched}
        # Rules with the same words are decided once (ten of the built-in ones need `GradientTape` only).
        signatures: dict[tuple, int] = {}
        self._signature = [signatures.setdefault((tuple(r.triggers), tuple(getattr(r, "requires", ()))),
                                                 len(signatures)) for r in self.rules]
        self._signatures = list(signatures)

    @property
    def words(self) -> frozenset[str]:
        return self._words

    def active(self, data: bytes) -> list[type[Rule]]:
        """The rules whose trigger words ``data`` (a file's raw bytes) contains."""
        if _declared_encoding(data) is not None:
            from tapelint.source import SourceError, decode

            try:
                return self.active_in_text(decode(data))
            except SourceError:  # search the bytes as they are: where a trigger shows, TL000 reports why
                pass
        memo: dict[str, bool] = {}
        raw = self._bytes
        parts = self._parts

        def has(word: str) -> bool:
            found = memo.get(word)
            if found is None:
                found = True
                for part in parts[word]:  # (a loop, not any(): called some ten thousand times a run)
                    if not has(part):
                        found = False
                        break
                found = memo[word] = found and raw[word] in data
            return found

        # Each search of a word that is not there reads the whole file: the words all must hold are
        # searched first (`GradientTape` is rare), and a word another rule has found already settles
        # a rule's triggers without searching the others.
        verdicts = []
        for triggers, requires in self._signatures:
            verdict = True
            for word in requires:
                if not has(word):
                    verdict = False
                    break
            if verdict and triggers:
                verdict = False
                for word in triggers:  # (one found already settles it)
                    if memo.get(word):
                        verdict = True
                        break
                else:
                    for word in triggers:
                        if has(word):
                            verdict = True
                            break
            verdicts.append(verdict)
        return [r for r, signature in zip(self.rules, self._signature) if verdicts[signature]]

    def active_in_text(self, text: str) -> list[type[Rule]]:
        return triggered(self.rules, text)


_SHARED_RUN = 6  # a shorter run (`apply` of `.apply(` and `apply_gradients`) is in too many files to settle much


def _shared_runs(words: set[str]) -> set[str]:
    """The longest run of characters each two of ``words`` share, where it is at least _SHARED_RUN long."""
    runs = set()
    ordered = sorted(words)
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            run = _longest_common_run(a, b)
            if len(run) >= _SHARED_RUN:
                runs.add(run)
    return runs


def _longest_common_run(a: str, b: str) -> str:
    best = ""
    for start in range(len(a)):
        end = start + len(best) + 1  # only a longer run is of interest
        while end <= len(a) and a[start:end] in b:
            best = a[start:end]
            end += 1
    return best


def triggered(rules: Sequence[type[Rule]], text: str) -> list[type[Rule]]:
    """The rules whose trigger words occur in a decoded text."""
    return [r for r in rules
            if (not r.triggers or any(t in text for t in r.triggers))
            and all(t in text for t in getattr(r, "requires", ()))]


def present(words: frozenset[str] | set[str], text: str) -> set[str]:
    return {w for w in words if w in text}
