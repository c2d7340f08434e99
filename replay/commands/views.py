"""Listing commands: `positions`, `orders`, `killswitch status` (read models), `quarantine`.

`positions`, `orders` and `killswitch status` read the projections (`proj_` tables)
after catching up the one they read, so a script that ingests and then reads sees
its own writes; `--no-catch-up` reads them as they are and says on stderr how far
behind they are. The rows are exactly those of `projections.views` over the
in-memory ledger (same columns, values and order).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import click
from sqlalchemy.exc import SQLAlchemyError

from adapters.projections import open_projection_store
from domain import events as ev
from projections.account_state import AccountStateError
from projections.base import ProjectionError, ProjectionFailed
from projections.readers import ReadModels, read
from projections.runner import ProjectionRunner, set_up
from projections.views import quarantine_row
from replay.errors import DATA, UNAVAILABLE, CliError
from replay.render import emit_doc, emit_rows
from replay.runtime import Runtime, common_options, runtime, translate_errors

T = TypeVar("T")

POSITION_COLUMNS = ["account", "symbol", "quantity", "avg_price", "realized_pnl", "commission"]
ORDER_COLUMNS = [
    "intent_id",
    "symbol",
    "side",
    "quantity",
    "status",
    "filled_quantity",
    "avg_fill_price",
]

no_catch_up_option = click.option(
    "--no-catch-up",
    is_flag=True,
    help="Read the projection as it is, without catching it up first (says how far behind).",
)


@contextmanager
def projection_errors() -> Iterator[None]:
    """Projection and database failures as one line and an exit code."""
    try:
        with translate_errors():
            yield
    except ProjectionFailed as e:
        raise CliError(str(e), DATA) from e
    except (ProjectionError, AccountStateError) as e:
        raise CliError(str(e), DATA) from e
    except SQLAlchemyError as e:
        raise CliError(f"store error: {e}", UNAVAILABLE) from e


def read_projection(rt: Runtime, name: str, no_catch_up: bool, fn: Callable[[ReadModels], T]) -> T:
    """Catch up projection `name` (unless told not to), then read it in one transaction."""
    with projection_errors():
        store = open_projection_store(rt.store_url)
        try:
            set_up(store.engine, [name])
            if no_catch_up:
                for p in read(store.read_engine, lambda m: m.progress(store.source)):
                    if p.projection == name:
                        click.echo(
                            f"ledger: projection {name} is {p.behind} events behind the "
                            f"log (at position {p.position}, log at {p.head})",
                            err=True,
                        )
            else:
                ProjectionRunner(store.engine, store.source, [name]).catch_up()
            return read(store.read_engine, fn)
        finally:
            store.close()


@click.command()
@no_catch_up_option
@common_options
@click.pass_context
def positions(ctx: click.Context, no_catch_up: bool, fmt: str | None, store: str | None) -> None:
    """Positions, one row per (account, symbol)."""
    rt = runtime(ctx, fmt, store)
    rows = read_projection(rt, "positions", no_catch_up, lambda m: m.positions())
    emit_rows(rows, rt.format, title="positions", columns=POSITION_COLUMNS)


@click.command()
@click.option("--open", "open_only", is_flag=True, help="Only working orders.")
@no_catch_up_option
@common_options
@click.pass_context
def orders(
    ctx: click.Context, open_only: bool, no_catch_up: bool, fmt: str | None, store: str | None
) -> None:
    """Every order in log order (only working ones with --open)."""
    rt = runtime(ctx, fmt, store)
    rows = read_projection(rt, "orders", no_catch_up, lambda m: m.orders(open_only=open_only))
    emit_rows(rows, rt.format, title="orders", columns=ORDER_COLUMNS)


@click.command("status")
@no_catch_up_option
@common_options
@click.pass_context
def killswitch_status(
    ctx: click.Context, no_catch_up: bool, fmt: str | None, store: str | None
) -> None:
    """State, since when, why, by whom and which trigger."""
    rt = runtime(ctx, fmt, store)
    emit_doc(read_projection(rt, "killswitch", no_catch_up, lambda m: m.killswitch()), rt.format)


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
    emit_rows(
        rows,
        rt.format,
        title="quarantined messages",
        columns=["log_position", "source", "position", "recorded_at", "raw", "errors"],
    )


def _attach_retry() -> None:
    # `quarantine retry` re-validates quarantined messages (adapters/kafka/quarantine_retry.py).
    from replay.commands.quarantine_retry import retry

    quarantine.add_command(retry)


_attach_retry()
