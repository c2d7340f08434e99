"""`ledger audit`: events in log order, each with both times and the source of its input.

`--order INTENT_ID` gives an order's whole lifecycle (intent, every report and fill,
corrections, denials, anomalies, held reports, position effects). Rows come from the
audit index read model (caught up first); `--from-log` reads the log instead and
cross-checks the index against it (exit 3 when they differ).
"""

from __future__ import annotations

from uuid import UUID

import click

from replay.commands.replay_cmd import NOW_HELP, event_types, log_session, reference_clock
from replay.errors import DATA
from replay.render import emit_rows, to_json
from replay.report.audit import COLUMNS, AuditQuery, compare, rows_from_log
from replay.report.window import BY, resolve_positions
from replay.runtime import common_options, runtime
from replay.timespec import TIME, TimeSpec, resolve


def _note(text: str) -> None:
    click.echo(f"ledger: {text}", err=True)


@click.command()
@click.option(
    "--order", "order", type=click.UUID, metavar="INTENT_ID", help="One order's full lifecycle."
)
@click.option("--symbol", help="Only events about this symbol.")
@click.option(
    "--type",
    "types",
    multiple=True,
    metavar="EVENT",
    help="Only events of this type, e.g. OrderDenied (repeatable).",
)
@click.option("--since", type=TIME, help="Events after this time or @POSITION.")
@click.option("--until", type=TIME, help="Events up to this time or @POSITION.")
@click.option(
    "--by",
    type=click.Choice(BY),
    default="recorded",
    show_default=True,
    help="Which time --since/--until refer to.",
)
@click.option("--operator", is_flag=True, help="Manual kill-switch actions (trips, resets).")
@click.option("--quarantined", is_flag=True, help="Messages that failed validation.")
@click.option(
    "--from-log",
    "from_log",
    is_flag=True,
    help="Read the log, and cross-check the audit index against it (exit 3 when they differ).",
)
@click.option("--now", "now", default=None, metavar="TIME", help=NOW_HELP)
@common_options
@click.pass_context
def audit(
    ctx: click.Context,
    order: UUID | None,
    symbol: str | None,
    types: tuple[str, ...],
    since: TimeSpec | None,
    until: TimeSpec | None,
    by: str,
    operator: bool,
    quarantined: bool,
    from_log: bool,
    now: str | None,
    fmt: str | None,
    store: str | None,
) -> None:
    """Audit the log: an order's lifecycle, a symbol, event types, a time window, the
    operators' kill-switch actions, quarantined messages (criteria combine with AND)."""
    # SQLAlchemy and the read models load only when an audit runs, not with every command.
    from replay.report.audit_index import AuditIndexUnavailable, rows_from_index

    rt = runtime(ctx, fmt, store)
    clock = reference_clock(now)
    kinds = event_types(types)
    differences: list[dict[str, object]] = []
    with log_session(rt) as (log, _config):
        specs = [resolve(s, clock) for s in (since, until) if s is not None]
        bounds = iter(resolve_positions(log, specs, by))
        after = next(bounds).position if since is not None else 0
        upto = next(bounds).position if until is not None else log.last_position()
        query = AuditQuery(order, symbol, kinds, after, upto, operator, quarantined)
        if from_log:
            rows = rows_from_log(log, query)
            try:
                differences = compare(rows, rows_from_index(rt.store_url, log, query, _note))
            except AuditIndexUnavailable as e:
                _note(f"no cross-check: {e}")
        else:
            try:
                rows = rows_from_index(rt.store_url, log, query, _note)
            except AuditIndexUnavailable as e:
                _note(f"{e}; reading the log")
                rows = rows_from_log(log, query)
    emit_rows(rows, rt.format, title="audit", columns=COLUMNS)
    if differences:
        _note(f"the audit index differs from the log in {len(differences)} place(s):")
        click.echo(to_json(differences), err=True)
        ctx.exit(DATA)
