"""Replay speed (issue 5): full replay of a large log, next to eventsourcing's own
notification-log read of the same store in the same run, and `--as-of` latency at the
end of the log, from scratch and from a snapshot.

    python bench/replay.py [--events 1000000] [--pg-events 1000000] [--no-postgres]
                           [--slice 200000] [--tail 1000] [--dir var/bench] [--no-write]

The SQLite store is built once with the real ingest path (`bench/workload.py`, a
kill switch that cannot trip) and kept under --dir; the PostgreSQL store is a copy of
its rows (the recorder's own `append`, so the chain is real), kept in a schema. Reruns
reuse both. Measured per store:

- eventsourcing: `NotificationLogReader.select` over a `LocalNotificationLog` (rows to
  `Notification` objects), and the same plus `LedgerMapper.to_domain_event`;
- replay: raw rows (`chain_rows`), rows + JSON parse only (what a lazy reader needs for
  a timeline), rows + decode, and the full replay: rows + decode + `Ledger.apply` of
  every event + the state document (= `replay --as-of` at the end, from scratch);
- `--as-of` at the end as the command runs it: the snapshot `ledger serve` would have
  written --tail events back, persisted in `ledger_snapshots` and found, checked against
  the chain and read from there; the tail; the document with pre-rendered rows; the
  JSON text written out as the command writes it (`replay.render.write_json`, here to
  /dev/null: what a pipe or a file then costs is the reader's). Whole and filtered to
  one order; and, for comparison, restoring the whole ledger from that snapshot;
- a profile of decode + apply (where the time goes).

The garbage collector is set as every `ledger` command sets it (`tune_gc`). The machine
may be shared: rates are given on wall time and on this process's CPU time. Results go
to `## replay (issue 5)` of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import io
import os
import platform
import pstats
import sys
import time
import timeit
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import psycopg
from eventsourcing.application import LocalNotificationLog
from eventsourcing.system import NotificationLogReader

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.process import tune_gc
from adapters.store import open_ledger, open_recorder
from adapters.store.snapshots import AS_OF_ROWS, SnapshotTable
from bench.results import write_section
from bench.workload import messages
from contracts import SourcedMessage
from domain.clock import SteppingClock
from domain.codec import LedgerMapper, LedgerStoredEvent
from domain.errors import EventDecodingError
from domain.ledger import Ledger, LedgerConfig
from domain.snapshot import restore_ledger, snapshot_ledger
from replay.render import to_json_bytes, write_json
from replay.report.window import state_at
from replay.snapshots import StoreSnapshots, snapshot_document
from replay.state import EventLog, Filter, Rebuilder, open_event_log, state_document

PG = os.environ.get("LEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
CONFIG = LedgerConfig(starting_equity=Decimal(10**9))  # the workload must not trip it
PAGE = 20_000
PROFILED = 20_000


@contextmanager
def timed(into: dict[str, float], key: str) -> Iterator[None]:
    w, c = time.perf_counter(), time.process_time()
    yield
    into[key] = time.perf_counter() - w
    into[key + ":cpu"] = time.process_time() - c


# ============================================================================ stores


def _readable(recorder: Any) -> bool:
    """Whether this version of the ledger can decode the store's events (a kept store may
    predate a change of the events)."""
    try:
        for _ in EventLog(recorder).events(1, 2_000):
            pass
    except EventDecodingError:
        return False
    return True


def build_sqlite(path: Path, events: int) -> str:
    url = f"sqlite:///{path}"
    if path.exists():
        with open_recorder(url, create=False) as rec:
            if (rec.max_notification_id() or 0) >= events and _readable(rec):
                print(f"reusing {url}", file=sys.stderr)
                return url
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    clock = SteppingClock(datetime(2025, 11, 17, 14, tzinfo=UTC), timedelta(milliseconds=1))
    app = open_ledger(url, clock=clock, config=CONFIG)
    n = -(-events * 4 // 6)  # 4 messages give 6 events
    t = time.perf_counter()
    app.ingest((SourcedMessage("bench", i, m) for i, m in enumerate(messages(n), 1)), 5000)
    print(
        f"built {url}: {app.position:,} events in {time.perf_counter() - t:.0f} s", file=sys.stderr
    )
    return url


def build_postgres(sqlite_url: str, events: int) -> str:
    schema = f"bench_replay_{events}"
    url = f"{PG}{'&' if '?' in PG else '?'}schema={schema}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    with open_recorder(url) as pg, open_recorder(sqlite_url, create=False) as lite:
        have = pg.max_notification_id() or 0
        if have >= events and _readable(pg):
            print(f"reusing schema {schema}", file=sys.stderr)
            return url
        if have and not _readable(pg):
            raise SystemExit(
                f"schema {schema} holds events of another version of the ledger: "
                f'DROP SCHEMA "{schema}" CASCADE, then run again'
            )
        t = time.perf_counter()
        start = have + 1
        while start <= events:
            rows = lite.chain_rows(start, PAGE, events)
            if not rows:
                break
            stored = [
                LedgerStoredEvent(
                    originator_id=UUID(r[1]),
                    originator_version=r[2],
                    topic=r[3],
                    state=bytes(r[4]),
                    recorded_at=r[5],
                )
                for r in rows
            ]
            pg.append(stored, sources={}, expected_position=start - 1)
            start = rows[-1][0] + 1
        print(
            f"copied to {schema}: {start - 1:,} events in {time.perf_counter() - t:.0f} s",
            file=sys.stderr,
        )
    return url


# ============================================================================ measurements


def eventsourcing_read(recorder: Any, *, stop: int | None = None, decode: bool = False) -> int:
    """The library's way to read an application's log: a reader over its notification log
    (what its `ProjectionRunner` and process applications use)."""
    mapper = LedgerMapper()
    reader = NotificationLogReader(
        LocalNotificationLog(recorder, section_size=PAGE), section_size=PAGE
    )
    n = 0
    for batch in reader.select(start=1, stop=stop):
        if decode:
            for notification in batch:
                mapper.to_domain_event(notification)
        n += len(batch)
    return n


def rows_only(log: EventLog, stop: int) -> int:
    return sum(1 for _ in log.rows(1, stop))


def rows_json(log: EventLog, stop: int) -> int:
    loads = orjson.loads
    n = 0
    for row in log.rows(1, stop):
        loads(row[4])
        n += 1
    return n


def rows_decode(log: EventLog, stop: int) -> int:
    return sum(1 for _ in log.events(1, stop))


def profile_apply(log: EventLog, stop: int) -> str:
    ledger = Ledger(CONFIG)
    prof = cProfile.Profile()
    prof.enable()
    for _, event in log.events(1, stop):
        ledger.apply(event)
    prof.disable()
    out = StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(14)
    return out.getvalue()


def decode_breakdown(log: EventLog) -> dict[str, float]:
    """CPU µs per call for one position event: the whole decode, its JSON parse, building
    the event (a slotted dataclass) from its fields, parsing an originator id."""
    topic = "domain.events:PositionFillApplied"
    row = next(r for r in log.rows(1, 1000) if r[3] == topic)
    event = log.codec.decode(row[3], row[1], row[2], row[4])
    fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    cls = type(event)
    calls: dict[str, Callable[[], object]] = {
        "decode": lambda: log.codec.decode(row[3], row[1], row[2], row[4]),
        "json": lambda: orjson.loads(row[4]),
        "build": lambda: cls(**fields),
        "uuid": lambda: UUID(str(row[1])),
    }
    out = {}
    for key, call in calls.items():
        best = min(timeit.repeat(call, number=5000, repeat=3, timer=time.process_time))
        out[key] = best / 5000 * 1e6
    return out


class _At:
    """A snapshot source holding one snapshot, taken when the scan passes `position`."""

    def __init__(self, position: int) -> None:
        self.position, self.data = position, b""
        self.took = (0.0, 0.0)  # wall, CPU s of taking it (not part of the replay)

    def nearest(self, position: int) -> tuple[int, bytes] | None:
        return (self.position, self.data) if self.data and self.position <= position else None

    def offer(self, position: int, ledger: Ledger) -> None:
        if position == self.position:
            w, c = time.perf_counter(), time.process_time()
            self.data = snapshot_ledger(ledger, AS_OF_ROWS)  # what `ledger serve` writes
            self.took = (time.perf_counter() - w, time.process_time() - c)


def free_position(url: str, at: int) -> int:
    """The latest position at or before `at` with no snapshot yet: a kept store may hold
    one there taken by other code (the table is append-only, one snapshot a position)."""
    with open_recorder(url, create=False) as rec:
        table = SnapshotTable(rec)
        table.create()
        while at > 1 and table.has(at):
            at -= 1
    return at


def persist(url: str, at: int, data: bytes) -> None:
    """The snapshot into the store's `ledger_snapshots`, as `ledger serve` writes it."""
    with open_recorder(url, create=False) as rec:
        table = SnapshotTable(rec)
        if not table.append(table.record_of(at, data, CONFIG, 0)):
            raise SystemExit(f"a snapshot is already recorded at {at}")


def measure(url: str, slice_: int, tail: int) -> dict[str, Any]:
    r: dict[str, Any] = {"tail": tail}
    with open_recorder(url, create=False) as recorder:
        log = EventLog(recorder)
        last = log.last_position()
        r["events"] = last
        with timed(r, "es_read"):
            assert eventsourcing_read(recorder) == last
        small = min(slice_, last)
        r["slice"] = small
        with timed(r, "es_decode_slice"):
            eventsourcing_read(recorder, stop=small, decode=True)
        for key, fn in (
            ("rows", rows_only),
            ("rows_json", rows_json),
            ("rows_decode", rows_decode),
        ):
            with timed(r, key + "_slice"):
                fn(log, small)
        # The full replay: every event decoded and applied, then the state document.
        snap = _At(free_position(url, last - tail))
        rebuilder = Rebuilder(log, CONFIG, snap)
        with timed(r, "full"):
            ledger = rebuilder.state_at(last)
            doc = state_document(ledger)
        # Taking the snapshot on the way is `ledger serve`'s cost, not the replay's.
        r["full"] -= snap.took[0]
        r["full:cpu"] -= snap.took[1]
        r["snapshot"], r["snapshot:cpu"] = snap.took
        want = to_json_bytes(doc) + b"\n"
        r["orders"], r["positions"] = len(doc["orders"]), len(doc["positions"])
        order = next(iter(ledger.orders))
        del ledger, rebuilder, doc
        r["snapshot_bytes"] = len(snap.data)
        persist(url, snap.position, snap.data)
        r["snapshot_at"], r["tail"] = snap.position, last - snap.position
    # `replay --as-of <end> --format json` as the command runs it, after the store is
    # open: the nearest snapshot bound to the log (table, chain), the tail, the document
    # with pre-rendered rows, the JSON text written out.
    with open_event_log(url) as log, open(os.devnull, "wb") as sink:
        check = io.BytesIO()
        write_json(
            state_at(log, CONFIG, last, snapshots=StoreSnapshots(log, CONFIG), prerendered=True),
            check,
        )
        if check.getvalue() != want:
            raise SystemExit("--as-of from the stored snapshot differs from the full replay")
        del check, want
        snapshots = StoreSnapshots(log, CONFIG)  # afresh: nothing read yet
        with timed(r, "as_of"):
            fast = state_at(log, CONFIG, last, snapshots=snapshots, prerendered=True)
            write_json(fast, sink)
        # A kept store may hold a later snapshot of this code (an earlier run's).
        r["snapshot_at"] = snapshots.used or 0
        r["tail"] = last - r["snapshot_at"]
        with timed(r, "as_of_order"):
            state_at(log, CONFIG, last, Filter(order=order), snapshots)
        # Of which: finding and checking the snapshot, the document, the JSON (the rows
        # are read and decompressed only as they are written).
        with timed(r, "fetch"):
            found = snapshots.nearest(last)
        assert found is not None
        with timed(r, "document"):
            fast = snapshot_document(log, CONFIG, found, last) or {}
        with timed(r, "json"):
            write_json(fast, sink)
        # The whole ledger from the snapshot (what a window or a post-mortem restores).
        with timed(r, "restore"):
            restore_ledger(found[1], CONFIG)
        r["profile"] = profile_apply(log, min(PROFILED, last))
        r["breakdown"] = decode_breakdown(log)
    return r


# ============================================================================ report


def _rate(n: int, s: float) -> str:
    return f"{n / s:,.0f}" if s > 0 else "-"


def section(results: dict[str, dict[str, Any]], built: dict[str, str]) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        f"Measured {now} on {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()} (load average {load:.1f} at the end: the "
        "machine is shared, so CPU-time rates are given beside wall-time ones); "
        "workload `bench/workload.py` (6 events per order, no trip). "
        f"{' '.join(built.values())}",
        "",
    ]
    head = (
        "| store | what | events | wall s | events/s (wall) | events/s (CPU) | "
        "x eventsourcing read |"
    )
    lines += [head, "|---|---|---:|---:|---:|---:|---:|"]
    for store, r in results.items():
        base = r["events"] / r["es_read"]
        rows = [
            ("eventsourcing `NotificationLogReader.select` (baseline)", "es_read", r["events"]),
            ("eventsourcing read + `LedgerMapper.to_domain_event`", "es_decode_slice", r["slice"]),
            ("replay: raw rows (`chain_rows`)", "rows_slice", r["slice"]),
            ("replay: rows + JSON parse (a lazy timeline's floor)", "rows_json_slice", r["slice"]),
            ("replay: rows + decode to domain events", "rows_decode_slice", r["slice"]),
            (
                "**full replay**: decode + `Ledger.apply` every event + state document",
                "full",
                r["events"],
            ),
        ]
        for what, key, n in rows:
            wall, cpu = r[key], r[key + ":cpu"]
            lines.append(
                f"| {store} | {what} | {n:,} | {wall:.2f} | {_rate(n, wall)} | "
                f"{_rate(n, cpu)} | {n / wall / base:.2f} |"
            )
    first = next(iter(results.values()))
    lines += [
        "",
        "`replay --as-of` at the end of the log (state document of "
        f"{first['orders']:,} orders), from the snapshot `ledger serve` would have written "
        f"{first['tail']:,} events back (`ledger_snapshots`), the store already open. Target: "
        "under 100 ms.",
        "",
        "| store | what | wall ms | CPU ms |",
        "|---|---|---:|---:|",
    ]
    for store, r in results.items():
        for what, key in (
            ("from scratch (the full replay above)", "full"),
            ("**`--as-of` end, `--format json`**: snapshot + tail + document + JSON", "as_of"),
            ("`--as-of` end, `--order` (one order's rows)", "as_of_order"),
            ("of which: find the snapshot, check its hash, read its header", "fetch"),
            (
                f"of which: hot state, the orders the {r['tail']:,}-event tail touches, "
                "the tail, the document",
                "document",
            ),
            ("of which: the JSON written out (rows read, LZ4 blocks decompressed)", "json"),
            ("taking the snapshot (`ledger serve`, under the ledger's lock)", "snapshot"),
            (
                f"for comparison: restoring the whole ledger ({r['snapshot_bytes'] / 1e6:.1f} "
                "MB snapshot; windows, post-mortems)",
                "restore",
            ),
        ):
            lines.append(
                f"| {store} | {what} | {r[key] * 1e3:,.1f} | {r[key + ':cpu'] * 1e3:,.1f} |"
            )
    lines += ["", *analysis(results)]
    lines += [
        "",
        f"Profile of decode + apply (first {PROFILED:,} events, SQLite, cProfile, tottime):",
        "",
        "```",
        _trim(first["profile"]),
        "```",
    ]
    return "\n".join(lines)


def _us(r: dict[str, Any], key: str, n: int) -> float:
    return float(r[key + ":cpu"]) / n * 1e6


def analysis(results: dict[str, dict[str, Any]]) -> list[str]:
    """Where a full replay's time goes, per event and in CPU time, and what follows."""
    out = ["### Where the time goes", ""]
    for store, r in results.items():
        n = r["slice"]
        rows = _us(r, "rows_slice", n)
        parse = _us(r, "rows_json_slice", n) - rows
        decode = _us(r, "rows_decode_slice", n) - rows - parse
        total = _us(r, "full", r["events"])
        apply = total - rows - parse - decode
        out.append(
            f"- {store}, CPU µs per event: read the row {rows:.1f}, parse its JSON "
            f"{parse:.1f}, turn it into a domain event {decode:.1f}, `Ledger.apply` (and "
            f"the final document) {apply:.1f}: {total:.1f} µs, {1e6 / total:,.0f} events/s "
            "on one core."
        )
    f = next(iter(results.values()))
    b = f["breakdown"]
    ratio = f["es_decode_slice:cpu"] / f["rows_decode_slice:cpu"]
    out += [
        f"- Decoding one `PositionFillApplied` ({b['decode']:.1f} µs CPU): JSON "
        f"{b['json']:.1f}, building the event (a slotted dataclass, built by its own "
        f"`__init__`) {b['build']:.1f}; the rest is the `Decimal`/`datetime` field "
        f"conversions from the codec's per-class table. (Parsing an originator id costs "
        f"{b['uuid']:.1f}; replay's reader caches them.)",
        "- `Ledger.apply`: one dict lookup on the event's class picks the handler; what "
        "remains is the aggregates' own work (order transitions, `Decimal` arithmetic of "
        "positions and the account per fill, `UUID.__hash__` in Python on every lookup by "
        "id); see the profile below.",
        "",
        "What follows:",
        "",
        "- The targets (500,000 events/s on SQLite, 200,000 on PostgreSQL) are 2 and 5 µs "
        "per event. Reading a row through Python costs about that much already; decoding "
        "every event into a domain event and applying it costs several times more. A "
        "full replay that decodes and applies every event does not reach them in "
        "CPython; what can is *not doing it*: replay from a snapshot (the tail only), and "
        "timelines that parse JSON lazily (the `rows + JSON parse` line, as the "
        "projections already do).",
        f"- Reading and decoding, replay does {ratio:.1f}x eventsourcing's own "
        "`NotificationLogReader` + `to_domain_event` path (raw rows instead of a "
        "`Notification` and a `UUID` per row; the same codec).",
        f"- `--as-of` at the end: {f['as_of'] * 1e3:,.0f} ms ({f['as_of:cpu'] * 1e3:,.0f} ms "
        f"CPU) from a persisted snapshot {f['tail']:,} events back ({f['full']:,.1f} s "
        f"from scratch). The snapshot ({f['snapshot_bytes'] / 1e6:.1f} MB in "
        "`ledger_snapshots`, bound to the log by the chain hash of its event) keeps every "
        "order's document row pre-rendered, in LZ4 blocks of 2,048 rows (about a tenth "
        "of the rows' size), and the orders themselves in compressed chunks. The command "
        "restores only the hot state and the orders the tail touches, applies the tail, "
        "and writes the other rows out a block at a time, straight from the decompressed "
        "block: the rows are never joined into one document nor held in memory at once "
        "(a buffer the size of every row costs a page fault per 4 KB, more than the "
        "decompression). Restoring the whole ledger instead (what windows and "
        f"post-mortems still do) takes {f['restore']:,.1f} s.",
        "- What is left grows slowly with history: reading the compressed rows (a few MB: "
        "one blob read on SQLite, one `substring` on PostgreSQL) and the ids of every "
        "order (16 bytes each, to find the touched ones), and decompressing and writing "
        "the rows (GB/s). The tail is the other term: each event after the snapshot costs "
        f"a full decode and apply ({_us(f, 'full', f['events']):.0f} µs CPU here), so "
        "`--as-of` stays under 100 ms within a few thousand events of a snapshot. `ledger "
        "serve` writes one every `--snapshot-every` events (default 100,000: a tail of up "
        "to 100,000 events, over a second); more often costs a whole snapshot each time "
        "(the time `serve` holds the ledger to take it, above), since every snapshot is "
        "complete.",
    ]
    return out


def _trim(profile: str) -> str:
    keep = [
        ln.replace(str(Path(__file__).resolve().parent.parent) + "/", "")
        for ln in profile.splitlines()
        if ln.strip()
    ]
    start = next((i for i, ln in enumerate(keep) if "ncalls" in ln), 0)
    return "\n".join(keep[start:])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--pg-events", type=int, default=None)
    p.add_argument("--no-postgres", action="store_true")
    p.add_argument("--slice", type=int, default=200_000)
    p.add_argument("--tail", type=int, default=1_000, help="Events after the snapshot for --as-of.")
    p.add_argument("--dir", type=Path, default=Path("var/bench"))
    p.add_argument("--no-write", action="store_true", help="Print, do not write RESULTS.md.")
    a = p.parse_args(argv)
    tune_gc()  # the collector's settings of every `ledger` command (replay/cli.py)
    built: dict[str, str] = {
        "SQLite": f"SQLite: {a.events:,} events ingested through `LedgerApplication.ingest` "
        "(built once, kept under --dir)."
    }
    stores: dict[str, str] = {}
    stores["SQLite"] = build_sqlite(a.dir / f"replay-{a.events}.db", a.events)
    if not a.no_postgres:
        n = a.pg_events or a.events
        stores["PostgreSQL"] = build_postgres(stores["SQLite"], n)
        built["PostgreSQL"] = (
            f"PostgreSQL: a copy of its first {n:,} rows through the recorder's `append`."
        )
    results: dict[str, dict[str, Any]] = {}
    for name, url in stores.items():
        print(f"measuring {name} ...", file=sys.stderr)
        results[name] = measure(url, a.slice, a.tail)
    text = section(results, built)
    print(text)
    if not a.no_write:
        write_section("replay (issue 5)", text)


if __name__ == "__main__":
    main()
