"""`ledger rebuild [NAME...|--all]`: projections rebuilt from the log, blue/green.

Builds each named projection afresh under a new version next to the live one (the
live one keeps serving, `ledger serve` keeps following), then switches readers to
the new version atomically and drops the old one. Progress bar with events/s on
stderr when it is a terminal; a summary line on stdout (or a JSON/CSV document).
"""

from __future__ import annotations

import os
import time

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from adapters.projections import ProjectionStore, open_projection_store
from projections.base import UnknownProjection
from projections.rebuild import Rebuilt
from projections.rebuild import rebuild as rebuild_projections
from projections.registry import ALL, resolve_names
from projections.runner import DEFAULT_BATCH, Step
from replay.commands.views import projection_errors
from replay.errors import USAGE, CliError
from replay.render import emit_doc
from replay.runtime import common_options, runtime, stderr_is_tty

# Two processes build at once where two cores are (projections.build); one otherwise.
DEFAULT_JOBS = min(2, os.cpu_count() or 1)


@click.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--all", "all_", is_flag=True, help=f"Every projection ({', '.join(ALL)}).")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=DEFAULT_BATCH,
    show_default=True,
    help="Events per transaction.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1, max=2),
    default=DEFAULT_JOBS,
    show_default=True,
    help="Processes building at once (2: the audit index and counters in a second one).",
)
@common_options
@click.pass_context
def rebuild(
    ctx: click.Context,
    names: tuple[str, ...],
    all_: bool,
    batch_size: int,
    jobs: int,
    fmt: str | None,
    store: str | None,
) -> None:
    """Rebuild projections from the log under a new version, then swap (no downtime)."""
    rt = runtime(ctx, fmt, store)
    if bool(names) == all_:
        raise CliError(
            f"name projections to rebuild or give --all (known: {', '.join(ALL)})", USAGE
        )
    try:
        wanted = resolve_names(ALL if all_ else names)
    except UnknownProjection as e:
        raise CliError(str(e), USAGE) from e
    with projection_errors():
        pstore = open_projection_store(rt.store_url)
        try:
            started = time.perf_counter()
            if stderr_is_tty():
                result = _with_progress(pstore, wanted, batch_size, jobs)
            else:
                result = rebuild_projections(
                    pstore.engine,
                    pstore.source,
                    wanted,
                    batch_size=batch_size,
                    read_engine=pstore.read_engine,
                    jobs=jobs,
                )
            seconds = time.perf_counter() - started
        finally:
            pstore.close()
    rate = result.events / seconds if seconds > 0 else 0.0
    doc = {
        "projections": {
            n: {"from_version": old, "to_version": new} for n, (old, new) in result.versions.items()
        },
        "events": result.events,
        "events_read": result.read,
        "position": result.position,
        "seconds": round(seconds, 3),
        "events_per_second": round(rate),
    }
    if rt.format == "text":
        swaps = ", ".join(f"{n} v{old}->v{new}" for n, (old, new) in result.versions.items())
        click.echo(
            f"rebuilt {swaps}: {result.events} events up to position {result.position} "
            f"in {seconds:.2f} s ({rate:,.0f} events/s)"
        )
    else:
        emit_doc(doc, rt.format)


def _with_progress(
    pstore: ProjectionStore, names: list[str], batch_size: int, jobs: int
) -> Rebuilt:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} events/s"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(f"rebuilding {', '.join(names)}", total=None, rate="-")

        def advance(step: Step, head: int) -> None:
            elapsed = bar.tasks[task].elapsed or 0.0
            bar.update(
                task,
                total=head,
                completed=step.upto,
                rate=f"{step.upto / elapsed:,.0f}" if elapsed else "-",
            )

        return rebuild_projections(
            pstore.engine,
            pstore.source,
            names,
            batch_size=batch_size,
            progress=advance,
            read_engine=pstore.read_engine,
            jobs=jobs,
        )
