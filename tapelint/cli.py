"""The ``tapelint`` command, with ruff's conventions.

    tapelint [check] [PATH ...]   lint (the default command)
    tapelint rules                the rule catalog
    tapelint rule CODE            one rule's documentation

Exit status: 0 no findings, 1 findings, 2 usage or configuration error (one line on stderr, never a
traceback; ``--verbose`` adds one for internal errors).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Mapping, Sequence, TextIO

from tapelint import __version__, config, discovery, registry, reporting
from tapelint.diagnostics import rule_url
from tapelint.errors import TapelintError, UsageError
from tapelint.pseudo_rules import PSEUDO_RULES
from tapelint import progress as _progress
from tapelint.reporting.style import color_enabled
from tapelint.rules.base import Rule

if TYPE_CHECKING:
    from tapelint import runner

PROG = "tapelint"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is a UsageError (one line, exit 2) rather than usage text."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Catch TensorFlow autodiff bugs before they cost a training run.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = commands.add_parser("check", help="lint files and directories (the default command)",
                                description="Lint Python files for gradient-tape bugs.")
    check.add_argument("paths", nargs="*", metavar="PATH", help="files or directories to lint (default: .)")
    rules = check.add_argument_group("rule selection (comma-separated codes, prefixes such as TL0, or ALL)")
    rules.add_argument("--select", action="append", metavar="CODES",
                       help="the rules to enable, replacing the configured selection")
    rules.add_argument("--extend-select", action="append", metavar="CODES", help="rules to enable in addition")
    rules.add_argument("--ignore", action="append", metavar="CODES", help="rules to disable")

    files = check.add_argument_group("file selection (comma-separated gitignore-style patterns)")
    files.add_argument("--exclude", action="append", metavar="PATTERNS",
                       help="paths to skip, replacing the configured and default exclusions")
    files.add_argument("--extend-exclude", action="append", metavar="PATTERNS", help="paths to skip in addition")
    _flag_pair(files, "respect-gitignore", "skip files that .gitignore files ignore (the default)",
               "lint files that .gitignore files ignore")
    _flag_pair(files, "force-exclude", "apply exclusions to paths named on the command line too (for pre-commit)")
    files.add_argument("--config", metavar="FILE",
                       help="configuration file (pyproject.toml, tapelint.toml) instead of the nearest one")
    files.add_argument("--isolated", action="store_true", help="ignore all configuration files")

    output = check.add_argument_group("output")
    output.add_argument("--output-format", metavar="FORMAT", default=reporting.DEFAULT_FORMAT,
                        help=f"{', '.join(reporting.FORMATS)}, or one a plugin adds (default: %(default)s)")
    output.add_argument("-o", "--output-file", metavar="FILE", help="write the report to FILE instead of stdout")
    output.add_argument("--statistics", action="store_true", help="count findings per rule instead of listing them")
    output.add_argument("--show-source", action="store_true", help="text format: show the source line of each finding")
    output.add_argument("-e", "--exit-zero", action="store_true", help="exit 0 even when there are findings")
    output.add_argument("-q", "--quiet", action="store_true", help="print findings only: no summary, no warnings")
    output.add_argument("-v", "--verbose", action="store_true",
                        help="log progress to stderr; put tracebacks in internal errors (TL999)")

    fixing = check.add_argument_group("fixing")
    fixing.add_argument("--fix", dest="fix", action="store_true", default=False,
                        help="apply the safe fixes, then report what is left")
    fixing.add_argument("--no-fix", dest="fix", action="store_false", help=argparse.SUPPRESS)
    fixing.add_argument("--unsafe-fixes", dest="unsafe_fixes", action="store_const", const=True, default=None,
                        help="also apply (with --fix) and show the fixes that may change behaviour")
    fixing.add_argument("--no-unsafe-fixes", dest="unsafe_fixes", action="store_const", const=False,
                        help=argparse.SUPPRESS)
    fixing.add_argument("--diff", action="store_true",
                        help="print the unified diff of what --fix would change, write nothing; exit 1 if any")
    fixing.add_argument("--fix-only", action="store_true",
                        help="apply the fixes and report nothing of what is left (exit 0)")

    speed = check.add_argument_group("speed")
    speed.add_argument("-j", "--jobs", type=_jobs, metavar="N",
                       help="worker processes (default: the number of usable CPU cores; 1: none)")
    speed.add_argument("--no-cache", action="store_true",
                       help="neither read nor write the cache of results (.tapelint_cache)")
    speed.add_argument("--cache-dir", metavar="DIR",
                       help="the cache directory (default: .tapelint_cache next to the configuration file, "
                            "or in the current directory; or $TAPELINT_CACHE_DIR)")
    speed.add_argument("--whole-files", action="store_true",
                       help="analyse every file that has a trigger word whole, not only the parts the rules "
                            "can see (slower; the findings are the same)")

    rules_cmd = commands.add_parser("rules", help="list the rule catalog")
    rules_cmd.add_argument("--output-format", choices=("text", "json"), default="text")
    rule_cmd = commands.add_parser("rule", help="show the documentation of one rule")
    rule_cmd.add_argument("rule", metavar="CODE", help="a rule code (TL001) or name")
    return parser


def _jobs(value: str) -> int:
    try:
        jobs = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if jobs < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {jobs}")
    return jobs


def _flag_pair(group, name: str, help: str, no_help: str | None = None) -> None:
    """``--NAME`` / ``--no-NAME``; neither given leaves the configuration's value (None)."""
    dest = name.replace("-", "_")
    group.add_argument(f"--{name}", dest=dest, action="store_const", const=True, default=None, help=help)
    group.add_argument(f"--no-{name}", dest=dest, action="store_const", const=False,
                       help=no_help or argparse.SUPPRESS)


COMMANDS = ("check", "rules", "rule")


def _with_default_command(argv: list[str]) -> list[str]:
    """``tapelint src`` means ``tapelint check src``, as with ruff's old form. A directory named like
    a command must then be written ``./rules`` or ``tapelint check rules``."""
    if argv and (argv[0] in COMMANDS or argv[0] in ("-h", "--help", "--version")):
        return argv
    return ["check", *argv]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = "-v" in argv or "--verbose" in argv
    _tolerate_unencodable_output()
    try:
        args = build_parser().parse_args(_with_default_command(argv))
        handler: Callable[[argparse.Namespace], int] = {
            "check": command_check, "rules": command_rules, "rule": command_rule,
        }[args.command]
        return handler(args)
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else 0
    except TapelintError as exc:
        _error(str(exc))
        return 2
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except BrokenPipeError:  # `tapelint | head`: the reader left; stop quietly
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 2
    except Exception as exc:  # a bug in tapelint: still one line, and exit 2
        if verbose:
            import traceback

            traceback.print_exc()
        hint = "" if verbose else " (run with --verbose for a traceback)"
        _error(f"internal error: {type(exc).__name__}: {exc}{hint}")
        return 2


def _error(message: str) -> None:
    # One line, whatever the message holds.
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)


def _log(args: argparse.Namespace, message: str) -> None:
    if args.verbose:
        print(f"{PROG}: {message}", file=sys.stderr)


def _tolerate_unencodable_output() -> None:
    # A message may quote source text the terminal's encoding cannot show; never crash on it.
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            with contextlib.suppress(Exception):
                stream.reconfigure(errors="backslashreplace")


def full_catalog(catalog: Mapping[str, type[Rule]]) -> dict[str, type[Rule]]:
    return dict(sorted({**PSEUDO_RULES, **catalog}.items()))


# -- check ------------------------------------------------------------------------------------------------
def command_check(args: argparse.Namespace) -> int:
    from tapelint import engine, manifest

    cwd = Path.cwd()
    fixing = args.fix or args.diff or args.fix_only
    cache_dir = None if args.no_cache else _cache_dir(args, cwd)
    # Rule metadata from the cache when it is current: a run that lints nothing imports no rule.
    catalog = registry.all_rules() if fixing else manifest.catalog(cache_dir)
    formats = reporting.available_formats(registry.plugin_output_formats())
    fmt = args.output_format
    if fmt not in formats:
        raise UsageError(f"unknown output format {fmt!r} (choose from {', '.join(formats)})")
    if args.statistics and fmt not in ("text", "concise", "json", "json-lines"):
        raise UsageError(f"--statistics works with the text, concise, json and json-lines formats, not {fmt!r}")

    overrides = config.Overrides(
        select=args.select, ignore=args.ignore, extend_select=args.extend_select, exclude=args.exclude,
        extend_exclude=args.extend_exclude, respect_gitignore=args.respect_gitignore,
        force_exclude=args.force_exclude,
    )
    settings = config.resolve_settings(overrides, catalog, cwd=cwd, config_file=args.config,
                                       isolated=args.isolated, verbose=args.verbose)
    _log(args, f"configuration: {settings.config_path or 'none (defaults)'}")
    _log(args, f"rules enabled: {', '.join(sorted(settings.enabled)) or 'none'}")

    started = time.perf_counter()
    warn = (lambda message: None) if args.quiet else discovery.print_warning
    paths = args.paths or ["."]
    options = engine.Options(jobs=args.jobs, cache_dir=cache_dir, partial=not args.whole_files)
    if not fixing:  # (a run over a tree: its workers start while the tree is walked)
        options.workers = engine.start_workers(paths, settings, options)
    try:
        files = discovery.discover(paths, settings, warn=warn)
    except BaseException:
        if options.workers is not None:
            options.workers.close()
        raise
    if not files:
        warn("no Python files found under the given paths")
    fixed = None
    if fixing:
        from tapelint import runner

        result = runner.fix(files, settings, unsafe=bool(args.unsafe_fixes), write=not args.diff)
        for message in result.errors:
            print(f"{PROG}: warning: {' '.join(message.split())}", file=sys.stderr)
        _log(args, f"fixed {len(files)} files in {time.perf_counter() - started:.2f}s")
        if args.diff or args.fix_only:
            return _report_fix_only(args, result)
        diagnostics, fixed = result.diagnostics, result.fixed
    else:
        stats = engine.Stats()
        progress = None
        if len(files) >= 100 and _progress.wanted(sys.stderr, quiet=args.quiet, verbose=args.verbose):
            progress = _progress.Progress(len(files), sys.stderr)
        options.progress, options.stats = progress, stats
        diagnostics = engine.run(files, settings, options)
        _log(args, f"{stats.cached} files from the cache ({cache_dir or 'cache off'}), {stats.read} read, "
                   f"{stats.analysed} analysed, {stats.workers or 'no'} worker processes")
    _log(args, f"checked {len(files)} files in {time.perf_counter() - started:.2f}s")

    if args.statistics:
        report = reporting.report_statistics_json if fmt.startswith("json") else reporting.report_statistics
    else:
        report = formats[fmt]
    with _output(args.output_file) as stream:
        ctx = reporting.ReportContext(
            cwd=cwd,
            catalog=full_catalog(catalog),
            version=__version__,
            color=fmt in reporting.HUMAN_FORMATS and args.output_file is None and color_enabled(stream),
            quiet=args.quiet,
            show_source=args.show_source,
            fixed=fixed,
            unsafe_fixes=args.unsafe_fixes,
        )
        report(diagnostics, stream, ctx)
    return 1 if diagnostics and not args.exit_zero else 0


def _cache_dir(args: argparse.Namespace, cwd: Path) -> Path:
    """``--cache-dir``, else $TAPELINT_CACHE_DIR, else ``.tapelint_cache`` in the project root (the
    directory of the configuration file in use, or the current directory)."""
    from tapelint.cache import default_directory

    if args.cache_dir:
        return (cwd / args.cache_dir).absolute()
    if args.config:
        root = (cwd / args.config).parent
    elif args.isolated:
        root = cwd
    else:
        found = config.find_config(cwd)
        root = found.parent if found is not None else cwd
    return default_directory(root)


def _report_fix_only(args: argparse.Namespace, result: "runner.FixResult") -> int:
    """``--diff``: the diffs on stdout, "Would fix N errors." on stderr, exit 1 when there is a diff.
    ``--fix-only``: "Fixed N errors." and exit 0."""
    from tapelint.reporting.text import fix_only_summary, fixable_counts

    hidden = fixable_counts(result.diagnostics, args.unsafe_fixes)[1] if args.unsafe_fixes is None else 0
    line = fix_only_summary(result.fixed, hidden, applied=not args.diff)
    if args.diff:
        with _output(args.output_file) as stream:
            stream.write("".join(result.diffs))
        if line and not args.quiet:
            print(line, file=sys.stderr)
        return 1 if result.diffs and not args.exit_zero else 0
    if line and not args.quiet:
        print(line, file=sys.stdout)
    return 0


@contextlib.contextmanager
def _output(path: str | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    try:
        stream = open(path, "w", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--output-file: cannot write {path}: {exc.strerror or exc}") from None
    with stream:
        yield stream


# -- rules / rule --------------------------------------------------------------------------------------
def _default_label(code: str, rule: type[Rule]) -> str:
    if code in PSEUDO_RULES:
        return "always"
    return "on" if rule.default_enabled else "off"


def command_rules(args: argparse.Namespace) -> int:
    catalog = full_catalog(registry.all_rules())
    if args.output_format == "json":
        rows = [
            {
                "code": code, "name": rule.name, "origin": rule.origin, "summary": getattr(rule, "summary", ""),
                "default": _default_label(code, rule), "url": rule_url(code),
            }
            for code, rule in catalog.items()
        ]
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    table = [("CODE", "NAME", "ORIGIN", "DEFAULT", "SUMMARY")]
    table += [(code, rule.name, rule.origin, _default_label(code, rule), getattr(rule, "summary", ""))
              for code, rule in catalog.items()]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        sys.stdout.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[4] + "\n")
    return 0


def command_rule(args: argparse.Namespace) -> int:
    catalog = full_catalog(registry.all_rules())
    wanted = args.rule.strip()
    rule = catalog.get(wanted.upper()) or next((r for r in catalog.values() if r.name == wanted), None)
    if rule is None:
        hint = config.did_you_mean(wanted.upper(), catalog) or config.did_you_mean(
            wanted, [r.name for r in catalog.values()])
        raise UsageError(f"unknown rule {wanted!r}{hint}; `tapelint rules` lists them")
    notes = [f"Provided by the `{rule.origin}` package."]
    if rule.code in PSEUDO_RULES:
        notes.append("Always reported; cannot be selected or ignored.")
    elif not rule.default_enabled:
        notes.append(f"Not enabled by default: turn it on with `--extend-select {rule.code}`.")
    body = rule.docs() or getattr(rule, "summary", "")
    sys.stdout.write(f"# {rule.name} ({rule.code})\n\n{' '.join(notes)}\n\n{body}\n")
    return 0
