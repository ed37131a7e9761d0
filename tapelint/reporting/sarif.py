"""SARIF 2.1.0 (what GitHub code scanning uploads): one run, the rule catalog with its docs, and a
result per diagnostic with a URI relative to the checkout (``%SRCROOT%``)."""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePath
from typing import Any, Sequence, TextIO
from urllib.parse import quote

from tapelint.diagnostics import Diagnostic, rule_url
from tapelint.reporting.context import ReportContext

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/tapelint/tapelint"
SRCROOT = "%SRCROOT%"


def _rule(code: str, rule: type) -> dict[str, Any]:
    summary = getattr(rule, "summary", "") or rule.name
    docs = rule.docs() or summary
    # The "What it does" paragraph as the description; the whole docs as help (what GitHub shows).
    what = re.search(r"^## What it does\s*\n(.*?)(?=^## |\Z)", docs, re.M | re.S)
    return {
        "id": code,
        "name": rule.name,
        "shortDescription": {"text": summary},
        "fullDescription": {"text": " ".join(what.group(1).split()) if what else summary},
        "help": {"text": docs, "markdown": docs},
        "helpUri": rule_url(code),
        "defaultConfiguration": {"level": "error"},
        "properties": {"origin": getattr(rule, "origin", "tapelint")},
    }


def _artifact(filename: str) -> dict[str, str]:
    path = PurePath(filename)
    if path.is_absolute():  # outside the current directory: no base to be relative to
        return {"uri": Path(path).as_uri()}
    return {"uri": quote(path.as_posix()), "uriBaseId": SRCROOT}


def to_sarif(diagnostics: Sequence[Diagnostic], ctx: ReportContext) -> dict[str, Any]:
    catalog = dict(ctx.catalog)
    # A plugin rule unknown to the catalog still gets a descriptor, so every ruleIndex is valid.
    codes = sorted(set(catalog) | {d.code for d in diagnostics})
    index = {code: i for i, code in enumerate(codes)}
    rules = []
    for code in codes:
        if code in catalog:
            rules.append(_rule(code, catalog[code]))
        else:
            name = next(d.name for d in diagnostics if d.code == code)
            rules.append({"id": code, "name": name, "shortDescription": {"text": name}, "helpUri": rule_url(code)})
    results = []
    for d in diagnostics:
        location: dict[str, Any] = {
            "physicalLocation": {
                "artifactLocation": _artifact(d.filename),
                "region": {
                    "startLine": d.location.row,
                    "startColumn": d.location.column,
                    "endLine": d.end_location.row,
                    "endColumn": d.end_location.column,
                },
            },
        }
        result: dict[str, Any] = {
            "ruleId": d.code,
            "ruleIndex": index[d.code],
            "level": "error",
            "message": {"text": d.message},
            "locations": [location],
        }
        if d.cell is not None:
            # A notebook: the region's lines count from the top of the cell, which the logical
            # location names; `properties.cell` carries its number for tools.
            location["logicalLocations"] = [{"name": f"cell {d.cell}", "kind": "notebookCell"}]
            result["properties"] = {"cell": d.cell}
        results.append(result)
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "tapelint",
                "version": ctx.version,
                "semanticVersion": ctx.version,
                "informationUri": INFORMATION_URI,
                "rules": rules,
            }},
            "originalUriBaseIds": {SRCROOT: {"uri": ctx.cwd.as_uri().rstrip("/") + "/"}},
            # libcst columns count code points, not UTF-16 units (SARIF's default).
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }


def report_sarif(diagnostics: Sequence[Diagnostic], stream: TextIO, ctx: ReportContext) -> None:
    json.dump(to_sarif(diagnostics, ctx), stream, indent=2, ensure_ascii=False)
    stream.write("\n")
