"""Tampering with the event log: refused by the database, and when forced (a superuser
with the trigger disabled), found by `verify` at the exact position, saying what happened.

Same tests on an SQLite file and on the real PostgreSQL (fresh schema each)."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from adapters.store import open_recorder, parse_store_url
from adapters.store.chain import GENESIS, row_hash
from adapters.store.sqlite import append_only_triggers
from adapters.store.verify import ChainReport, verify_chain, verify_parallel
from bench.workload import messages
from contracts import SourcedMessage
from domain.codec import LedgerStoredEvent
from domain.ports import ConcurrentWriteError
from tests.conftest import make_app
from tests.support.services import POSTGRES_URL, postgres_schema, postgres_store_url

ORDERS = 20  # 80 messages -> 120 order events, plus the account's


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_schema() as schema:
        yield postgres_store_url(schema)


def populate(url: str, n_messages: int = 4 * ORDERS) -> int:
    """A log written by the real application; returns its last position."""
    app = make_app(url)
    app.process(
        [SourcedMessage("file:/w.jsonl", i, m) for i, m in enumerate(messages(n_messages), 1)]
    )
    position = app.position
    app.close()
    return position


def verify(url: str, since: int = 1) -> ChainReport:
    with open_recorder(url) as rec:
        return verify_chain(rec, since=since, batch=7)  # small batches: breaks span them


def edited(state: bytes) -> bytes:
    """The state with its occurred time an hour earlier (still valid JSON)."""
    new = state.replace(b'"occurred_at":"2025-11-17T09', b'"occurred_at":"2025-11-17T08', 1)
    assert new != state
    return new


def row(url: str, position: int) -> tuple[Any, ...]:
    with open_recorder(url) as rec:
        return rec.chain_rows(position, 1)[0]


# ---------------------------------------------------------------------- raw access


@contextmanager
def superuser(url: str) -> Iterator[Any]:
    """A direct connection (the file's owner, the PostgreSQL superuser) with the table
    named `ledger_events` and positions in a column named `pos`."""
    location = parse_store_url(url)
    if location.sqlite_path is not None:
        conn = sqlite3.connect(location.sqlite_path, isolation_level=None)
        conn.execute("CREATE TEMP VIEW v AS SELECT rowid AS pos, * FROM ledger_events")
        try:
            yield conn
        finally:
            conn.close()
    else:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as pg:
            pg.execute(f'SET search_path TO "{location.env["POSTGRES_SCHEMA"]}"')
            yield pg


def sql(url: str, statement: str) -> str:
    """SQLite's placeholders and position column -> PostgreSQL's."""
    if parse_store_url(url).backend == "sqlite":
        return statement.replace("{pos}", "rowid")
    return statement.replace("?", "%s").replace("{pos}", "notification_id")


@contextmanager
def triggers_disabled(url: str) -> Iterator[Any]:
    """What a superuser can do: PostgreSQL `DISABLE TRIGGER`; SQLite drop and re-create."""
    with superuser(url) as conn:
        if isinstance(conn, sqlite3.Connection):
            conn.execute("BEGIN")
            for op in ("update", "delete"):
                conn.execute(f"DROP TRIGGER ledger_events_no_{op}")
            yield conn
            for statement in append_only_triggers("ledger_events"):
                conn.execute(statement)
            conn.execute("COMMIT")
        else:
            with conn.transaction():
                conn.execute("ALTER TABLE ledger_events DISABLE TRIGGER USER")
                yield conn
                conn.execute("ALTER TABLE ledger_events ENABLE TRIGGER USER")


def forced(url: str, statement: str, *params: Any) -> None:
    with triggers_disabled(url) as conn:
        conn.execute(sql(url, statement), params)


def refused(url: str, statement: str, *params: Any) -> str:
    with superuser(url) as conn, pytest.raises((sqlite3.DatabaseError, psycopg.Error)) as e:
        conn.execute(sql(url, statement), params)
    return str(e.value)


def assert_break(report: ChainReport, position: int, kind: str) -> None:
    assert not report.ok
    assert report.first_break is not None
    assert (report.first_break.position, report.first_break.kind) == (position, kind), report


# ---------------------------------------------------------------------- refused


def test_update_delete_and_truncate_are_refused_by_the_database(store_url: str) -> None:
    head = populate(store_url)
    assert "ledger_events is append-only: UPDATE refused" in refused(
        store_url, "UPDATE ledger_events SET state = ? WHERE {pos} = 3", b"{}"
    )
    assert "ledger_events is append-only: DELETE refused" in refused(
        store_url, "DELETE FROM ledger_events WHERE {pos} = 3"
    )
    if parse_store_url(store_url).backend == "sqlite":  # SQLite's TRUNCATE is a bare DELETE
        assert "append-only: DELETE refused" in refused(store_url, "DELETE FROM ledger_events")
    else:
        assert "append-only: TRUNCATE refused" in refused(store_url, "TRUNCATE ledger_events")
    report = verify(store_url)
    assert report.ok and report.events == head == report.head_position


# ---------------------------------------------------------------------- found


def test_an_edit_with_the_trigger_disabled_is_found_at_its_position(store_url: str) -> None:
    head = populate(store_url)
    state = row(store_url, 57)[4]
    forced(store_url, "UPDATE ledger_events SET state = ? WHERE {pos} = 57", edited(state))
    # the trigger is back: the next edit is refused again
    assert "append-only" in refused(store_url, "UPDATE ledger_events SET topic = 'x'")
    report = verify(store_url)
    assert_break(report, 57, "changed")
    assert report.events == 56 and report.head_position == head
    assert "row 57 was changed" in (report.first_break.reason if report.first_break else "")


def test_a_flipped_byte_in_a_state_blob_is_found(store_url: str) -> None:
    populate(store_url)
    state = bytearray(row(store_url, 33)[4])
    state[len(state) // 2] ^= 0x01
    forced(store_url, "UPDATE ledger_events SET state = ? WHERE {pos} = 33", bytes(state))
    assert_break(verify(store_url), 33, "changed")


def test_a_deleted_row_is_found(store_url: str) -> None:
    populate(store_url)
    forced(store_url, "DELETE FROM ledger_events WHERE {pos} = 40")
    report = verify(store_url)
    assert_break(report, 40, "deleted")
    assert "positions 40..40 are missing" in report.as_dict()["reason"]


def test_a_deleted_first_row_is_found(store_url: str) -> None:
    populate(store_url)
    forced(store_url, "DELETE FROM ledger_events WHERE {pos} = 1")
    assert_break(verify(store_url), 1, "deleted")


def test_a_rewritten_hash_is_found(store_url: str) -> None:
    populate(store_url)
    forced(store_url, "UPDATE ledger_events SET hash = ? WHERE {pos} = 12", bytes(32))
    assert_break(verify(store_url), 12, "hash")


def test_a_consistent_rewrite_of_the_tail_moves_the_head(store_url: str) -> None:
    """Re-hashing everything after an edit fools the chain itself: only the head written
    down earlier shows it, which is why verify prints the head."""
    head = populate(store_url)
    before = verify(store_url)
    rows = [row(store_url, p) for p in range(head - 1, head + 1)]
    prev = rows[0][6]
    state = edited(rows[1][4])
    forged = row_hash(prev, rows[1][1], rows[1][2], rows[1][3], state, rows[1][5])
    forced(
        store_url,
        "UPDATE ledger_events SET state = ?, hash = ? WHERE {pos} = ?",
        state,
        forged,
        head,
    )
    after = verify(store_url)
    assert after.ok and after.head_position == before.head_position
    assert after.head_hash != before.head_hash


def test_a_row_inserted_out_of_order_is_found(store_url: str) -> None:
    """A backdated event appended with a correctly computed hash: only its recorded time,
    earlier than its predecessor's, gives it away."""
    head = populate(store_url)
    last = row(store_url, head)
    backdated = LedgerStoredEvent(
        originator_id=last[1],
        originator_version=999,
        topic=last[3],
        state=last[4],
        recorded_at=last[5] - 60_000_000,
    )
    with open_recorder(store_url) as rec:
        assert rec.append([backdated], sources={}, expected_position=head) == head + 1
    assert_break(verify(store_url), head + 1, "out_of_order")


def test_a_value_stored_with_another_type_is_read_as_before(sqlite_url: str) -> None:
    """SQLite keeps the type a value was written with. A value retyped without changing
    it (7 -> '7') fails the verifier's fast path, which reads columns as stored; the
    careful path reads them through casts, as ever, and finds the row sound. A retyped
    value that differs is found like any edit."""
    head = populate(sqlite_url)
    forced(
        sqlite_url,
        "UPDATE ledger_events SET originator_version = CAST(originator_version AS TEXT), "
        "recorded_at = CAST(recorded_at AS REAL), state = CAST(state AS TEXT) "
        "WHERE {pos} IN (3, 30)",
    )
    report = verify(sqlite_url)
    assert report.ok and report.events == head
    forced(sqlite_url, "UPDATE ledger_events SET originator_version = '1x' WHERE {pos} = 30")
    assert_break(verify(sqlite_url), 30, "changed")


def _gap(url: str) -> int:
    """A rolled-back append leaves a gap in PostgreSQL's ids: returns its first id."""
    with open_recorder(url) as rec:
        head = rec.chain_head()
        assert head is not None
        dup = rec.chain_rows(1, 1)[0]
        event = LedgerStoredEvent(
            originator_id=dup[1],
            originator_version=dup[2],
            topic=dup[3],
            state=dup[4],
            recorded_at=head[2],
        )
        with pytest.raises(ConcurrentWriteError):
            rec.append([event], sources={}, expected_position=head[0])
        fresh = LedgerStoredEvent(
            originator_id="e" * 32,
            originator_version=1,
            topic=dup[3],
            state=dup[4],
            recorded_at=head[2] + 1,
        )
        new_head = rec.append([fresh], sources={}, expected_position=head[0])
    assert new_head == head[0] + 2, "the rolled-back insert should have used one id"
    return head[0] + 1


@pytest.mark.postgres
@pytest.mark.parametrize("valid_hash", [True, False], ids=["linked", "garbage-hash"])
def test_a_row_inserted_into_a_gap_is_found(postgres_url: str, valid_hash: bool) -> None:
    populate(postgres_url)
    gap = _gap(postgres_url)
    assert verify(postgres_url).ok  # a gap alone is no error
    before = row(postgres_url, gap - 1)
    state, recorded = b'{"forged":true}', before[5]
    forged = (
        row_hash(before[6], "f" * 32, 1, before[3], state, recorded)
        if valid_hash
        else bytes(range(32))
    )
    with superuser(postgres_url) as conn:  # an INSERT needs no trigger disabled
        conn.execute(
            "INSERT INTO ledger_events (originator_id, originator_version, topic, state, "
            "notification_id, recorded_at, hash) VALUES (%s, 1, %s, %s, %s, %s, %s)",
            ("f" * 32, before[3], state, gap, recorded, forged),
        )
    report = verify(postgres_url)
    assert_break(report, gap, "inserted")


def test_since_checks_the_tail_from_the_stored_hash_before_it(store_url: str) -> None:
    head = populate(store_url)
    state = row(store_url, 20)[4]
    forced(store_url, "UPDATE ledger_events SET state = ? WHERE {pos} = 20", edited(state))
    tail = verify(store_url, since=21)
    assert tail.ok and tail.events == head - 20 and tail.head_position == head
    assert_break(verify(store_url, since=20), 20, "changed")
    assert verify(store_url, since=head + 5).events == 0


def test_several_processes_find_the_same_first_break(store_url: str) -> None:
    populate(store_url)
    opener = functools.partial(open_recorder, store_url, create=False)
    intact = verify_parallel(opener, jobs=2, chunk=25, batch=10)
    assert intact.ok and intact.as_dict()["head_hash"] == verify(store_url).as_dict()["head_hash"]
    forced(store_url, "DELETE FROM ledger_events WHERE {pos} = 51")  # first of a chunk
    forced(store_url, "UPDATE ledger_events SET hash = ? WHERE {pos} = 90", GENESIS)
    broken = verify_parallel(opener, jobs=2, chunk=25, batch=10)
    assert_break(broken, 51, "deleted")
    assert broken.as_dict() | {"events_per_s": 0} == verify(store_url).as_dict() | {
        "events_per_s": 0
    }
