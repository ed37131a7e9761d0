"""Output formats. Each is a callable ``(diagnostics, stream, context) -> None`` in :data:`FORMATS`;
plugins add theirs through the ``tapelint_output_formats`` hook (called as ``(diagnostics, stream)``,
as the hook specification says)."""

from __future__ import annotations

from importlib import import_module
from typing import Any, Callable, Sequence, TextIO

from tapelint.diagnostics import Diagnostic
from tapelint.errors import ConfigError
from tapelint.reporting.context import ReportContext
from tapelint.reporting.text import report_concise, report_text

Formatter = Callable[[Sequence[Diagnostic], TextIO, ReportContext], None]


def _imported_when_used(module: str, name: str) -> Formatter:
    """A format whose module is imported on its first use: a run imports only the one it writes."""

    def formatter(diagnostics: Sequence[Diagnostic], stream: TextIO, ctx: ReportContext) -> None:
        getattr(import_module(f"tapelint.reporting.{module}"), name)(diagnostics, stream, ctx)

    formatter.__name__ = formatter.__qualname__ = name
    return formatter


FORMATS: dict[str, Formatter] = {
    "text": report_text,
    "concise": report_concise,
    "json": _imported_when_used("json_format", "report_json"),
    "json-lines": _imported_when_used("json_format", "report_json_lines"),
    "sarif": _imported_when_used("sarif", "report_sarif"),
    "github": _imported_when_used("github", "report_github"),
    "junit": _imported_when_used("junit", "report_junit"),
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


def __getattr__(name: str) -> Any:
    if name in ("report_statistics", "report_statistics_json"):
        return getattr(import_module("tapelint.reporting.statistics"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_FORMAT", "FORMATS", "HUMAN_FORMATS", "Formatter", "ReportContext", "available_formats",
    "report_statistics", "report_statistics_json",
]
