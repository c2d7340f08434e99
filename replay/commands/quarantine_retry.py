"""`ledger quarantine retry [--id LOG_POSITION ...|--all]` (attached to the `quarantine` group)."""

from __future__ import annotations

import click

from adapters.kafka.quarantine_retry import QuarantineRecordNotFound, retry_quarantined
from replay.errors import DATA, USAGE, CliError
from replay.render import emit_rows
from replay.runtime import common_options, runtime, translate_errors


@click.command("retry")
@click.option(
    "--id",
    "ids",
    type=click.IntRange(min=1),
    multiple=True,
    metavar="LOG_POSITION",
    help="A quarantine record, by the log_position `ledger quarantine` lists (repeatable).",
)
@click.option("--all", "retry_all", is_flag=True, help="Every quarantine record.")
@common_options
@click.pass_context
def retry(
    ctx: click.Context, ids: tuple[int, ...], retry_all: bool, fmt: str | None, store: str | None
) -> None:
    """Re-validate quarantined messages with the current contracts; apply those that pass.

    Each is applied once, as input from `retry:<log_position>`, so its events name
    the quarantine record they came from, and retrying again changes nothing.
    Results: applied, held (waiting for its intent), anomaly (refused by the order),
    duplicate, already_retried, still_invalid (with the errors). Exits 3 when any
    record is still invalid.
    """
    if bool(ids) == retry_all:
        raise CliError("give --id LOG_POSITION (repeatable) or --all", USAGE)
    rt = runtime(ctx, fmt, store)
    app = rt.open()
    with translate_errors():
        try:
            results = retry_quarantined(app, None if retry_all else ids)
        except QuarantineRecordNotFound as e:
            raise CliError(str(e), USAGE) from e
    emit_rows(
        [r.as_row() for r in results],
        rt.format,
        title="quarantine retry",
        columns=["log_position", "source", "position", "result", "errors"],
    )
    if any(r.result == "still_invalid" for r in results):
        ctx.exit(DATA)
