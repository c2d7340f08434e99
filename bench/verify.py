"""`ledger verify` speed, and what the hash chain costs appends (issue 3).

    python bench/verify.py [--events 1000000] [--pg-events 200000] [--append-events 100000]
                           [--ingest-messages 20000] [--no-postgres] [--keep DIR]

1. A store of `--events` synthetic events (the states of real ledger events, ids and
   times made unique) is built with the recorder's own `append` (so the chain is real),
   then `ledger verify` runs on it as a user would (process start included, default
   jobs) and in-process with one job, beside a bare sha256 loop over the same bytes: the
   floor no verifier in Python can beat.
2. Appends with vs without the chain, in the same run, interleaved (A B A B ...): the
   recorder's `append` of pre-encoded events (batches of 5,000, the ingest default), and
   `LedgerApplication.ingest` of a workload end to end. "Without" is the same recorder
   with a constant in place of the sha256 (`_link_rows` overridden).
The machine may be shared: wall times move with its load, so the table also gives
CPU-time rates and ratios measured side by side. Results: `## verify (issue 3)` of
bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from eventsourcing.persistence import StoredEvent

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.files import read_jsonl
from adapters.store import open_recorder
from adapters.store.chain import GENESIS, ChainParams, originator_text
from adapters.store.postgres import LedgerPostgresRecorder
from adapters.store.sqlite import LedgerSQLiteRecorder
from adapters.store.url import parse_store_url
from adapters.store.verify import verify_store
from bench.results import write_section
from bench.workload import write
from domain.application import LedgerApplication
from domain.clock import SteppingClock
from domain.codec import LedgerStoredEvent
from domain.ledger import LedgerConfig

PG = os.environ.get("LEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
LEDGER = str(Path(sys.executable).with_name("ledger"))
T0 = datetime(2025, 11, 17, 14, 0, tzinfo=UTC)
BATCH = 50_000


# ---------------------------------------------------------------------- without the chain


def _unchained(stored_events: Sequence[StoredEvent]) -> list[ChainParams]:
    """The chain's loop minus the sha256: what an append costs without the chain."""
    return [
        (
            originator_text(s.originator_id),
            s.originator_version,
            s.topic,
            s.state,
            s.recorded_at,  # type: ignore[attr-defined]
            GENESIS,
        )
        for s in stored_events
    ]


class UnchainedSQLiteRecorder(LedgerSQLiteRecorder):
    def _link_rows(self, prev: bytes, stored_events: Sequence[StoredEvent]) -> list[ChainParams]:
        return _unchained(stored_events)


class UnchainedPostgresRecorder(LedgerPostgresRecorder):
    def _link_rows(self, prev: bytes, stored_events: Sequence[StoredEvent]) -> list[ChainParams]:
        return _unchained(stored_events)


# ---------------------------------------------------------------------- synthetic events


def real_states(messages: int = 2_000) -> list[tuple[str, bytes]]:
    """(topic, state) of the events a real ingest writes, to give the synthetic log the
    same sizes and mix."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "w.jsonl"
        write(str(path), messages)
        env = parse_store_url(f"sqlite:///{Path(d) / 'seed.db'}").env
        app = LedgerApplication(env, clock=SteppingClock(T0), config=_config())
        app.ingest(read_jsonl(path))
        rows = app.store.select_notifications(1, 1_000_000)
        app.close()
    return [(n.topic, n.state) for n in rows]


def synthetic(states: list[tuple[str, bytes]], start: int, n: int) -> list[LedgerStoredEvent]:
    """Events `start`..`start+n-1`: ids unique and increasing (a fast build), one version
    each, recorded one microsecond apart."""
    t0 = 1_763_388_000_000_000
    k = len(states)
    return [
        LedgerStoredEvent(
            originator_id=uuid.UUID(int=(1 << 96) | i),
            originator_version=1,
            topic=states[i % k][0],
            state=states[i % k][1],
            recorded_at=t0 + i,
        )
        for i in range(start, start + n)
    ]


def build(url: str, states: list[tuple[str, bytes]], n: int) -> str:
    """Fill the store at `url` up to `n` events (a kept store is reused); says how long."""
    started = time.perf_counter()
    with open_recorder(url) as rec:
        head = rec.chain_head()
        position = head[0] if head else 0
        done = first = position  # positions are contiguous on a fresh store
        while done < n:
            batch = synthetic(states, done, min(BATCH, n - done))
            position = rec.append(batch, sources={}, expected_position=position)
            done += len(batch)
    seconds = time.perf_counter() - started
    if first >= n:
        return "reused from an earlier run (`--keep`)"
    return f"built in {seconds:.1f} s ({(n - first) / seconds:,.0f} events/s, chain included)"


# ---------------------------------------------------------------------- measurements


def ledger_verify(url: str) -> tuple[float, dict[str, object]]:
    started = time.perf_counter()
    out = subprocess.run(
        [LEDGER, "--store", url, "verify", "--format", "json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return time.perf_counter() - started, json.loads(out)


def in_process_verify(url: str, jobs: int) -> tuple[float, float, int]:
    """(wall s, CPU s of this process and its workers, events) of one verification."""
    wall, cpu = time.perf_counter(), _cpu()
    report = verify_store(url, jobs=jobs)
    if not report.ok:
        raise SystemExit(f"the benchmark store does not verify: {report.as_dict()}")
    return time.perf_counter() - wall, _cpu() - cpu, report.events


def _cpu() -> float:
    """CPU seconds of this process and of its children that have ended (the workers)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def bare_sha256(states: list[tuple[str, bytes]], n: int) -> float:
    """sha256 calls per CPU-second over messages of the chain's size (the floor)."""
    msgs = [GENESIS + b"0" * 32 + b"h" * 24 + t.encode() + s for t, s in states]
    k = len(msgs)
    sha = hashlib.sha256
    cpu = time.process_time()
    for i in range(n):
        sha(msgs[i % k]).digest()
    return n / (time.process_time() - cpu)


def interleaved(
    runs: dict[str, Callable[[], tuple[float, float]]], reps: int
) -> dict[str, tuple[float, float]]:
    """Best (wall, cpu) seconds of each run, the runs taking turns so that load drifts
    hit them alike; the best of several is the least disturbed by other jobs."""
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in runs}
    for _ in range(reps):
        for name, run in runs.items():
            times[name].append(run())
    return {k: (min(w for w, _ in v), min(c for _, c in v)) for k, v in times.items()}


def append_run(
    make_url: Callable[[], contextlib.AbstractContextManager[str]],
    topic: str,
    events: list[LedgerStoredEvent],
    size: int = 5_000,
) -> Callable[[], tuple[float, float]]:
    def run() -> tuple[float, float]:
        with make_url() as url:
            env = dict(parse_store_url(url).env, APPLICATION_RECORDER_TOPIC=topic)
            with _recorder(env) as rec:
                position = 0
                wall, cpu = time.perf_counter(), time.process_time()
                for i in range(0, len(events), size):
                    position = rec.append(
                        events[i : i + size], sources={}, expected_position=position
                    )
                return time.perf_counter() - wall, time.process_time() - cpu

    return run


def ingest_run(
    make_url: Callable[[], contextlib.AbstractContextManager[str]], topic: str, path: Path
) -> Callable[[], tuple[float, float]]:
    def run() -> tuple[float, float]:
        with make_url() as url:
            env = dict(parse_store_url(url).env, APPLICATION_RECORDER_TOPIC=topic)
            app = LedgerApplication(env, clock=SteppingClock(T0), config=_config())
            wall, cpu = time.perf_counter(), time.process_time()
            app.ingest(read_jsonl(path))
            result = time.perf_counter() - wall, time.process_time() - cpu
            app.close()
            return result

    return run


@contextlib.contextmanager
def _recorder(env: dict[str, str]) -> Iterator[LedgerSQLiteRecorder | LedgerPostgresRecorder]:
    from eventsourcing.persistence import InfrastructureFactory
    from eventsourcing.utils import Environment

    factory = InfrastructureFactory.construct(Environment("ledger", env))
    try:
        rec = factory.application_recorder()
        if not isinstance(rec, LedgerSQLiteRecorder | LedgerPostgresRecorder):
            raise SystemExit(f"unexpected recorder {rec!r}")
        yield rec
    finally:
        factory.close()


def _config() -> LedgerConfig:
    from decimal import Decimal

    return LedgerConfig(starting_equity=Decimal(10) ** 12)


@contextlib.contextmanager
def sqlite_url(directory: str) -> Iterator[str]:
    with tempfile.TemporaryDirectory(dir=directory) as d:
        yield f"sqlite:///{Path(d) / 'ledger.db'}"


@contextlib.contextmanager
def pg_url() -> Iterator[str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG}{'&' if '?' in PG else '?'}schema={schema}"
    finally:
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


# ---------------------------------------------------------------------- the run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--pg-events", type=int, default=200_000)
    ap.add_argument("--append-events", type=int, default=100_000)
    ap.add_argument("--ingest-messages", type=int, default=20_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--keep", default=None, help="directory for the big store (reused)")
    args = ap.parse_args()
    load0 = os.getloadavg()
    states = real_states()
    rows: list[str] = []
    notes: list[str] = []

    keep = Path(args.keep or tempfile.mkdtemp(prefix="bench-verify-"))
    keep.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{keep / f'verify-{args.events}.db'}"
    notes.append(f"SQLite store of {args.events:,} events {build(url, states, args.events)}.")
    rows += verify_rows("SQLite", url, states, args.events)
    if not args.no_postgres:
        with pg_url() as pg:
            built = build(pg, states, args.pg_events)
            notes.append(
                f"PostgreSQL store of {args.pg_events:,} events {built} "
                "(1,000,000 takes minutes to build here, hence fewer)."
            )
            rows += verify_rows("PostgreSQL", pg, states, args.pg_events)

    events = synthetic(states, 0, args.append_events)
    overhead = [
        chain_rows(
            "SQLite",
            "append",
            args.append_events,
            "events",
            interleaved(
                {
                    "with": append_run(
                        lambda: sqlite_url(str(keep)), _topic(LedgerSQLiteRecorder), events
                    ),
                    "without": append_run(
                        lambda: sqlite_url(str(keep)), _topic(UnchainedSQLiteRecorder), events
                    ),
                },
                args.reps,
            ),
        )
    ]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "workload.jsonl"
        write(str(path), args.ingest_messages)
        overhead.append(
            chain_rows(
                "SQLite",
                "ingest",
                args.ingest_messages,
                "messages",
                interleaved(
                    {
                        "with": ingest_run(
                            lambda: sqlite_url(str(keep)), _topic(LedgerSQLiteRecorder), path
                        ),
                        "without": ingest_run(
                            lambda: sqlite_url(str(keep)), _topic(UnchainedSQLiteRecorder), path
                        ),
                    },
                    args.reps,
                ),
            )
        )
        if not args.no_postgres:
            pg_events = events[: args.append_events // 2]
            overhead.append(
                chain_rows(
                    "PostgreSQL",
                    "append",
                    len(pg_events),
                    "events",
                    interleaved(
                        {
                            "with": append_run(pg_url, _topic(LedgerPostgresRecorder), pg_events),
                            "without": append_run(
                                pg_url, _topic(UnchainedPostgresRecorder), pg_events
                            ),
                        },
                        args.reps,
                    ),
                )
            )
            overhead.append(
                chain_rows(
                    "PostgreSQL",
                    "ingest",
                    args.ingest_messages,
                    "messages",
                    interleaved(
                        {
                            "with": ingest_run(pg_url, _topic(LedgerPostgresRecorder), path),
                            "without": ingest_run(pg_url, _topic(UnchainedPostgresRecorder), path),
                        },
                        args.reps,
                    ),
                )
            )
    load1 = os.getloadavg()
    body = report(rows, overhead, notes, load0, load1, args)
    write_section("verify (issue 3)", body)
    print(body)


def verify_rows(store: str, url: str, states: list[tuple[str, bytes]], n: int) -> list[str]:
    wall, doc = ledger_verify(url)
    if not doc.get("ok"):
        raise SystemExit(f"the benchmark store does not verify: {doc}")
    floor = bare_sha256(states, min(n, 300_000))
    rows = [
        f"| {store} | `ledger verify` (process start included, default jobs) | {n:,} "
        f"| {wall:.2f} | {n / wall:,.0f} | | |"
    ]
    for jobs in (1, 2):
        w, cpu, events = in_process_verify(url, jobs)
        per_cpu = events / cpu
        rows.append(
            f"| {store} | in-process, {jobs} job{'s' if jobs > 1 else ''} | {events:,} "
            f"| {w:.2f} | {events / w:,.0f} | {per_cpu:,.0f} | {per_cpu / floor:.2f} |"
        )
    rows.append(
        f"| {store} | bare sha256 loop over the same bytes (floor) | | | | {floor:,.0f} | 1.00 |"
    )
    return rows


def chain_rows(
    store: str, what: str, n: int, unit: str, times: dict[str, tuple[float, float]]
) -> str:
    (w_with, c_with), (w_without, c_without) = times["with"], times["without"]
    return (
        f"| {store} | {what} | {n:,} {unit} | {n / w_with:,.0f} | {n / w_without:,.0f} "
        f"| {100 * (w_with / w_without - 1):+.1f} % | {100 * (c_with / c_without - 1):+.1f} % |"
    )


def report(
    rows: list[str],
    overhead: list[str],
    notes: list[str],
    load0: tuple[float, ...],
    load1: tuple[float, ...],
    args: argparse.Namespace,
) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    cores = os.cpu_count()
    return "\n".join(
        [
            f"Measured {when} on {platform.machine()}, {cores} cores, Python "
            f"{platform.python_version()}; load average {load0[0]:.1f} at start, {load1[0]:.1f} at "
            f"end (other jobs share the machine: compare ratios, not absolute rates).",
            "",
            *notes,
            "",
            "### `ledger verify`",
            "",
            "| store | run | events | wall s | events/s (wall) | events per CPU-s | x floor |",
            "|---|---|---:|---:|---:|---:|---:|",
            *rows,
            "",
            "Target: ≥ 500,000 events/s on SQLite. One process cannot exceed the bare sha256 "
            "loop (OpenSSL 3 costs ~2 µs a call here), so long logs are checked by up to 4 "
            "processes in ranges (each row needs only its predecessor's stored hash).",
            "",
            f"### Cost of the hash chain (best of {args.reps} interleaved runs each)",
            "",
            "| store | path | size | with chain /s | without /s | wall cost | CPU cost |",
            "|---|---|---:|---:|---:|---:|---:|",
            *overhead,
            "",
            "`append`: the recorder's append of pre-encoded events, batches of 5,000 (the worst "
            "case: nothing but the insert to compare with). `ingest`: `LedgerApplication.ingest` "
            "of `bench/workload.py` messages, what `ledger ingest` does. Target: ≤ 10 %.",
            "",
            "Run: `python bench/verify.py` (options: `--events`, `--pg-events`, "
            "`--append-events`, `--ingest-messages`, `--no-postgres`, `--keep DIR`).",
        ]
    )


def _topic(cls: type) -> str:
    return f"bench.verify:{cls.__qualname__}"


if __name__ == "__main__":
    main()
