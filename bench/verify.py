"""`ledger verify` speed, and what the hash chain costs appends (issue 3).

    python bench/verify.py [--events 1000000] [--pg-events 200000] [--append-events 100000]
                           [--ingest-messages 20000] [--reps 9] [--verify-reps 3]
                           [--no-postgres] [--no-overhead] [--keep DIR] [--no-write]

1. A store of `--events` synthetic events (the states of real ledger events, ids and
   times made unique) is built with the recorder's own `append` (so the chain is real),
   then `ledger verify` runs on it as a user would (process start included, default
   jobs), and in-process with 1 and 2 jobs. Beside them, two floors per row: reading the
   rows the verifier reads (no hashing), and a bare loop of the chain's link (sha256)
   over rows of the same sizes: one process cannot verify faster than both together.
2. Appends with vs without the chain, in the same run, `--reps` pairs run back to back
   (A B, B A, ...); the cost is the median of the pairs' ratios, with its interquartile
   range (rates: the best runs). Appended: the recorder's `append` of pre-encoded events
   (batches of 5,000, the ingest default), and `LedgerApplication.ingest` of a workload
   end to end. "Without" is the same recorder with a constant in place of the hash
   (`_link_rows` overridden: the canonical bytes and the sha256 are what the chain
   costs). The chain's own CPU time per event (`chained` against that constant) is given beside.
The machine may be shared: wall times move with its load, so every row also gives CPU
time (this process and its children). Results: `## verify (issue 3)` of
bench/RESULTS.md (`--no-write`: print only).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import statistics
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
from adapters.store.chain import GENESIS, LINK, ChainParams, chained, originator_text
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


class Timed:
    """Wall and CPU seconds (this process and its waited-for children: verify's workers,
    the `ledger` subprocess and its workers) of a block."""

    def __enter__(self) -> Timed:
        self._wall, self._cpu = time.perf_counter(), _cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self._wall, _cpu() - self._cpu


def _cpu() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def best(runs: list[tuple[float, float]]) -> tuple[float, float]:
    """Fastest wall and least CPU of several runs: the least disturbed by other jobs."""
    return min(w for w, _ in runs), min(c for _, c in runs)


def ledger_verify(url: str, reps: int) -> tuple[float, float, int]:
    """`ledger verify` as a user runs it: best (wall s, CPU s) over `reps` runs, and the
    events/s the command itself printed (start-up excluded) in its fastest run."""
    runs, printed = [], 0
    for _ in range(reps):
        with Timed() as t:
            out = subprocess.run(
                [LEDGER, "--store", url, "verify", "--format", "json"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        doc = json.loads(out)
        if not doc.get("ok"):
            raise SystemExit(f"the benchmark store does not verify: {doc}")
        printed = max(printed, int(doc["events_per_s"]))
        runs.append((t.wall, t.cpu))
    return (*best(runs), printed)


def in_process_verify(url: str, jobs: int, reps: int) -> tuple[float, float, int]:
    """Best (wall s, CPU s) of `verify_store` with `jobs` processes, and the events checked."""
    runs, events = [], 0
    for _ in range(reps):
        with Timed() as t:
            report = verify_store(url, jobs=jobs)
        if not report.ok:
            raise SystemExit(f"the benchmark store does not verify: {report.as_dict()}")
        runs.append((t.wall, t.cpu))
        events = report.events
    return (*best(runs), events)


def read_floor(url: str, n: int) -> float:
    """Rows per CPU-second of reading what the verifier reads (`chain_links`), unhashed."""
    with open_recorder(url, create=False) as rec:
        cpu = time.process_time()
        rows = 0
        for lo in range(1, n + 1, 20_000):
            for _row in rec.chain_links(lo, min(lo + 19_999, n)):
                rows += 1
        return rows / (time.process_time() - cpu)


def bare_sha256(states: list[tuple[str, bytes]], n: int) -> float:
    """Links per CPU-second over rows of the chain's sizes: the chain's own link function
    (`chain.LINK`, the C extension where it is built), nothing else in the loop."""
    rows = [(b"0" * 32, t.encode(), s) for t, s in states]
    k = len(rows)
    link, prev = LINK, GENESIS
    cpu = time.process_time()
    for i in range(n):
        oid, t, s = rows[i % k]
        link(prev, oid, 1, t, s, 0)
    return n / (time.process_time() - cpu)


def chain_cpu(events: list[LedgerStoredEvent], reps: int) -> float:
    """CPU µs per event that the chain adds to building the insert rows (`chained` against
    the same rows with a constant hash): the median of `reps` back-to-back differences."""
    diffs = []
    for _ in range(reps):
        cpu = time.process_time()
        chained(GENESIS, events)
        mid = time.process_time()
        _unchained(events)
        diffs.append((mid - cpu) - (time.process_time() - mid))
    return statistics.median(diffs) / len(events) * 1e6


Samples = dict[str, list[tuple[float, float]]]


def interleaved(runs: dict[str, Callable[[], tuple[float, float]]], reps: int) -> Samples:
    """(wall, cpu) seconds of every run, the runs taking turns in alternating order
    (A B, B A, A B, ...) so that load drifts and warm caches hit them alike."""
    times: Samples = {k: [] for k in runs}
    names = list(runs)
    for i in range(reps):
        for name in names if i % 2 == 0 else names[::-1]:
            times[name].append(runs[name]())
    return times


def paired_cost(with_: list[float], without: list[float]) -> str:
    """Median and interquartile range of the cost (with / without - 1) over the pairs
    run back to back: steadier than comparing two minima on a shared machine."""
    ratios = sorted(100 * (a / b - 1) for a, b in zip(with_, without, strict=True))
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    return f"{q[1]:+.1f} % ({q[0]:+.1f} to {q[2]:+.1f})"


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
    ap.add_argument("--events", type=int, default=1_000_000, help="SQLite store to verify")
    ap.add_argument("--pg-events", type=int, default=200_000, help="PostgreSQL store")
    ap.add_argument("--append-events", type=int, default=100_000, help="per append run")
    ap.add_argument("--ingest-messages", type=int, default=20_000, help="per ingest run")
    ap.add_argument("--reps", type=int, default=9, help="pairs of runs with/without chain")
    ap.add_argument("--verify-reps", type=int, default=3, help="runs of each verify row")
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--no-overhead", action="store_true", help="skip the chain-cost runs")
    ap.add_argument("--keep", default=None, help="directory for the big store (reused)")
    ap.add_argument("--no-write", action="store_true", help="print, do not write RESULTS.md")
    args = ap.parse_args()
    load0 = os.getloadavg()
    states = real_states()
    notes: list[str] = []

    keep = Path(args.keep or tempfile.mkdtemp(prefix="bench-verify-"))
    keep.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{keep / f'verify-{args.events}.db'}"
    notes.append(f"SQLite store of {args.events:,} events {build(url, states, args.events)}.")
    rows = verify_rows("SQLite", url, states, args.events, args.verify_reps)
    if not args.no_postgres:
        with pg_url() as pg:
            built = build(pg, states, args.pg_events)
            notes.append(
                f"PostgreSQL store of {args.pg_events:,} events {built} "
                "(1,000,000 takes minutes to build here, hence fewer)."
            )
            rows += verify_rows("PostgreSQL", pg, states, args.pg_events, args.verify_reps)
    overhead = [] if args.no_overhead else overhead_rows(args, keep, states)
    load1 = os.getloadavg()
    body = report(rows, overhead, notes, load0, load1, args)
    if not args.no_write:
        write_section("verify (issue 3)", body)
    print(body)


def verify_rows(
    store: str, url: str, states: list[tuple[str, bytes]], n: int, reps: int
) -> list[str]:
    wall, cpu, printed = ledger_verify(url, reps)
    sha = bare_sha256(states, min(n, 300_000))
    read = read_floor(url, min(n, 300_000))
    floor = 1 / (1 / sha + 1 / read)
    rows = [
        f"| {store} | `ledger verify` (process start included, default jobs; "
        f"it printed {printed:,} events/s) | {n:,} | {wall:.2f} | {n / wall:,.0f} "
        f"| {cpu:.2f} | {n / cpu:,.0f} | |"
    ]
    for jobs in (1, 2):
        w, c, events = in_process_verify(url, jobs, reps)
        rows.append(
            f"| {store} | in-process, {jobs} job{'s' if jobs > 1 else ''} | {events:,} "
            f"| {w:.2f} | {events / w:,.0f} | {c:.2f} | {events / c:,.0f} "
            f"| {events / c / floor:.2f} |"
        )
    rows += [
        f"| {store} | floor: read the rows (no hashing) | | | | | {read:,.0f} | |",
        f"| {store} | floor: bare links (sha256) over the same sizes | | | | | {sha:,.0f} | |",
        f"| {store} | floor: both (one process) | | | | | {floor:,.0f} | 1.00 |",
    ]
    return rows


def overhead_rows(
    args: argparse.Namespace, keep: Path, states: list[tuple[str, bytes]]
) -> list[str]:
    events = synthetic(states, 0, args.append_events)
    per_event = chain_cpu(events, args.reps)
    lite = lambda: sqlite_url(str(keep))  # noqa: E731
    runs: list[tuple[str, str, int, str, dict[str, Callable[[], tuple[float, float]]]]] = [
        (
            "SQLite",
            "append",
            len(events),
            "events",
            {
                "with": append_run(lite, _topic(LedgerSQLiteRecorder), events),
                "without": append_run(lite, _topic(UnchainedSQLiteRecorder), events),
            },
        )
    ]
    pg_events = events[: args.append_events // 2]
    if not args.no_postgres:
        runs.append(
            (
                "PostgreSQL",
                "append",
                len(pg_events),
                "events",
                {
                    "with": append_run(pg_url, _topic(LedgerPostgresRecorder), pg_events),
                    "without": append_run(pg_url, _topic(UnchainedPostgresRecorder), pg_events),
                },
            )
        )
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "workload.jsonl"
        write(str(path), args.ingest_messages)
        runs.append(
            (
                "SQLite",
                "ingest",
                args.ingest_messages,
                "messages",
                {
                    "with": ingest_run(lite, _topic(LedgerSQLiteRecorder), path),
                    "without": ingest_run(lite, _topic(UnchainedSQLiteRecorder), path),
                },
            )
        )
        if not args.no_postgres:
            runs.append(
                (
                    "PostgreSQL",
                    "ingest",
                    args.ingest_messages,
                    "messages",
                    {
                        "with": ingest_run(pg_url, _topic(LedgerPostgresRecorder), path),
                        "without": ingest_run(pg_url, _topic(UnchainedPostgresRecorder), path),
                    },
                )
            )
        return [
            cost_row(store, what, n, unit, interleaved(pair, args.reps), per_event)
            for store, what, n, unit, pair in runs
        ]


def cost_row(
    store: str,
    what: str,
    n: int,
    unit: str,
    times: Samples,
    chain_us: float,
) -> str:
    (w_with, _), (w_without, c_without) = best(times["with"]), best(times["without"])
    share = f"{100 * chain_us * 1e-6 * n / c_without:.1f} %" if what == "append" else ""
    wall = paired_cost([w for w, _ in times["with"]], [w for w, _ in times["without"]])
    cpu = paired_cost([c for _, c in times["with"]], [c for _, c in times["without"]])
    return (
        f"| {store} | {what} | {n:,} {unit} | {n / w_with:,.0f} | {n / w_without:,.0f} "
        f"| {1e6 * c_without / n:.1f} | {wall} | {cpu} | {share} |"
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
    lines = [
        f"Measured {when} on {platform.machine()}, {cores} cores, Python "
        f"{platform.python_version()}; load average {load0[0]:.1f} at start, {load1[0]:.1f} at "
        "end (other jobs share the machine: compare CPU times and ratios, not absolute "
        "wall rates).",
        "",
        *notes,
        "",
        "### `ledger verify`",
        "",
        f"Best of {args.verify_reps} runs each; CPU is this process and its children "
        "(verify's worker processes, the `ledger` subprocess).",
        "",
        "| store | run | events | wall s | events/s (wall) | CPU s | events per CPU-s | x floor |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "Target: ≥ 500,000 events/s on SQLite. A row costs one link (sha256 of its ~450 "
        "canonical bytes through OpenSSL, called from C: `adapters/store/_chainlink.c`) "
        "and one row read through Python (~1 µs for its six values): one process cannot "
        "beat the "
        "floor, so long logs are checked by one process per core (up to 4) in ranges "
        "(each row needs only its predecessor's stored hash). Start-up (imports) is "
        "included only in the `ledger verify` row.",
    ]
    if overhead:
        lines += [
            "",
            f"### Cost of the hash chain ({args.reps} pairs run back to back)",
            "",
            "| store | path | size | with chain /s | without /s | without: CPU µs each "
            "| wall cost | CPU cost | chain CPU / append CPU |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
            *overhead,
            "",
            "`append`: the recorder's append of pre-encoded events, batches of 5,000 (the "
            "worst case: nothing but the insert to compare with). `ingest`: "
            "`LedgerApplication.ingest` of `bench/workload.py` messages, what `ledger "
            "ingest` does. The last column is the chain's own CPU time (canonical bytes + "
            "sha256 per row, measured alone) over the append's CPU time without it; for "
            "PostgreSQL the CPU times are the client's only (the server's work is in the "
            "wall times). Costs: median of the pairs' ratios (with / without - 1), "
            "interquartile range in brackets; rates: the best run of each. "
            "Target: ≤ 10 %.",
        ]
    lines += [
        "",
        "Run: `python bench/verify.py` (options: `--events`, `--pg-events`, "
        "`--append-events`, `--ingest-messages`, `--reps`, `--verify-reps`, "
        "`--no-postgres`, `--no-overhead`, `--keep DIR`, `--no-write`).",
    ]
    return "\n".join(lines)


def _topic(cls: type) -> str:
    return f"bench.verify:{cls.__qualname__}"


if __name__ == "__main__":
    main()
