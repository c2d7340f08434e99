"""Rebuild throughput: `rebuild --all` from a 1,000,000-event store, next to eventsourcing's
projection machinery doing one projection (positions) in the same run.

    python bench/rebuild.py [--events 1000000] [--pg-events 200000] [--es-events 10000]
                            [--jobs 2] [--no-postgres] [--no-write]

Stores are built once with `bench/workload.py` (per order: intent, ack, partial fill,
fill = 6 events; starting equity 10^12 so the kill switch never trips and the mix stays
realistic) and cached under var/bench/ (SQLite) or a schema `bench_rebuild_<n>` (kept).

Ours runs what `ledger rebuild` runs: `projections.rebuild.rebuild` with the store's read
engine and `--jobs` processes (2: the audit index and the counters are built in a forked
worker), and `--all` also in one process. CPU time is this process's and its workers'.

The baseline is eventsourcing's own design for a projection: a `Projection` writing a
view and its tracking record in one transaction per event, through a `TrackingRecorder`.
On PostgreSQL it is driven by eventsourcing's `ProjectionRunner` (recorder subscription,
LISTEN/NOTIFY). Its SQLite recorder has no subscription (`subscribe` raises
NotImplementedError), so on SQLite the same projection is driven by a polling loop over
`select_notifications`, which is what `ApplicationSubscription` does on PostgreSQL. It
runs on the first `--es-events` events (one commit per event is slow) and is reported
per event. Results go to the `## rebuild (issue 4)` section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
import timeit
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import write_section  # noqa: E402
from bench.workload import messages  # noqa: E402

PG = os.environ.get("LEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
EQUITY = Decimal(10**12)


@dataclass
class Run:
    label: str
    events: int
    wall: float
    cpu: float
    worker_cpu: float = 0.0  # of `cpu`: the build worker's (two processes)

    @property
    def rate(self) -> float:
        return self.events / self.wall if self.wall else 0.0


def _orders_for(events: int) -> int:
    return max(1, (events - 1) // 6)


def _readable(url: str) -> bool:
    """False when the cached store holds events this version of the code cannot decode."""
    from adapters.projections import open_projection_store
    from domain.codec import EventCodec
    from domain.errors import EventDecodingError

    store = open_projection_store(url)
    try:
        with store.read_engine.connect() as conn:
            head = store.source.head(conn)
            events = store.source.read(conn, max(0, head - 12), head, None)
        codec = EventCodec()
        for e in events:
            e.event(codec)
        return True
    except EventDecodingError:
        return False
    finally:
        store.close()


def build_store(url: str, events: int, path: Path | None = None) -> int:
    """Ingest the workload until the log holds about `events` events; returns the head."""
    from adapters.store import open_ledger

    if path is not None and path.exists() and not _readable(url):
        print(f"  {path} holds events of an older schema: building it again", file=sys.stderr)
        for f in path.parent.glob(path.name + "*"):
            f.unlink()
    from contracts import SourcedMessage
    from domain.clock import SteppingClock
    from domain.ledger import LedgerConfig

    app = open_ledger(
        url,
        clock=SteppingClock(datetime(2025, 11, 17, tzinfo=UTC)),
        config=LedgerConfig(starting_equity=EQUITY),
    )
    if app.position >= events - 6:
        return app.position
    n = _orders_for(events) * 4
    done = app.sources.get("bench", 0)

    def feed() -> Iterator[SourcedMessage]:
        for i, m in enumerate(messages(n), 1):
            if i > done:
                yield SourcedMessage("bench", i, m)

    global _seen
    _seen, started = done, time.perf_counter()
    app.ingest(feed(), 5000, progress=lambda k: _tick(k, n, started))
    print(file=sys.stderr)
    return app.position


_seen = 0


def _tick(k: int, n: int, started: float) -> None:
    global _seen
    _seen += k
    rate = _seen / (time.perf_counter() - started)
    print(
        f"\r  building store: {_seen:,}/{n:,} messages ({rate:,.0f}/s)",
        end="",
        file=sys.stderr,
        flush=True,
    )


def _cpu() -> tuple[float, float]:
    """CPU seconds of this process, and of its children that have ended (the worker)."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def ours(url: str, names: list[str], label: str, jobs: int) -> Run:
    from adapters.projections import open_projection_store
    from projections.rebuild import rebuild
    from projections.runner import set_up

    store = open_projection_store(url)
    try:
        set_up(store.engine)
        wall, (me, kids) = time.perf_counter(), _cpu()
        result = rebuild(
            store.engine, store.source, names, read_engine=store.read_engine, jobs=jobs
        )
        wall = time.perf_counter() - wall
        me_after, kids_after = _cpu()
        worker = kids_after - kids
        return Run(label, result.events, wall, me_after - me + worker, worker)
    finally:
        store.close()


def _ours_runs(store: str, url: str, jobs: int) -> list[tuple[str, Run]]:
    from projections.registry import ALL

    every = f"ours: rebuild --all ({len(ALL)} projections"
    runs = [(store, ours(url, list(ALL), f"{every}, {jobs} process{'es' * (jobs > 1)})", jobs))]
    if jobs > 1:
        runs.append((store, ours(url, list(ALL), f"{every}, 1 process)", 1)))
    runs.append((store, ours(url, ["positions"], "ours: rebuild positions", 1)))
    return runs


# ---------------------------------------------------------------------- eventsourcing baseline


def _es_classes(backend: str, schema: str = "") -> tuple[type[Any], type[Any], type[Any]]:
    """Application, view (TrackingRecorder) and Projection for the positions read model."""
    from eventsourcing.application import Application
    from eventsourcing.persistence import Mapper, Tracking
    from eventsourcing.postgres import PostgresTrackingRecorder
    from eventsourcing.projection import Projection
    from eventsourcing.sqlite import SQLiteTrackingRecorder
    from psycopg.sql import SQL

    from domain import events as ev
    from domain.codec import LedgerMapper

    class LogApp(Application[Any]):
        name = "ledger"

        def construct_mapper(self) -> Mapper[Any]:
            return LedgerMapper()

    qualified = f'"{schema}".es_positions' if schema else "es_positions"
    upsert = (
        f"INSERT INTO {qualified} VALUES ({{m}},{{m}},{{m}},{{m}},{{m}},{{m}}) "
        "ON CONFLICT (account, symbol) DO UPDATE SET quantity=excluded.quantity, "
        "avg_price=excluded.avg_price, realized_pnl=excluded.realized_pnl, "
        "commission=excluded.commission"
    )
    table = (
        f"CREATE TABLE IF NOT EXISTS {qualified} (account text, symbol text, "
        "quantity text, avg_price text, realized_pnl text, commission text, "
        "PRIMARY KEY (account, symbol))"
    )

    if backend == "sqlite":

        class SQLiteView(SQLiteTrackingRecorder):
            def construct_create_table_statements(self) -> list[str]:
                return [*super().construct_create_table_statements(), table]

            def upsert(self, row: tuple[str, ...], tracking: Tracking) -> None:
                with self.datastore.transaction(commit=True) as c:
                    c.execute(upsert.format(m="?"), row)
                    self._insert_tracking(c, tracking)

        view: type[Any] = SQLiteView
    else:

        class PostgresView(PostgresTrackingRecorder):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self.sql_create_statements.append(SQL(table))  # type: ignore[arg-type]

            def upsert(self, row: tuple[str, ...], tracking: Tracking) -> None:
                with self.datastore.transaction(commit=True) as curs:
                    curs.execute(SQL(upsert.format(m="%s")), row)
                    self._insert_tracking(curs, tracking)

        view = PostgresView

    class PositionsProjection(Projection[Any]):
        name = "positions_es"

        def process_event(self, domain_event: Any, tracking: Tracking) -> None:
            if isinstance(domain_event, ev.PositionEvent):
                e = domain_event
                self.view.upsert(
                    (
                        e.account,
                        e.symbol,
                        str(e.quantity),
                        str(e.avg_price),
                        str(e.realized_pnl),
                        str(e.commission),
                    ),
                    tracking,
                )
            else:
                self.view.insert_tracking(tracking)

    return LogApp, view, PositionsProjection


def es_sqlite(url: str, limit: int) -> Run:
    from eventsourcing.persistence import InfrastructureFactory, Tracking
    from eventsourcing.utils import Environment

    from adapters.store import parse_store_url

    env = parse_store_url(url).env
    app_cls, view_cls, projection_cls = _es_classes("sqlite")
    app = app_cls(env)
    view = InfrastructureFactory.construct(Environment(projection_cls.name, env)).tracking_recorder(
        view_cls
    )
    projection = projection_cls(view=view)
    wall, cpu = time.perf_counter(), time.process_time()
    start, done = (view.max_tracking_id(app.name) or 0) + 1, 0
    while done < limit:
        page = app.recorder.select_notifications(start, min(500, limit - done))
        if not page:
            break
        for n in page:
            projection.process_event(app.mapper.to_domain_event(n), Tracking(app.name, n.id))
        done += len(page)
        start = page[-1].id + 1
    return Run(
        "eventsourcing Projection + SQLiteTrackingRecorder (polling loop), positions",
        done,
        time.perf_counter() - wall,
        time.process_time() - cpu,
    )


def es_postgres(url: str, limit: int) -> Run:
    from eventsourcing.projection import ProjectionRunner

    from adapters.store import parse_store_url

    env = parse_store_url(url).env
    app_cls, view_cls, projection_cls = _es_classes("postgres", env["POSTGRES_SCHEMA"])
    wall, cpu = time.perf_counter(), time.process_time()
    with ProjectionRunner(
        application_class=app_cls, projection_class=projection_cls, view_class=view_cls, env=env
    ) as runner:
        target = min(limit, runner.app.recorder.max_notification_id() or 0)
        while (runner.view.max_tracking_id(runner.app_name) or 0) < target:
            runner.wait(target, timeout=600)
        done = runner.view.max_tracking_id(runner.app_name) or 0
    return Run(
        "eventsourcing ProjectionRunner (PostgreSQL, subscription), positions",
        done,
        time.perf_counter() - wall,
        time.process_time() - cpu,
    )


# ---------------------------------------------------------------------- main


def _pg_schema(n: int) -> str:
    schema = f"bench_rebuild_{n}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        conn.execute(f'DROP TABLE IF EXISTS "{schema}".es_positions')
        conn.execute(f'DROP TABLE IF EXISTS "{schema}".positions_es_tracking')
    sep = "&" if "?" in PG else "?"
    return f"{PG}{sep}schema={schema}"


def _calibration() -> str:
    loop = min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000 * 1e6
    load = os.getloadavg()[0]
    return (
        f"machine: `sum(range(1000))` takes {loop:.1f} µs here (about 8 µs on an idle "
        f"recent x86 core), load average {load:.1f} on {os.cpu_count()} cores"
    )


def _split(r: Run) -> str:
    """This process's CPU and the build worker's: how well the two halves balance."""
    if not r.worker_cpu:
        return ""
    return f"{r.cpu - r.worker_cpu:.2f} / {r.worker_cpu:.2f}"


def _target(runs: list[tuple[str, Run]]) -> str:
    full = next(r for s, r in runs if s == "SQLite" and "--all" in r.label)
    met = "met" if full.rate >= 100_000 else "not met"
    return (
        f"Target >= 100,000 events/s for `rebuild --all` on SQLite: {met} in this run "
        f"({full.rate:,.0f}/s, `{full.label.removeprefix('ours: ')}`)."
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--pg-events", type=int, default=200_000)
    p.add_argument("--es-events", type=int, default=10_000)
    p.add_argument("--jobs", type=int, choices=(1, 2), default=2)
    p.add_argument("--no-postgres", action="store_true")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    runs: list[tuple[str, Run]] = []
    path = ROOT / "var" / "bench" / f"rebuild-{args.events}.db"
    sqlite_url = f"sqlite:///{path}"
    print(f"SQLite store {path}", file=sys.stderr)
    build_store(sqlite_url, args.events, path)
    runs.extend(_ours_runs("SQLite", sqlite_url, args.jobs))
    runs.append(("SQLite", es_sqlite(sqlite_url, args.es_events)))
    if not args.no_postgres:
        pg_url = _pg_schema(args.pg_events)
        print(f"PostgreSQL store {pg_url}", file=sys.stderr)
        build_store(pg_url, args.pg_events)
        runs.extend(_ours_runs("PostgreSQL", pg_url, args.jobs))
        runs.append(("PostgreSQL", es_postgres(pg_url, args.es_events)))

    base = {
        store: next(r.rate for s, r in runs if s == store and "eventsourcing" in r.label)
        for store, _ in runs
    }
    lines = [
        f"| {store} | {r.label} | {r.events:,} | {r.wall:.2f} | {r.rate:,.0f} | {r.cpu:.2f} | "
        f"{_split(r)} | {r.events / r.cpu if r.cpu else 0:,.0f} | {r.rate / base[store]:.1f} |"
        for store, r in runs
    ]
    for line in lines:
        print(line)
    body = "\n".join(
        [
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}; {_calibration()}.",
            f"Workload: `bench/workload.py` ({args.events:,}-event SQLite store, "
            f"{args.pg_events:,}-event PostgreSQL store: fewer, because building it through "
            "`ledger ingest` takes long). Rebuild = a new version of every table from position 0, "
            "indexes built after the load, atomic swap, old version dropped. events/s = log "
            "events covered per wall second. The eventsourcing baseline runs on the first "
            f"{args.es_events:,} events (one transaction per event) with the same positions "
            "read model. CPU s counts this process and its build worker (split in the next "
            "column: the main process also swaps and drops the old version); events/CPU s is the "
            "cost of the work itself (with 2 processes it includes reading the log twice); on "
            "one core, wall time above CPU time is time this shared machine gave to other "
            "processes. x eventsourcing compares wall rates.",
            "",
            _target(runs),
            "",
            "| store | run | events | wall s | events/s | CPU s | CPU s main / worker "
            "| events/CPU s | x eventsourcing |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
            *lines,
        ]
    )
    if not args.no_write:
        write_section("rebuild (issue 4)", body)


if __name__ == "__main__":
    main()
