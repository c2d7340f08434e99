"""No skipped events for readers (PostgreSQL): a reader tailing the log from its last id
while 8 writers append concurrently sees every committed event exactly once, in order.

Writers append through the recorder (each with its own connection pool), taking the
expected position under retry; one of them also makes writes that roll back, which
leave gaps in the ids (allowed) that the reader must not mistake for anything."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from adapters.store import open_recorder
from adapters.store.verify import verify_store
from domain.codec import LedgerStoredEvent
from domain.ports import ConcurrentWriteError
from tests.support.services import postgres_schema, postgres_store_url

pytestmark = pytest.mark.postgres

WRITERS = 8
BATCHES = 12
BATCH = 15
T0 = 1_763_388_000_000_000


@pytest.fixture
def url() -> Iterator[str]:
    with postgres_schema() as schema:
        u = postgres_store_url(schema)
        with open_recorder(u) as rec:  # tables first; and one certain gap in the ids
            event = LedgerStoredEvent(
                originator_id="f" * 32, originator_version=1, topic="t", state=b"{}", recorded_at=T0
            )
            with pytest.raises(ConcurrentWriteError):
                rec.append([event, event], sources={}, expected_position=0)
        yield u


class Clock:
    """Recorded times taken after reading the expected position, so that whatever
    commits is never earlier than what committed before it."""

    def __init__(self) -> None:
        self._next = itertools.count(T0)
        self._lock = threading.Lock()

    def now(self) -> int:
        with self._lock:
            return next(self._next)


def writer(
    url: str, w: int, clock: Clock, committed: list[tuple[str, int]], errors: list[BaseException]
) -> None:
    try:
        with open_recorder(url, create=False) as rec:
            for b in range(BATCHES):
                oid = uuid.UUID(int=(w + 1) << 64 | b).hex
                while True:
                    expected = rec.max_notification_id() or 0
                    at = clock.now()
                    events = [
                        LedgerStoredEvent(
                            originator_id=oid,
                            originator_version=v,
                            topic="t",
                            state=b"{}",
                            recorded_at=at,
                        )
                        for v in range(1, BATCH + 1)
                    ]
                    if w == 0 and b % 3 == 1:  # a batch that fails after taking ids
                        doomed = [*events, events[0]]
                        with pytest.raises(ConcurrentWriteError):
                            rec.append(doomed, sources={}, expected_position=expected)
                    try:
                        rec.append(events, sources={f"w{w}": b}, expected_position=expected)
                    except ConcurrentWriteError:
                        continue
                    committed.extend((oid, v) for v in range(1, BATCH + 1))
                    break
    except BaseException as e:  # reported by the test thread
        errors.append(e)


def test_a_tailing_reader_sees_every_event_once_in_order(url: str) -> None:
    clock, committed, errors = Clock(), [], []  # type: ignore[var-annotated]
    threads = [
        threading.Thread(target=writer, args=(url, w, clock, committed, errors))
        for w in range(WRITERS)
    ]
    for t in threads:
        t.start()
    seen: list[tuple[int, str, int]] = []
    with open_recorder(url, create=False) as reader:
        last = 0
        while any(t.is_alive() for t in threads) or last < (reader.max_notification_id() or 0):
            page = reader.select_notifications(last + 1, 100)
            for n in page:
                assert n.id > last
                seen.append((n.id, str(n.originator_id).replace("-", ""), n.originator_version))
                last = n.id
            if not page:
                time.sleep(0.002)
        final = [
            (n.id, str(n.originator_id).replace("-", ""), n.originator_version)
            for n in reader.select_notifications(1, 1_000_000)
        ]
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(committed) == WRITERS * BATCHES * BATCH
    assert seen == final  # every event, once, in log order: nothing skipped
    assert sorted((o, v) for _, o, v in seen) == sorted(committed)
    ids = [i for i, _, _ in final]
    assert ids[0] > 1 and ids[-1] > len(ids), "rolled-back writes leave gaps in the ids"
    report = verify_store(url)
    assert report.ok and report.events == len(final)
