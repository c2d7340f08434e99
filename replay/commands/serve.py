"""`ledger serve`: keep the projections and metrics following the store; /metrics, /health, /ready.

Without `--kafka` or `--broker` it consumes nothing: it follows the store (written by
`ledger ingest`, by another process, or by components added here) and keeps the read
models and Prometheus metrics current. SIGTERM or SIGINT stops it cleanly (exit 0).

HTTP (default 127.0.0.1:9108): `/metrics` (Prometheus text), `/health` (200, or 503
naming a stopped projection), `/ready` (200 once the projections have caught up).

Extension points, for the colleagues adding `--kafka` (Kafka ingest) and `--broker`
(IBKR routing):
1. add the click option to `serve` below and a field to `ServeOptions`;
2. write a component with the `ServeComponent` methods (adapters/projections/service.py):
   `start(ctx)`, `tick(ctx) -> bool` (a bounded amount of work: one poll, one batch;
   True when more is waiting), `stop(ctx)`, `problem() -> str | None`, `is_ready()`;
   use `ctx.ledger_app()` to append (appends are then timed for
   `ledger_append_latency_seconds` / `ledger_batch_size`), `ctx.metrics.set_kafka_lag(...)`,
   `ctx.stop` (a threading.Event) to notice a shutdown inside long waits;
3. append it in `components()` when its option is given. The loop ticks components in
   list order, so put ingest before `ProjectionFollower` to project a batch right after
   it is committed. `/ready` is true when every component's `is_ready()` is.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from types import FrameType

import click

from adapters.clock import SystemClock
from adapters.http import MetricsServer, make_app
from adapters.projections import make_waiter, open_projection_store
from adapters.projections.service import (
    ChainWatch,
    ProjectionFollower,
    ServeComponent,
    ServeContext,
    ServeLoop,
)
from adapters.projections.snapshot_writer import DEFAULT_EVERY, SnapshotWriter
from projections.metrics import LedgerCollector, ServeMetrics
from projections.runner import DEFAULT_BATCH
from replay.commands.views import projection_errors
from replay.errors import UNAVAILABLE, USAGE, CliError
from replay.runtime import common_options, runtime


@dataclass(frozen=True)
class ServeOptions:
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9108
    poll_interval: float = 0.5
    batch_size: int = DEFAULT_BATCH
    kafka: str | None = None  # bootstrap servers: consume the input topics
    broker: str | None = None  # "ibkr" | "sim": route accepted intents (gateway mode)
    broker_host: str | None = None
    broker_port: int | None = None
    broker_client_id: int | None = None
    broker_account: str | None = None
    snapshot_every: int = DEFAULT_EVERY  # 0: no snapshots
    store_url: str = ""  # where snapshots go (the store being served)


def components(options: ServeOptions) -> list[ServeComponent]:
    """What the serve loop runs, in order: ingest first, so a batch is projected right
    after it commits; routing next, so what a batch accepted goes out at once."""
    comps: list[ServeComponent] = []
    if options.kafka:
        from adapters.kafka.serve import KafkaServeComponent
        from adapters.kafka.settings import KafkaSettings

        comps.append(KafkaServeComponent(KafkaSettings(bootstrap_servers=options.kafka)))
    if options.broker:
        from adapters.routing.serve import RoutingComponent

        comps.append(
            RoutingComponent(
                options.broker,
                host=options.broker_host,
                port=options.broker_port,
                client_id=options.broker_client_id,
                account=options.broker_account,
            )
        )
    if options.snapshot_every > 0 and options.store_url:
        comps.append(SnapshotWriter(options.store_url, options.snapshot_every))
    return [*comps, ProjectionFollower(options.batch_size), ChainWatch()]


def build_version() -> str:
    try:
        return version("tradeledger")
    except PackageNotFoundError:
        return "unknown"


def _log(message: str) -> None:
    click.echo(message, err=True)


@click.command()
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    help="Address the HTTP endpoint binds to.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=9108,
    show_default=True,
    help="Port of /metrics, /health and /ready (0: any free port).",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.01),
    default=0.5,
    show_default=True,
    help="Seconds between looks at the log when idle (SQLite; PostgreSQL wakes on NOTIFY).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=DEFAULT_BATCH,
    show_default=True,
    help="Events per projection transaction.",
)
@click.option(
    "--kafka",
    metavar="HOST:PORT",
    envvar="LEDGER_KAFKA_BOOTSTRAP_SERVERS",
    default=None,
    help="Consume order_intents, exec_reports and market_events "
    "(topics and group from LEDGER_KAFKA_*).",
)
@click.option(
    "--broker",
    type=click.Choice(["ibkr", "sim"]),
    default=None,
    help="Gateway mode: route accepted intents to this broker.",
)
@click.option("--host", "broker_host", default=None, help="Broker host (LEDGER_IBKR_HOST).")
@click.option(
    "--port", "broker_port", type=int, default=None, help="Broker port (LEDGER_IBKR_PORT)."
)
@click.option(
    "--client-id",
    "broker_client_id",
    type=int,
    default=None,
    help="IB API client id (LEDGER_IBKR_CLIENT_ID).",
)
@click.option(
    "--account", "broker_account", default=None, help="Broker account (LEDGER_IBKR_ACCOUNT)."
)
@click.option(
    "--snapshot-every",
    "snapshot_every",
    type=click.IntRange(min=0),
    default=DEFAULT_EVERY,
    show_default=True,
    help="Write a ledger snapshot (ledger_snapshots) every N events, for fast replays (0: never).",
)
@common_options
@click.pass_context
def serve(
    ctx: click.Context,
    metrics_host: str,
    metrics_port: int,
    poll_interval: float,
    batch_size: int,
    kafka: str | None,
    broker: str | None,
    broker_host: str | None,
    broker_port: int | None,
    broker_client_id: int | None,
    broker_account: str | None,
    snapshot_every: int,
    fmt: str | None,
    store: str | None,
) -> None:
    """Follow the store: projections and metrics current; /metrics, /health, /ready.

    With --kafka it also consumes the input topics (exactly-once effects from the ledger's
    own offsets) and publishes ledger_events, dlq and risk_state; with --broker it routes
    accepted intents to the broker and books what comes back.
    """
    rt = runtime(ctx, fmt, store)
    options = ServeOptions(
        metrics_host,
        metrics_port,
        poll_interval,
        batch_size,
        kafka,
        broker,
        broker_host,
        broker_port,
        broker_client_id,
        broker_account,
        snapshot_every,
        rt.store_url,
    )
    stop = threading.Event()
    with projection_errors():
        pstore = open_projection_store(rt.store_url)
    try:
        clock = SystemClock()
        metrics = ServeMetrics(
            build_version(), LedgerCollector(pstore.read_engine, pstore.source, clock)
        )
        sctx = ServeContext(pstore, metrics, clock, stop, _log, open_ledger=rt.open)
        comps = components(options)
        loop = ServeLoop(sctx, comps, make_waiter(pstore, stop), poll_interval)
        server = MetricsServer(make_app(metrics.registry, loop.health, loop.ready))
        try:
            port = server.start(options.metrics_host, options.metrics_port)
        except OSError as e:
            raise CliError(
                f"cannot listen on {options.metrics_host}:{options.metrics_port}: {e}", UNAVAILABLE
            ) from e
        _log(
            f"ledger serve: following {pstore.location.masked}; metrics on "
            f"http://{options.metrics_host}:{port}/metrics"
        )
        _on_signals(stop)
        try:
            with projection_errors(), _component_errors():
                loop.run()
        finally:
            server.stop()
        for comp in comps:
            fatal = getattr(comp, "fatal", None)
            if fatal:
                raise CliError(str(fatal), UNAVAILABLE)
        _log("ledger serve: stopped")
    finally:
        pstore.close()


@contextmanager
def _component_errors() -> Iterator[None]:
    """A broker or Kafka that refuses the configuration is a usage error (2); one that
    cannot be reached is exit 4."""
    from adapters.broker.port import BrokerConfigError, BrokerUnreachable
    from adapters.routing.router import RoutingConfigError

    try:
        yield
    except (BrokerConfigError, RoutingConfigError) as e:
        raise CliError(str(e), USAGE) from e
    except BrokerUnreachable as e:
        raise CliError(str(e), UNAVAILABLE) from e


def _on_signals(stop: threading.Event) -> None:
    def handle(signum: int, _frame: FrameType | None) -> None:
        # Set from another thread: the main thread may hold the Event's lock right now.
        threading.Thread(target=stop.set, name="ledger-stop").start()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
