"""`ledger replay`: the state at T, every event from T to U, the state at U, the diff.

Also the pieces the other log-reading commands (`postmortem`, `audit`) share: opening
the log for reading, the reference clock, and the filter options.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from uuid import UUID

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from adapters.clock import SystemClock
from domain.clock import Clock, FixedClock
from domain.errors import EventDecodingError
from domain.ledger import LedgerConfig
from projections.runner import ProjectionNotSetUp
from replay.commands.views import projection_errors
from replay.errors import DATA, UNAVAILABLE, USAGE, CliError
from replay.render import emit_doc, emit_rows, to_json, write_json
from replay.report.check import compare, read_live
from replay.report.events import EVENT_TYPES
from replay.report.refeed import refeed
from replay.report.text import at_title, print_state, print_window
from replay.report.window import BY, Bound, build_window, resolve_positions, state_at
from replay.runtime import Runtime, common_options, runtime, stderr_is_tty, translate_errors
from replay.snapshots import StoreSnapshots, expand_rows
from replay.state import (
    STORE_ERRORS,
    EventLog,
    Filter,
    ReplayError,
    config_from_log,
    open_event_log,
)
from replay.timespec import TIME, TimeSpec, TimeSpecError, parse_now, resolve

CSV_COLUMNS = [
    "position",
    "recorded_at",
    "occurred_at",
    "aggregate",
    "event",
    "source",
    "summary",
    "changes",
]


# ============================================================================ shared


@contextmanager
def log_session(rt: Runtime) -> Iterator[tuple[EventLog, LedgerConfig]]:
    """The log and the ledger configuration; failures become exit codes, not tracebacks."""
    with ExitStack() as stack:
        with translate_errors():
            config = rt.settings.ledger_config()
            log = stack.enter_context(open_event_log(rt.store_url))
        if stderr_is_tty():
            stack.enter_context(_progress(log))
        try:
            yield log, config_from_log(log, config)
        except ReplayError as e:
            raise CliError(str(e), USAGE) from e
        except EventDecodingError as e:
            raise CliError(f"the log holds an event this version cannot read: {e}", DATA) from e
        except STORE_ERRORS as e:
            raise CliError(f"reading the store failed: {e}", UNAVAILABLE) from e


@contextmanager
def _progress(log: EventLog) -> Iterator[None]:
    """A bar on stderr while the log is read (only on a terminal: DESIGN.md §7)."""
    columns = (
        TextColumn("reading the log"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("log", total=log.last_position())
        log.on_page = lambda position: bar.update(task, completed=position)
        try:
            yield
        finally:
            log.on_page = None


def reference_clock(now: str | None) -> Clock:
    """Relative times count back from `--now` when given, else from the system clock."""
    try:
        at = parse_now(now)
    except TimeSpecError as e:
        raise CliError(str(e), USAGE) from e
    return SystemClock() if at is None else FixedClock(at)


def event_types(names: tuple[str, ...]) -> frozenset[str]:
    by_lower = {n.lower(): n for n in EVENT_TYPES}
    unknown = [n for n in names if n.lower() not in by_lower]
    if unknown:
        raise CliError(
            f"unknown event type(s) {', '.join(unknown)}; known: {', '.join(sorted(EVENT_TYPES))}",
            USAGE,
        )
    return frozenset(by_lower[n.lower()] for n in names)


def filter_options(f: Any) -> Any:
    for option in reversed(
        (
            click.option("--symbol", help="Only this symbol."),
            click.option(
                "--order",
                "order",
                type=click.UUID,
                metavar="INTENT_ID",
                help="Only this order (its events, its position).",
            ),
            click.option("--account", help="Only this account."),
            click.option(
                "--type",
                "types",
                multiple=True,
                metavar="EVENT",
                help="Only events of this type, e.g. OrderFilled (repeatable).",
            ),
        )
    ):
        f = option(f)
    return f


NOW_HELP = "Reference time for relative values (ISO-8601 with zone; default: the clock)."


# ============================================================================ replay


@click.command("replay")
@click.option("--since", type=TIME, help="Start: ISO time with zone, -15m/-2h/-1d, or @POSITION.")
@click.option("--until", type=TIME, help="End (default: the end of the log).")
@click.option("--as-of", "as_of", type=TIME, help="Only the state document at this moment.")
@click.option(
    "--by",
    type=click.Choice(BY),
    default="recorded",
    show_default=True,
    help="Which time --since/--until refer to.",
)
@filter_options
@click.option("--now", "now", default=None, metavar="TIME", help=NOW_HELP)
@click.option(
    "--to-projection",
    "to_projection",
    metavar="NAME",
    help="Feed the events after --since again to this projection, up to where it is, to "
    "repair it (positions, killswitch, audit_index; the others: ledger rebuild NAME).",
)
@click.option(
    "--check",
    is_flag=True,
    help="Compare the state rebuilt from the log with the live projections, at their "
    "position (or --until); list every difference, exit 3 when there is one.",
)
@common_options
@click.pass_context
def replay(
    ctx: click.Context,
    since: TimeSpec | None,
    until: TimeSpec | None,
    as_of: TimeSpec | None,
    by: str,
    symbol: str | None,
    order: UUID | None,
    account: str | None,
    types: tuple[str, ...],
    now: str | None,
    to_projection: str | None,
    check: bool,
    fmt: str | None,
    store: str | None,
) -> None:
    """Rebuild the ledger from its log: the state at --since, the timeline of events to
    --until with the fields each changed, the state at --until and the difference.

    Positions: the state "at @N" includes event N; `@0` is the empty ledger. With
    --by occurred a time T means the longest stretch of the log whose events all
    occurred by T. The state is always rebuilt from the log, never read from
    projections.
    """
    rt = runtime(ctx, fmt, store)
    flt = Filter(symbol, order, account, event_types(types))
    mode = _mode(since, until, as_of, to_projection, check, flt, rt.format)
    clock = reference_clock(now)
    with log_session(rt) as (log, config):
        specs = [resolve(s, clock) for s in (as_of, since, until) if s is not None]
        bounds = resolve_positions(log, specs, by)
        snapshots = StoreSnapshots(log, config)
        if mode == "as-of":
            doc = state_at(
                log, config, bounds[0].position, flt, snapshots, prerendered=rt.format == "json"
            )
            _emit_state(doc, rt.format, bounds[0].spec, bounds[0].position)
        elif mode == "check":
            _run_check(ctx, rt, log, config, bounds[0].position if bounds else None, snapshots)
        elif mode == "refeed" and to_projection is not None:
            upto = bounds[1].position if len(bounds) > 1 else None
            with projection_errors():
                emit_doc(refeed(rt.store_url, to_projection, bounds[0].position, upto), rt.format)
        else:
            if until is None:
                bounds.append(Bound("end", log.last_position()))
            window = build_window(log, config, bounds[0], bounds[1], flt, by, snapshots)
            _emit_window(window, rt.format)


def _mode(
    since: TimeSpec | None,
    until: TimeSpec | None,
    as_of: TimeSpec | None,
    to_projection: str | None,
    check: bool,
    flt: Filter,
    fmt: str,
) -> str:
    """Which of the four things was asked for; a usage error when the options clash."""
    if check:
        if since is not None or as_of is not None or to_projection is not None or flt != Filter():
            raise CliError(
                "--check compares the whole state at --until (default: where the "
                "projections are) with the live projections; give it only --until",
                USAGE,
            )
        return "check"
    if as_of is not None:
        if since is not None or until is not None or to_projection is not None:
            raise CliError("--as-of gives one state; use it without --since/--until", USAGE)
        if fmt == "csv":
            raise CliError(
                "--as-of prints a state document: use --format json or text "
                "(CSV is the timeline of a --since window)",
                USAGE,
            )
        return "as-of"
    if since is None:
        raise CliError("say --since T (with --until U) or --as-of T", USAGE)
    return "window" if to_projection is None else "refeed"


def _run_check(
    ctx: click.Context,
    rt: Runtime,
    log: EventLog,
    config: LedgerConfig,
    until: int | None,
    snapshots: StoreSnapshots,
) -> None:
    with projection_errors():
        try:
            live = read_live(rt.store_url)
        except ProjectionNotSetUp as e:
            raise CliError(
                f"{e}: nothing to check (ledger rebuild --all sets them up)", DATA
            ) from e
    position = until if until is not None else live.common_position()
    if position is None:
        position = log.last_position()
    differences = compare(state_at(log, config, position, snapshots=snapshots), live, position)
    doc = {"position": position, "checkpoints": live.checkpoints, "differences": differences}
    if rt.format == "json":
        click.echo(to_json(doc))
    elif rt.format == "csv" or differences:
        emit_rows(
            differences,
            rt.format,
            title=f"differences at @{position}",
            columns=["view", "key", "field", "log", "projection"],
        )
    else:
        click.echo(f"the projections agree with the log at @{position}")
    if differences:
        ctx.exit(DATA)


def _emit_state(doc: dict[str, Any], fmt: str, spec: str, position: int) -> None:
    if fmt == "json":
        # The same text as to_json, but the snapshot's rows go out as they were read.
        sys.stdout.flush()  # anything written as text goes first
        write_json(doc, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    else:
        print_state(expand_rows(doc), at_title({"spec": spec, "position": position}))


def _emit_window(doc: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        click.echo(to_json(doc))
    elif fmt == "csv":
        emit_rows(doc["timeline"], "csv", columns=CSV_COLUMNS)
    else:
        print_window(doc)
