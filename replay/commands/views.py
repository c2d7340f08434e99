"""Listing commands: `positions`, `orders`, `quarantine`."""

from __future__ import annotations

import click

from domain import events as ev
from projections.views import order_rows, position_rows, quarantine_row
from replay.render import emit_rows
from replay.runtime import common_options, runtime


@click.command()
@common_options
@click.pass_context
def positions(ctx: click.Context, fmt: str | None, store: str | None) -> None:
    """Positions, one row per (account, symbol)."""
    rt = runtime(ctx, fmt, store)
    app = rt.open()
    emit_rows(position_rows(app.ledger), rt.format, title="positions",
              columns=["account", "symbol", "quantity", "avg_price", "realized_pnl",
                       "commission"])


@click.command()
@click.option("--open", "open_only", is_flag=True, help="Only working orders.")
@common_options
@click.pass_context
def orders(ctx: click.Context, open_only: bool, fmt: str | None, store: str | None) -> None:
    """Every order in log order (only working ones with --open)."""
    rt = runtime(ctx, fmt, store)
    app = rt.open()
    emit_rows(order_rows(app.ledger, open_only=open_only), rt.format, title="orders",
              columns=["intent_id", "symbol", "side", "quantity", "status", "filled_quantity",
                       "avg_fill_price"])


@click.group(invoke_without_command=True)
@common_options
@click.pass_context
def quarantine(ctx: click.Context, fmt: str | None, store: str | None) -> None:
    """What failed validation, kept whole: source, position (line/offset), raw text, errors."""
    if ctx.invoked_subcommand is not None:
        return
    rt = runtime(ctx, fmt, store)
    app = rt.open()
    topic = app.ledger_mapper.codec.topics()
    wanted = [t for t in topic if t.endswith(":MessageQuarantined")]
    rows = []
    for n in app.store.select_notifications(1, 10**9, topics=wanted):
        e = app.ledger_mapper.to_domain_event(n)
        if isinstance(e, ev.MessageQuarantined):
            rows.append(quarantine_row(n.id, e))
    emit_rows(rows, rt.format, title="quarantined messages",
              columns=["log_position", "source", "position", "recorded_at", "raw", "errors"])
