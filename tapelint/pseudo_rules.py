"""TL000 and TL999: codes the pipeline reports when it cannot check a file, not rules that inspect
code. They are documented like rules (``tapelint rule TL000``, SARIF rule metadata) but never run,
never selected and never ignored: a file that was not checked must not pass silently.

They subclass :class:`Rule` only to share its documentation API; the registry never loads them (it
reads ``tapelint/rules/tlNNN_*.py`` modules).
"""

from __future__ import annotations

from tapelint.diagnostics import INTERNAL_ERROR_CODE, INTERNAL_ERROR_NAME, PARSE_ERROR_CODE, PARSE_ERROR_NAME
from tapelint.rules.base import Rule


class SyntaxErrorPseudoRule(Rule):
    """## What it does
    Reports a file that tapelint could not check: it cannot be read, its bytes cannot be decoded
    (a wrong or unknown PEP 263 coding cookie), or it is not valid Python syntax.

    ## Why is this bad?
    No rule can look at a file that does not parse, so any gradient-tape bug in it goes unreported.
    The interpreter will refuse the file too.

    It is reported in every file whose code makes a `tf.GradientTape` or uses `tf.custom_gradient`
    (a mention in a docstring or comment does not count), and in every file tapelint parses. Other
    files are parsed only where their text holds what some enabled rule looks for
    (`w = tf.Variable(...)` rebound from itself, a `layer.kernel` assigned): a syntax error in a file
    unrelated to autodiff is not reported. That pre-filter is what makes tapelint fast.

    ## How to silence it
    It is always reported, whatever `select` and `ignore` say. Fix the file, or exclude it
    (`extend-exclude` in the configuration).
    """

    code = PARSE_ERROR_CODE
    name = PARSE_ERROR_NAME
    summary = "A file could not be read, decoded or parsed, so no rule checked it"
    message = "SyntaxError"
    triggers = ()


class InternalErrorPseudoRule(Rule):
    """## What it does
    Reports that a rule (or tapelint itself) failed on a file. The other rules still ran and their
    findings are reported; only the failing rule's verdict on this file is missing. It is also
    reported where libcst, the parser the rules read, fails on a file that CPython's parser accepts
    (no rule ran on that file then; the message says so).

    ## Why is this bad?
    It is a bug in tapelint, in libcst or in the plugin that provides the rule, not in your code, but
    it means the file was not fully checked.

    ## What to do
    Run again with `--verbose` to get the traceback in the message, and report it to the package
    that provides the rule (`tapelint rules` lists it). Until it is fixed, the rule can be ignored
    for that file with `per-file-ignores`.
    """

    code = INTERNAL_ERROR_CODE
    name = INTERNAL_ERROR_NAME
    summary = "A rule (or libcst's parse) failed on a file; its findings for that file are missing"
    message = "internal error"
    triggers = ()


PSEUDO_RULES: dict[str, type[Rule]] = {r.code: r for r in (SyntaxErrorPseudoRule, InternalErrorPseudoRule)}
