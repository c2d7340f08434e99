"""Readable text for replay documents: rich tables on stdout, a fixed width when piped
(so that output is the same on every machine and in tests)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from replay.render import to_json

POSITION_COLUMNS = ("account", "symbol", "quantity", "avg_price", "realized_pnl", "commission")
ORDER_COLUMNS = (
    "intent_id",
    "symbol",
    "side",
    "quantity",
    "status",
    "filled_quantity",
    "avg_fill_price",
)
TIMELINE_COLUMNS = (
    "position",
    "recorded_at",
    "occurred_at",
    "aggregate",
    "event",
    "summary",
    "changes",
)


def console() -> Console:
    tty = sys.stdout.isatty()
    return Console(
        file=sys.stdout,
        width=None if tty else 200,
        soft_wrap=False,
        highlight=False,
        emoji=False,
        markup=False,
        color_system="auto" if tty else None,
    )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return to_json(value).replace("\n", "").replace("  ", "") if value else ""
    return str(value)


def _changes(changes: dict[str, list[Any]]) -> str:
    return "\n".join(
        f"{k}: {_cell(b) or '-'} -> {_cell(a) or '-'}" for k, (b, a) in changes.items()
    )


def table(title: str, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> Table:
    t = Table(title=title, title_justify="left", show_lines=False)
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*[_changes(r[c]) if c == "changes" else _cell(r.get(c)) for c in columns])
    return t


def fields_table(title: str, doc: dict[str, Any]) -> Table:
    t = Table(title=title, title_justify="left", show_header=False)
    t.add_column("field")
    t.add_column("value", overflow="fold")
    for k, v in doc.items():
        t.add_row(k, _cell(v))
    return t


def print_state(doc: dict[str, Any], title: str) -> None:
    out = console()
    out.print(f"== {title}")
    out.print(fields_table("kill switch", doc["kill_switch"]))
    out.print(fields_table("account", doc["account"]))
    if doc["positions"]:
        out.print(table("positions", doc["positions"], POSITION_COLUMNS))
    else:
        out.print("no positions")
    if doc["orders"]:
        out.print(table("orders", doc["orders"], ORDER_COLUMNS))
    else:
        out.print("no orders")


def print_timeline(rows: Sequence[dict[str, Any]], title: str) -> None:
    out = console()
    out.print(f"== {title}")
    if rows:
        out.print(table("", rows, TIMELINE_COLUMNS))
    else:
        out.print("no events")


def diff_rows(diff: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for section in ("kill_switch", "account"):
        for k, (b, a) in diff[section].items():
            rows.append({"what": section, "field": k, "before": b, "after": a})
    for section in ("positions", "orders"):
        for key, changes in diff[section].items():
            for k, (b, a) in changes.items():
                rows.append({"what": f"{section[:-1]} {key}", "field": k, "before": b, "after": a})
    return rows


def at_title(bound: dict[str, Any]) -> str:
    spec, position = bound["spec"], bound["position"]
    return f"state at {spec}" if spec == f"@{position}" else f"state at {spec} (@{position})"


def print_window(doc: dict[str, Any]) -> None:
    since, until = doc["since"], doc["until"]
    print_state(doc["state_at_since"], at_title(since))
    print_timeline(
        doc["timeline"],
        f"timeline @{since['position']} -> @{until['position']} "
        f"({len(doc['timeline'])} events, by {doc['by']} time)",
    )
    print_state(doc["state_at_until"], at_title(until))
    rows = diff_rows(doc["diff"])
    out = console()
    out.print("== difference")
    if rows:
        out.print(table("", rows, ("what", "field", "before", "after")))
    else:
        out.print("no difference")
