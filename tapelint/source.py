"""Reading source files: bytes -> text, honouring BOMs and PEP 263 coding cookies; compiling them quietly."""

from __future__ import annotations

import io
import tokenize
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass
class SourceError(Exception):
    """The file could not be read or decoded; reported as TL000."""

    message: str
    row: int = 1
    column: int = 1

    def __str__(self) -> str:
        return self.message


@dataclass
class SourceFile:
    """A file's bytes and text, with what is needed to write it back the same way."""

    data: bytes
    text: str
    encoding: str
    bom: bool


def read_source_file(path: Path) -> SourceFile:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read file: {exc.strerror or exc}") from None
    encoding = _encoding(data)
    bom = data.startswith(b"\xef\xbb\xbf")
    return SourceFile(data, decode(data), "utf-8" if encoding == "utf-8-sig" else encoding, bom)


def _encoding(data: bytes) -> str:
    try:
        return tokenize.detect_encoding(io.BytesIO(data).readline)[0]
    except SyntaxError as exc:  # unknown or conflicting coding cookie
        raise SourceError(f"cannot decode: {exc}") from None


def decode(data: bytes) -> str:
    if b"\x00" in data:
        row = data[: data.index(b"\x00")].count(b"\n") + 1
        raise SourceError("source contains a NUL byte", row)
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:  # unknown or conflicting coding cookie
        raise SourceError(f"cannot decode: {exc}") from None
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        row = data[: getattr(exc, "start", 0)].count(b"\n") + 1
        raise SourceError(f"cannot decode as {encoding}: {exc.reason if hasattr(exc, 'reason') else exc}", row) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def read_source(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read file: {exc.strerror or exc}") from None
    return decode(data)


@contextmanager
def quietly():
    """No warnings printed for the duration: CPython's parser and compiler warn about the user's code
    (an invalid escape, `x is "a"`, `"a"()`), and the linter's business is its findings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def compile_quietly(source: str, filename: str, flags: int = 0):
    """``compile(source, filename, "exec", flags)``, :func:`quietly`. Raises what ``compile`` raises."""
    with quietly():
        return compile(source, filename, "exec", flags, dont_inherit=True)
