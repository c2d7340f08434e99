"""`ledger reconcile --broker ibkr|sim`: the ledger against the broker, as of now.

Exit codes: 0 the ledger and the broker agree (or `--apply` booked every
break away); 3 breaks remain; 4 the broker is unreachable; 2 a usage or
configuration error (wrong account, paper/live port mismatch, bad flag).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import click

from adapters.broker.port import BrokerConfigError, BrokerUnreachable
from adapters.reconcile import ReconcileReport
from adapters.reconcile import reconcile as run_reconcile
from adapters.routing import BROKERS, open_broker
from replay.errors import DATA, UNAVAILABLE, USAGE, CliError
from replay.render import emit_doc, emit_rows
from replay.runtime import common_options, runtime, translate_errors

COLUMNS = ["kind", "item", "key", "symbol", "ledger", "broker", "detail", "remedy"]


def _parse_since(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError as e:
        raise click.BadParameter(f"not an ISO-8601 time: {value!r}") from e
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


@click.command()
@click.option(
    "--broker",
    "broker_name",
    type=click.Choice(BROKERS),
    required=True,
    help="The broker to reconcile against.",
)
@click.option("--host", default=None, help="IBKR: TWS/Gateway host (env LEDGER_IBKR_HOST).")
@click.option("--port", type=int, default=None, help="IBKR: API port (env LEDGER_IBKR_PORT).")
@click.option(
    "--client-id", type=int, default=None, help="IBKR: API client id (env LEDGER_IBKR_CLIENT_ID)."
)
@click.option(
    "--account",
    default=None,
    help="The broker account (env LEDGER_IBKR_ACCOUNT; sim: LEDGER_ACCOUNT).",
)
@click.option(
    "--since",
    callback=_parse_since,
    default=None,
    metavar="TIME",
    help="Executions since TIME (ISO-8601, UTC when no zone; default 00:00 UTC today).",
)
@click.option(
    "--apply", "apply_", is_flag=True, help="Book what the broker proves, as events from this run."
)
@common_options
@click.pass_context
def reconcile(
    ctx: click.Context,
    broker_name: str,
    host: str | None,
    port: int | None,
    client_id: int | None,
    account: str | None,
    since: datetime | None,
    apply_: bool,
    fmt: str | None,
    store: str | None,
) -> None:
    """Compare positions, executions (corrections grouped) and orders with the broker.

    Each break is listed with the evidence of both sides. With --apply, missed
    fills, corrections, commissions, statuses and orders first seen at the
    broker are booked through the ledger's normal path; a second --apply books
    nothing new. Every run is recorded in the ledger.
    """
    rt = runtime(ctx, fmt, store)
    app = rt.open()
    with translate_errors():
        try:
            broker = open_broker(
                broker_name, app, host=host, port=port, client_id=client_id, account=account
            )
            report = asyncio.run(
                run_reconcile(app, broker, broker_name=broker_name, since=since, apply=apply_)
            )
        except BrokerConfigError as e:
            raise CliError(f"{broker_name}: {e}", USAGE) from e
        except BrokerUnreachable as e:
            raise CliError(f"{broker_name} unreachable: {e}", UNAVAILABLE) from e
    for warning in report.warnings:
        click.echo(f"ledger: warning: {warning}", err=True)
    _render(report, rt.format)
    if report.remaining.breaks:
        ctx.exit(DATA)


def _render(report: ReconcileReport, fmt: str) -> None:
    if fmt == "json":
        emit_doc(_document(report), fmt)
        return
    rows = [{"run_id": report.run_id, **row} for row in report.rows()]
    if fmt == "csv":
        emit_rows(rows, fmt, columns=["run_id", *COLUMNS, "account", "resolved"])
        return
    click.echo(
        f"reconcile {report.run_id}: {report.broker} account {report.account}, "
        f"executions since {_iso(report.window_start)}"
    )
    compared = ", ".join(f"{k} {v}" for k, v in report.found.compared.items())
    click.echo(f"compared: {compared}")
    if rows:
        for row in rows:
            row["ledger"] = _pairs(row["ledger"])
            row["broker"] = _pairs(row["broker"])
        emit_rows(rows, fmt, title="breaks", columns=[*COLUMNS, *(["resolved"] * report.applied)])
    click.echo(_summary(report))


def _document(report: ReconcileReport) -> dict[str, Any]:
    return {
        "run_id": report.run_id,
        "broker": report.broker,
        "account": report.account,
        "as_of": _iso(report.as_of),
        "window_start": _iso(report.window_start),
        "result": report.result,
        "applied": report.applied,
        "counts": report.counts(),
        "breaks": report.rows(),
    }


def _summary(report: ReconcileReport) -> str:
    if not report.breaks:
        return f"result: agreed: the ledger and {report.broker} agree"
    found = ", ".join(f"{k} {n}" for k, n in report.counts()["breaks"].items() if n)
    text = f"result: {report.result}: {len(report.breaks)} breaks ({found})"
    if report.applied:
        text += f"; booked {report.booking.booked} messages, {len(report.remaining.breaks)} remain"
    return text


def _pairs(evidence: dict[str, str | None]) -> str:
    return ", ".join(f"{k}={v}" for k, v in evidence.items() if v is not None)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")
