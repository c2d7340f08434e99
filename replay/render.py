"""Rendering rows and documents as text (rich), JSON or CSV, on stdout."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, BinaryIO

import click
import orjson
from rich.console import Console
from rich.table import Table

FORMATS = ("text", "json", "csv")


def _default(obj: Any) -> Any:
    pieces = getattr(obj, "prerendered_pieces", None)
    if pieces is not None:  # rows a snapshot rendered in this very layout
        return orjson.Fragment(b"".join(pieces()))
    return str(obj)


# Marks where write_json splices pre-rendered rows in: a byte orjson never writes itself
# (it escapes every control character inside strings, and writes none outside them).
_SPLICE = b"\x01"


class RenderError(RuntimeError):
    """The document could not be written as rendered (a bug, never the data's fault)."""


def write_json(doc: Any, out: BinaryIO) -> None:
    """`to_json_bytes(doc)` and a newline, written to `out` in pieces: pre-rendered rows
    (tens of megabytes in a state document at a million events) go out a piece at a
    time as their source yields them, never joined into one document first."""
    spliced: list[Callable[[], Iterable[bytes | memoryview]]] = []

    def default(obj: Any) -> Any:
        pieces = getattr(obj, "prerendered_pieces", None)
        if pieces is not None:
            spliced.append(pieces)
            return orjson.Fragment(_SPLICE)
        return str(obj)

    pieces = orjson.dumps(doc, default=default, option=orjson.OPT_INDENT_2).split(_SPLICE)
    if len(pieces) != len(spliced) + 1:
        raise RenderError(f"{len(pieces) - 1} splice marks for {len(spliced)} runs of rows")
    for piece, rows in zip(pieces, spliced, strict=False):
        out.write(piece)
        for chunk in rows():
            out.write(chunk)
    out.write(pieces[-1] + b"\n")


def to_json(doc: Any) -> str:
    return to_json_bytes(doc).decode()


def to_json_bytes(doc: Any) -> bytes:
    """`to_json` as UTF-8 bytes, for documents too large to decode and encode again."""
    return orjson.dumps(doc, default=_default, option=orjson.OPT_INDENT_2)


def emit_rows(
    rows: Sequence[dict[str, Any]],
    fmt: str,
    *,
    title: str = "",
    columns: Sequence[str] | None = None,
) -> None:
    cols = list(columns or (rows[0].keys() if rows else []))
    if fmt == "json":
        click.echo(to_json(list(rows)))
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(cols)
        for r in rows:
            writer.writerow(["" if r.get(c) is None else _cell(r.get(c)) for c in cols])
        click.echo(buf.getvalue(), nl=False)
    else:
        if not rows:
            click.echo(f"no {title or 'rows'}")
            return
        table = Table(title=title or None, show_lines=False)
        for c in cols:
            table.add_column(c, overflow="fold")
        for r in rows:
            table.add_row(*["" if r.get(c) is None else _cell(r.get(c)) for c in cols])
        _console().print(table)


def emit_doc(doc: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        click.echo(to_json(doc))
    elif fmt == "csv":
        emit_rows([doc], "csv")
    else:
        width = max((len(k) for k in doc), default=0)
        for k, v in doc.items():
            click.echo(f"{k.ljust(width)}  {'' if v is None else _cell(v)}")


def _cell(v: Any) -> str:
    if isinstance(v, list | dict):
        return orjson.dumps(v, default=_default).decode()
    return str(v)


def _console() -> Console:
    return Console(file=sys.stdout, width=200 if not sys.stdout.isatty() else None, soft_wrap=False)
