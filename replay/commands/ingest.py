"""`ledger ingest PATH...`: JSONL files of contract messages into the ledger."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from adapters.files import InputFileError, count_lines, read_jsonl
from domain.application import BatchSummary, LedgerApplication
from replay.errors import DATA, USAGE, CliError
from replay.render import emit_doc
from replay.runtime import common_options, runtime, stderr_is_tty, translate_errors


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--strict", is_flag=True, help="Exit 3 when anything was quarantined or refused (an anomaly)."
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Messages per transaction (env LEDGER_BATCH_SIZE; default 5000).",
)
@common_options
@click.pass_context
def ingest(
    ctx: click.Context,
    paths: tuple[Path, ...],
    strict: bool,
    batch_size: int | None,
    fmt: str | None,
    store: str | None,
) -> None:
    """Ingest JSONL files of contract messages (any mix of types).

    Invalid lines are quarantined with their file, line, text and errors; valid
    messages the ledger refuses become anomaly events; duplicates change nothing.
    Re-ingesting a file applies nothing twice.
    """
    rt = runtime(ctx, fmt, store)
    for p in paths:
        if not p.is_file():
            raise CliError(f"no such file: {p}", USAGE)
    app = rt.open()
    size = batch_size or rt.settings.batch_size
    total = BatchSummary()
    with translate_errors():
        try:
            if stderr_is_tty():
                total = _with_progress(app, paths, size)
            else:
                for p in paths:
                    total.add(app.ingest(read_jsonl(p), size))
        except InputFileError as e:
            raise CliError(str(e), USAGE) from e
    summary = {
        "read": total.read,
        "applied": total.applied + total.held,
        "duplicates": total.duplicates,
        "anomalies": total.anomalies,
        "quarantined": total.quarantined,
    }
    if rt.format == "text":
        held = f" (held for their intent: {total.held})" if total.held else ""
        click.echo(
            f"read {total.read}, applied {summary['applied']}{held}, "
            f"duplicates {total.duplicates}, anomalies {total.anomalies}, "
            f"quarantined {total.quarantined}; {total.events} events written"
        )
    else:
        emit_doc(summary, rt.format)
    if strict and (total.quarantined or total.anomalies):
        ctx.exit(DATA)


def _with_progress(app: LedgerApplication, paths: tuple[Path, ...], size: int) -> BatchSummary:
    total = BatchSummary()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} msg/s"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        for p in paths:
            task = progress.add_task(p.name, total=count_lines(p), rate="-")

            def advance(n: int, task: TaskID = task) -> None:
                progress.advance(task, n)
                t = progress._tasks[task]
                if t.elapsed:
                    progress.update(task, rate=f"{t.completed / t.elapsed:,.0f}")

            total.add(app.ingest(read_jsonl(p), size, progress=advance))
    return total
