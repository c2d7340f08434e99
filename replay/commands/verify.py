"""`ledger verify [--since POS]`: recompute the hash chain, print its head, exit 5 if broken."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from adapters.store.verify import ChainReport, verify_store
from replay.errors import INTEGRITY, CliError
from replay.render import emit_doc
from replay.runtime import common_options, runtime, stderr_is_tty, translate_errors


@click.command()
@click.option(
    "--since",
    type=click.IntRange(min=1),
    default=1,
    metavar="POS",
    help="Verify from position POS, anchored on the stored hash of the row before it.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Processes checking ranges in parallel (default: up to 4 for long logs).",
)
@click.option(
    "--db-role",
    default=None,
    metavar="ROLE",
    help="PostgreSQL role to run as: reader (recommended), another kind or a role "
    "name (env LEDGER_DB_ROLE; default: the login role).",
)
@common_options
@click.pass_context
def verify(
    ctx: click.Context,
    since: int,
    jobs: int | None,
    db_role: str | None,
    fmt: str | None,
    store: str | None,
) -> None:
    """Recompute the hash chain of the event log and print its head.

    Exit 0 when every row links to the one before it; exit 5 naming the first
    bad position and why (a row changed, its hash rewritten, rows deleted, a row
    inserted or recorded out of order). Write the head down elsewhere (a daily
    report): deleting the newest rows is visible only against it.

    Runs as the reader role on PostgreSQL (`--db-role reader`); it only reads.
    """
    rt = runtime(ctx, fmt, store)
    with translate_errors():
        if stderr_is_tty():
            with _progress_bar() as (plan, advance):
                report = verify_store(
                    rt.store_url,
                    since=since,
                    role=db_role,
                    jobs=jobs,
                    progress=advance,
                    on_plan=plan,
                )
        else:
            report = verify_store(rt.store_url, since=since, role=db_role, jobs=jobs)
    _emit(report, rt.format)
    if report.first_break is not None:
        raise CliError(
            f"chain broken at position {report.first_break.position}: {report.first_break.reason}",
            INTEGRITY,
        )


def _emit(report: ChainReport, fmt: str) -> None:
    doc = report.as_dict()
    if fmt != "text":
        emit_doc(doc, fmt)
    elif report.ok:
        click.echo(
            f"chain intact: {report.events} events verified ({report.events_per_s:,} events/s)"
        )
        click.echo(f"head {report.head_position} {doc['head_hash']}")
    else:
        click.echo(f"chain BROKEN at position {doc['first_bad_position']}: {doc['reason']}")
        click.echo(f"head {report.head_position} {doc['head_hash']} (as stored; not trusted)")


@contextmanager
def _progress_bar() -> Iterator[tuple[Callable[[int, int], None], Callable[[int], None]]]:
    columns = (
        TextColumn("verify"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} events/s"),
        TimeElapsedColumn(),
    )
    progress = Progress(*columns, console=Console(stderr=True), transient=True)
    task = progress.add_task("verify", total=None, rate="-")

    def plan(first: int, head: int) -> None:
        # Started here, not before: the bar's refresh thread would rule out forking workers.
        progress.update(task, total=max(head - first + 1, 0))
        progress.start()

    def advance(n: int) -> None:
        progress.advance(task, n)
        t = progress.tasks[0]
        if t.elapsed:
            progress.update(task, rate=f"{t.completed / t.elapsed:,.0f}")

    try:
        yield plan, advance
    finally:
        progress.stop()
