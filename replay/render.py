"""Rendering rows and documents as text (rich), JSON or CSV, on stdout."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Sequence
from typing import Any

import click
import orjson
from rich.console import Console
from rich.table import Table

FORMATS = ("text", "json", "csv")


def _default(obj: Any) -> Any:
    data = getattr(obj, "prerendered_json", None)
    if isinstance(data, bytes):  # rows a snapshot rendered in this very layout
        return orjson.Fragment(data)
    return str(obj)


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
