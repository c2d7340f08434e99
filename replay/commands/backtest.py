"""`ledger backtest`: bar files (or a live ledger's window) through the ledger, into a store of
its own, with the simulated broker; prints and writes `result.json` (+ PNG charts)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from adapters.backtest.data import DataFileError
from adapters.backtest.staging import StoreNotEmpty
from adapters.store import parse_store_url
from replay.errors import USAGE, CliError
from replay.render import emit_doc
from replay.runtime import common_options, runtime, stderr_is_tty, translate_errors


class DecimalParam(click.ParamType[Decimal, Any]):
    name = "decimal"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Decimal:
        try:
            d = Decimal(str(value))
        except InvalidOperation:
            self.fail(f"{value!r} is not a decimal number", param, ctx)
        if not d.is_finite() or d < 0:
            self.fail(f"{value!r} must be a finite number >= 0", param, ctx)
        return d


class TimeParam(click.ParamType[datetime, Any]):
    name = "time"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        try:
            at = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an ISO-8601 time", param, ctx)
        if at.tzinfo is None:
            self.fail(f"{value!r} has no zone: add Z or +00:00", param, ctx)
        return at


DECIMAL = DecimalParam()
TIME = TimeParam()


@click.command()
@click.option(
    "--data",
    "data",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A bar file (SYMBOL.csv / SYMBOL.parquet) or a directory of them; repeatable.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seeds the strategy and the intent ids."
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for result.json, the charts and (by default) backtest.db.",
)
@click.option(
    "--rebalance",
    "rebalance_interval",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Bar groups between rebalances.",
)
@click.option("--slippage-bps", type=DECIMAL, default="1", show_default=True)
@click.option(
    "--commission-bps",
    type=DECIMAL,
    default="1",
    show_default=True,
    help="Commission as basis points of the traded notional.",
)
@click.option("--commission-per-share", type=DECIMAL, default="0", show_default=True)
@click.option(
    "--commission-min",
    type=DECIMAL,
    default="0",
    show_default=True,
    help="Minimum commission per fill.",
)
@click.option(
    "--starting-equity",
    type=DECIMAL,
    default=None,
    help="Default: LEDGER_STARTING_EQUITY (1,000,000).",
)
@click.option(
    "--periods-per-year",
    type=click.FloatRange(min=1),
    default=None,
    help="Bars per year for the strategy (default: inferred from the bar spacing).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Inputs per transaction (env LEDGER_BATCH_SIZE; default 5000).",
)
@click.option("--no-charts", is_flag=True, help="Skip the PNG charts.")
@click.option(
    "--from-ledger",
    "source",
    metavar="URL",
    default=None,
    help="Replay this ledger's recorded window instead of bar files.",
)
@click.option("--since", type=TIME, default=None, help="With --from-ledger: window start.")
@click.option("--until", type=TIME, default=None, help="With --from-ledger: window end.")
@common_options
@click.pass_context
def backtest(
    ctx: click.Context,
    data: tuple[Path, ...],
    seed: int,
    out: Path,
    rebalance_interval: int,
    slippage_bps: Decimal,
    commission_bps: Decimal,
    commission_per_share: Decimal,
    commission_min: Decimal,
    starting_equity: Decimal | None,
    periods_per_year: float | None,
    batch_size: int | None,
    no_charts: bool,
    source: str | None,
    since: datetime | None,
    until: datetime | None,
    fmt: str | None,
    store: str | None,
) -> None:
    """Backtest through the live code path: same inputs and seed, same stored bytes.

    With --data, the trading system's strategy trades the bars; with --from-ledger
    (and --since/--until), the market data, intents and operator commands recorded in
    a live ledger are replayed through the current code, and the outcomes compared.
    --store names the store written (must be empty); by default OUT/backtest.db,
    replaced on each run. Bad bar files exit 2, naming the file and line.
    """
    from adapters.backtest.run import BacktestSettings

    rt = runtime(ctx, fmt, store)
    if bool(data) == bool(source):
        raise CliError("give either --data PATH (bar files) or --from-ledger URL", USAGE)
    if (since or until) and not source:
        raise CliError("--since and --until go with --from-ledger", USAGE)
    settings = BacktestSettings(
        data=data,
        seed=seed,
        out=out,
        store=rt.store,
        rebalance_interval=rebalance_interval,
        slippage_bps=slippage_bps,
        commission_bps=commission_bps,
        commission_per_share=commission_per_share,
        commission_minimum=commission_min,
        starting_equity=starting_equity,
        periods_per_year=periods_per_year,
        batch_size=batch_size or rt.settings.batch_size,
        charts=not no_charts,
    )
    config = rt.settings.ledger_config()
    with _failures():
        if source:
            _check_source(source)
            from adapters.backtest.from_ledger import run_from_ledger

            result = run_from_ledger(source, since, until, settings, config)
        else:
            from adapters.backtest.run import run_backtest

            with _progress() as progress:
                result = run_backtest(settings, config, progress)
    emit_doc(result, rt.format)


@contextmanager
def _failures() -> Iterator[None]:
    with translate_errors():
        try:
            yield
        except DataFileError as e:
            raise CliError(str(e), USAGE) from e
        except StoreNotEmpty as e:
            raise CliError(str(e), USAGE) from e


def _check_source(url: str) -> None:
    location = parse_store_url(url)
    if location.sqlite_path is not None and not location.sqlite_path.is_file():
        raise CliError(f"no ledger at {location.sqlite_path}", USAGE)


@contextmanager
def _progress() -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr when it is a terminal; nothing otherwise."""
    if not stderr_is_tty():
        yield None
        return
    columns = (
        TextColumn("backtest"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("bar groups"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("backtest", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance
