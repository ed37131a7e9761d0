"""Output formats. Each is a callable ``(diagnostics, stream, context) -> None`` in :data:`FORMATS`;
plugins add theirs through the ``tapelint_output_formats`` hook (called as ``(diagnostics, stream)``,
as the hook specification says)."""

from __future__ import annotations

from typing import Callable, Sequence, TextIO

from tapelint.diagnostics import Diagnostic
from tapelint.errors import ConfigError
from tapelint.reporting.context import ReportContext
from tapelint.reporting.github import report_github
from tapelint.reporting.json_format import report_json, report_json_lines
from tapelint.reporting.junit import report_junit
from tapelint.reporting.sarif import report_sarif
from tapelint.reporting.statistics import report_statistics, report_statistics_json
from tapelint.reporting.text import report_concise, report_text

Formatter = Callable[[Sequence[Diagnostic], TextIO, ReportContext], None]

FORMATS: dict[str, Formatter] = {
    "text": report_text,
    "concise": report_concise,
    "json": report_json,
    "json-lines": report_json_lines,
    "sarif": report_sarif,
    "github": report_github,
    "junit": report_junit,
}
DEFAULT_FORMAT = "text"
# Formats whose output is text for people; the others are for machines and never coloured.
HUMAN_FORMATS = frozenset({"text", "concise"})


def available_formats(plugin_formats: dict[str, object] | None = None) -> dict[str, Formatter]:
    """Built-in formats plus plugins'. A plugin may not replace a built-in format."""
    formats = dict(FORMATS)
    for name, fn in (plugin_formats or {}).items():
        if name in FORMATS:
            raise ConfigError(f"a plugin's output format {name!r} clashes with the built-in format")
        if not callable(fn):
            raise ConfigError(f"a plugin's output format {name!r} is not callable")
        formats[name] = _plugin_adapter(fn)
    return formats


def _plugin_adapter(fn: Callable) -> Formatter:
    def formatter(diagnostics: Sequence[Diagnostic], stream: TextIO, ctx: ReportContext) -> None:
        fn(diagnostics, stream)

    return formatter


__all__ = [
    "DEFAULT_FORMAT", "FORMATS", "HUMAN_FORMATS", "Formatter", "ReportContext", "available_formats",
    "report_statistics", "report_statistics_json",
]
