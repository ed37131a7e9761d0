"""A rule pack for tapelint's own tests, installed by putting this directory on ``sys.path`` (the
dist-info beside it declares the entry point).

Its rules report marker names (``bug_one`` ...), so tests of the command line do not depend on what
the real rules consider a bug. In-process tests use ``CATALOG`` directly.
"""

from __future__ import annotations

from typing import ClassVar

import libcst as cst

from tapelint.hookspecs import hookimpl
from tapelint.diagnostics import Applicability
from tapelint.rules.base import CstFix, Finding, Replacement, Rule


class _MarkerRule(Rule):
    marker: ClassVar[str]

    def check(self, model):
        for node in model.nodes(cst.Name):
            if node.value == self.marker:
                yield Finding(node)


class FirstMarker(_MarkerRule):
    """## What it does
    Reports the name `bug_one`.
    """

    code = "TX001"
    name = "first-marker"
    summary = "The name bug_one is used"
    message = "first marker found"
    marker = "bug_one"
    triggers = ("bug_one",)


class SecondMarker(_MarkerRule):
    """## What it does
    Reports the name `bug_two`.
    """

    code = "TX002"
    name = "second-marker"
    summary = "The name bug_two is used"
    message = "second marker found"
    marker = "bug_two"
    triggers = ("bug_two",)


class FixableMarker(Rule):
    """## What it does
    Reports the name `bug_fix` and offers to rename it `fixed`.
    """

    code = "TX003"
    name = "fixable-marker"
    summary = "The name bug_fix is used"
    message = "fixable marker found"
    triggers = ("bug_fix",)

    def check(self, model):
        for node in model.nodes(cst.Name):
            if node.value == "bug_fix":
                fix = CstFix("Rename to `fixed`", (Replacement(node, cst.Name("fixed")),), Applicability.SAFE)
                yield Finding(node, fix=fix)


class OffByDefault(_MarkerRule):
    """## What it does
    Reports the name `bug_ten`; off unless selected.
    """

    code = "TX010"
    name = "off-by-default"
    summary = "The name bug_ten is used"
    message = "tenth marker found"
    marker = "bug_ten"
    triggers = ("bug_ten",)
    default_enabled = False


class Crashing(Rule):
    code = "TX020"
    name = "crashing"
    summary = "Raises on any file that mentions crash_here"
    message = "never reported"
    triggers = ("crash_here",)

    def check(self, model):
        raise ValueError("boom")


RULES = [FirstMarker, SecondMarker, FixableMarker, OffByDefault, Crashing]
CATALOG = {rule.code: rule for rule in RULES}


def report_count(diagnostics, stream):
    stream.write(f"{len(diagnostics)} findings\n")


@hookimpl
def tapelint_rules():
    return RULES


@hookimpl
def tapelint_output_formats():
    return {"count": report_count}
