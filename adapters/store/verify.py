"""Recomputing the hash chain (`ledger verify`) and naming the first bad position.

Every row is checked against its predecessor's *stored* hash, so the log is read
in batches, and a long log in ranges by several processes, with the same answer
as one pass. The head is fixed when verification starts; rows appended meanwhile
are left for the next run.

When a row does not link, the neighbours tell what happened (see `diagnose`):
- changed: the row's content no longer matches its hash, the next row still links
  to that hash (an edit made with the trigger disabled, a flipped byte);
- hash: the content matches, the hash column was rewritten;
- deleted: rows are missing before it (positions absent, the link skips them). On
  PostgreSQL ids may have gaps from rolled-back writes; a gap alone is not an
  error, only a gap the chain does not link across;
- inserted: the row is not part of the chain (its neighbours link to each other);
- out_of_order: the row links but was recorded before its predecessor.
Deleting the *last* rows leaves a sound but shorter chain: compare the printed head
with one written down earlier.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from adapters.store import driver_errors, open_recorder
from adapters.store.chain import GENESIS, ChainRow, LinkRow, first_break, link, links_hold
from adapters.store.errors import StoreUnavailable
from adapters.store.url import mask_url, parse_store_url

BATCH = 20_000
CHUNK = 100_000  # at most this many positions per task when several processes verify
TASKS_PER_JOB = 4  # smaller tasks near the end, so no process idles while one finishes
PARALLEL_MIN = 50_000  # below this, starting processes (~15 ms) costs more than it saves
MAX_JOBS = 4
_EARLIEST = -(2**63)

Progress = Callable[[int], None]


class ChainSource(Protocol):
    def chain_rows(self, start: int, limit: int, stop: int | None = None) -> list[ChainRow]: ...

    def chain_links(self, lo: int, hi: int) -> Generator[LinkRow, None, None]: ...

    def chain_anchor(self, before: int) -> tuple[int, bytes, int] | None: ...

    def chain_head(self) -> tuple[int, bytes, int] | None: ...


@dataclass(frozen=True)
class ChainBreak:
    position: int
    kind: str  # changed | hash | deleted | inserted | out_of_order | broken
    detail: str

    @property
    def reason(self) -> str:
        return f"{self.kind}: {self.detail}"


@dataclass(frozen=True)
class ChainReport:
    events: int  # rows checked (up to the break, if any)
    head_position: int  # the store's last row when verification started (0: empty)
    head_hash: bytes
    first_break: ChainBreak | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.first_break is None

    @property
    def events_per_s(self) -> int:
        return round(self.events / self.seconds) if self.seconds > 0 else 0

    def as_dict(self) -> dict[str, Any]:
        brk = self.first_break
        return {
            "ok": self.ok,
            "events": self.events,
            "head_position": self.head_position,
            "head_hash": self.head_hash.hex(),
            "first_bad_position": brk.position if brk else None,
            "reason": brk.reason if brk else None,
            "events_per_s": self.events_per_s,
        }


# ---------------------------------------------------------------------- one pass


def scan(
    source: ChainSource,
    start: int,
    stop: int,
    *,
    progress: Progress | None = None,
    batch: int = BATCH,
) -> tuple[int, int | None]:
    """Check rows `start`..`stop`: (rows checked, first bad position or None).

    Pages of `batch` positions go through the fast path (`links_hold`); a page it does not
    pass is read again row by row (`chain_rows`, `first_break`), which names the row."""
    anchor = source.chain_anchor(start)
    prev, prev_recorded = (anchor[1], anchor[2]) if anchor else (GENESIS, _EARLIEST)
    checked = 0
    while start <= stop:
        hi = min(start + batch - 1, stop)
        links = source.chain_links(start, hi)
        try:
            held = links_hold(links, prev, prev_recorded)
        finally:
            links.close()
        if held is None:
            rows = source.chain_rows(start, batch, hi)
            i = first_break(rows, prev, prev_recorded)
            if i is not None:
                return checked + i, rows[i][0]
            # Sound after all: a value stored with another type, equal through the casts.
            if rows:
                prev, prev_recorded = rows[-1][6], rows[-1][5]
            held = (len(rows), prev, prev_recorded)
        count, prev, prev_recorded = held
        checked += count
        if progress is not None and count:
            progress(count)
        start = hi + 1
    return checked, None


def verify_chain(
    source: ChainSource,
    *,
    since: int = 1,
    progress: Progress | None = None,
    batch: int = BATCH,
    timer: Callable[[], float] = time.perf_counter,
) -> ChainReport:
    """Verify `source` from position `since` to its current head, in this process."""
    started = timer()
    head_position, head_hash = _head(source)
    checked, bad = scan(source, max(since, 1), head_position, progress=progress, batch=batch)
    brk = diagnose(source, bad) if bad is not None else None
    return ChainReport(checked, head_position, head_hash, brk, timer() - started)


def _head(source: ChainSource) -> tuple[int, bytes]:
    head = source.chain_head()
    return (head[0], head[1]) if head else (0, GENESIS)


# ---------------------------------------------------------------------- several processes

Opener = Callable[[], Any]  # a picklable callable returning a context manager of a source

_worker: dict[str, Any] = {}


def _worker_init(opener: Opener) -> None:
    stack = ExitStack()
    _worker["source"] = stack.enter_context(opener())
    _worker["stack"] = stack


def _scan_range(task: tuple[int, int, int]) -> tuple[int, int | None]:
    lo, hi, batch = task
    source: ChainSource = _worker["source"]
    return scan(source, lo, hi, batch=batch)


def verify_parallel(
    opener: Opener,
    *,
    since: int = 1,
    jobs: int,
    progress: Progress | None = None,
    on_plan: Callable[[int, int], None] | None = None,
    batch: int = BATCH,
    chunk: int | None = None,
    timer: Callable[[], float] = time.perf_counter,
) -> ChainReport:
    """Verify with `jobs` processes, each opening its own source with `opener()` (a context
    manager); ranges of `chunk` positions (default: see `task_size`), results taken in
    order so the first bad position is the same as one pass would find.
    `on_plan(first, head)` is called once the range is known."""
    started = timer()
    since = max(since, 1)
    with opener() as source:
        head_position, head_hash = _head(source)
    chunk = chunk or task_size(head_position - since + 1, jobs)
    tasks = [
        (lo, min(lo + chunk - 1, head_position), batch)
        for lo in range(since, head_position + 1, chunk)
    ]
    checked, bad = 0, None
    with _pool(jobs, opener) as pool:
        # The plan is announced once the workers exist: a progress bar's thread started
        # earlier would rule out the fast fork.
        if on_plan is not None:
            on_plan(since, head_position)
        for count, bad in pool.imap(_scan_range, tasks):
            checked += count
            if progress is not None:
                progress(count)
            if bad is not None:
                break
    brk = None
    if bad is not None:
        with opener() as source:
            brk = diagnose(source, bad)
    return ChainReport(checked, head_position, head_hash, brk, timer() - started)


def task_size(positions: int, jobs: int) -> int:
    """Positions per task: about TASKS_PER_JOB tasks per process, so that a process slowed
    by other load on the machine does not leave the others idle at the end; at most CHUNK,
    at least one page."""
    return max(BATCH, min(CHUNK, -(-positions // (jobs * TASKS_PER_JOB))))


def default_jobs(positions: int) -> int:
    """One process for a short log; otherwise one per core this process may use (up to
    MAX_JOBS): each checks ranges on its own, the parent only collects."""
    if positions < PARALLEL_MIN:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return min(cores, MAX_JOBS)


@contextmanager
def _pool(jobs: int, opener: Opener) -> Iterator[Any]:
    # fork is fast and safe only while this process has no other thread (a connection
    # pool's workers, a progress bar's refresher); otherwise start clean processes.
    method = "fork" if threading.active_count() == 1 else "spawn"
    pool = multiprocessing.get_context(method).Pool(jobs, _worker_init, (opener,))
    try:
        yield pool
    finally:
        pool.terminate()
        pool.join()


# ---------------------------------------------------------------------- diagnosis


def diagnose(source: ChainSource, position: int) -> ChainBreak:
    """What is wrong at `position`, the first row that does not link (see module doc)."""
    rows = source.chain_rows(position, 2)
    row = rows[0]
    succ = rows[1] if len(rows) > 1 else None
    pred = source.chain_anchor(position)
    prev_pos, prev_hash, prev_recorded = pred or (0, GENESIS, _EARLIEST)
    computed = link(prev_hash, row)
    if computed == row[6]:
        return ChainBreak(
            position,
            "out_of_order",
            f"row {position} was recorded at {_iso(row[5])}, before row "
            f"{prev_pos} ({_iso(prev_recorded)}): inserted out of order",
        )
    if succ is not None and link(prev_hash, succ) == succ[6]:
        return ChainBreak(
            position,
            "inserted",
            f"row {position} is not part of the chain: row {succ[0]} links to "
            f"row {prev_pos} before it",
        )
    if pred is not None:
        before = source.chain_anchor(prev_pos)
        if link(before[1] if before else GENESIS, row) == row[6]:
            return ChainBreak(
                prev_pos,
                "inserted",
                f"row {prev_pos} is not part of the chain: row {position} links "
                f"to row {before[0] if before else 0} before it",
            )
    if succ is not None and link(computed, succ) == succ[6]:
        return ChainBreak(
            position,
            "hash",
            f"the hash column of row {position} was rewritten: the row's "
            f"content and row {succ[0]} agree with each other, not with it",
        )
    if prev_pos + 1 < position:
        return ChainBreak(
            prev_pos + 1,
            "deleted",
            f"rows deleted: positions {prev_pos + 1}..{position - 1} are missing "
            f"and row {position} does not link to row {prev_pos}",
        )
    if succ is None or link(row[6], succ) == succ[6]:
        return ChainBreak(
            position, "changed", f"row {position} was changed: its content does not match its hash"
        )
    return ChainBreak(
        position,
        "broken",
        f"the chain is broken from row {position}: neither it nor row {succ[0]} match their hashes",
    )


def _iso(micros: int) -> str:
    if micros == _EARLIEST:
        return "-"
    at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    return at.isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------------- the command's entry


def verify_store(
    url: str,
    *,
    since: int = 1,
    role: str | None = None,
    jobs: int | None = None,
    progress: Progress | None = None,
    on_plan: Callable[[int, int], None] | None = None,
) -> ChainReport:
    """Verify the store at `url` (as `role`) from `since`; several processes (`jobs`, by
    default up to 4 for a long log) check ranges of it in parallel."""
    opener = functools.partial(open_recorder, url, role=role, create=False)
    since = max(since, 1)
    location = parse_store_url(url)
    if location.sqlite_path is not None and not location.sqlite_path.is_file():
        raise StoreUnavailable(f"no store at {location.masked}")
    try:
        with opener() as rec:  # never creates: a mistyped URL must not verify as empty
            if rec.schema_version() == 0:
                raise StoreUnavailable(f"no ledger in {location.masked}")
            head = rec.chain_head()
        todo = (head[0] if head else 0) - since + 1
        if jobs is None:
            jobs = default_jobs(todo)
        if jobs > 1:
            return verify_parallel(
                opener, since=since, jobs=jobs, progress=progress, on_plan=on_plan
            )
        with opener() as rec:
            if on_plan is not None:
                on_plan(since, head[0] if head else 0)
            return verify_chain(rec, since=since, progress=progress)
    except driver_errors(location) as e:
        raise StoreUnavailable(f"cannot read store {mask_url(url)}: {e}") from e
