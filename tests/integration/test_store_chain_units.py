"""The store's pure parts: the chain encoding, the verifier's diagnosis on a hand-written
in-memory log, role names. (No database: these run in milliseconds.)"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Generator
from uuid import UUID

import pytest

from adapters.store.chain import (
    GENESIS,
    ChainRow,
    LinkRow,
    chained,
    first_break,
    links_hold,
    row_hash,
)
from adapters.store.roles import (
    RoleNameError,
    RoleNames,
    connect_options,
    resolve_role,
)
from adapters.store.verify import (
    BATCH,
    CHUNK,
    PARALLEL_MIN,
    default_jobs,
    diagnose,
    task_size,
    verify_chain,
)
from domain.codec import LedgerStoredEvent


class MemoryLog:
    """A ChainSource over a list of rows (positions may have gaps)."""

    def __init__(self, rows: list[ChainRow]) -> None:
        self.rows = rows

    def chain_rows(self, start: int, limit: int, stop: int | None = None) -> list[ChainRow]:
        top = stop if stop is not None else 2**63
        return [r for r in self.rows if start <= r[0] <= top][:limit]

    def chain_links(self, lo: int, hi: int) -> Generator[LinkRow, None, None]:
        for _pos, oid, version, topic, state, recorded_at, stored in self.chain_rows(lo, 2**63, hi):
            yield oid.encode(), version, topic.encode(), state, recorded_at, stored

    def chain_anchor(self, before: int) -> tuple[int, bytes, int] | None:
        prior = [r for r in self.rows if r[0] < before]
        return (prior[-1][0], prior[-1][6], prior[-1][5]) if prior else None

    def chain_head(self) -> tuple[int, bytes, int] | None:
        return self.chain_anchor(2**63)


def log(n: int, positions: list[int] | None = None) -> MemoryLog:
    events = [
        LedgerStoredEvent(
            originator_id=UUID(int=i + 1),
            originator_version=1,
            topic="t:E",
            state=b'{"i":%d}' % i,
            recorded_at=1000 + i,
        )
        for i in range(n)
    ]
    params = chained(GENESIS, events)
    return MemoryLog(
        [(pos, *p) for pos, p in zip(positions or range(1, n + 1), params, strict=True)]
    )


def test_the_encoding_is_sha256_of_the_length_prefixed_fields() -> None:
    oid, state = "ab" * 16, b'{"x":1}'
    header = struct.pack(">qIqI", 7, 3, 42, len(state))
    expected = hashlib.sha256(GENESIS + oid.encode() + header + b"t:E" + state).digest()
    assert row_hash(GENESIS, oid, 7, "t:E", state, 42) == expected
    event = LedgerStoredEvent(
        originator_id=UUID(oid), originator_version=7, topic="t:E", state=state, recorded_at=42
    )
    assert chained(GENESIS, [event])[0] == (oid, 7, "t:E", state, 42, expected)


def test_fields_do_not_run_into_each_other() -> None:
    a = row_hash(GENESIS, "a" * 32, 1, "t:E", b"xy", 5)
    assert a != row_hash(GENESIS, "a" * 32, 1, "t:Ex", b"y", 5)


def test_first_break_names_the_row_that_does_not_link() -> None:
    rows = log(6).rows
    assert first_break(rows, GENESIS, -1) is None
    rows[3] = (*rows[3][:4], b"{}", *rows[3][5:])
    assert first_break(rows, GENESIS, -1) == 3


def test_a_recorded_time_going_backwards_is_a_break() -> None:
    rows = log(3).rows
    assert first_break(rows, GENESIS, rows[0][5] + 1) == 0


def test_the_fast_path_says_sound_only_when_first_break_does() -> None:
    memory = log(5)
    last = memory.rows[-1]
    assert links_hold(memory.chain_links(1, 5), GENESIS, -1) == (5, last[6], last[5])
    assert links_hold(memory.chain_links(1, 5), GENESIS, last[5] + 1) is None
    r = memory.rows[2]
    memory.rows[2] = (*r[:4], b"{}", *r[5:])
    assert links_hold(memory.chain_links(1, 5), GENESIS, -1) is None


class Retyped(MemoryLog):
    """A store whose fast read returns a version as text (SQLite keeps the type a value
    was written with); its careful read (`chain_rows`) casts it back."""

    def chain_links(self, lo: int, hi: int) -> Generator[LinkRow, None, None]:
        for oid, version, topic, state, recorded_at, stored in super().chain_links(lo, hi):
            yield oid, str(version), topic, state, recorded_at, stored  # type: ignore[misc]


def test_a_value_of_another_type_sends_the_page_to_the_careful_path() -> None:
    rows = log(5).rows
    assert links_hold(Retyped(rows).chain_links(1, 5), GENESIS, -1) is None
    report = verify_chain(Retyped(rows), batch=2)
    assert report.ok and report.events == 5
    r = rows[3]
    rows[3] = (*r[:4], b"{}", *r[5:])
    brk = verify_chain(Retyped(rows), batch=2).first_break
    assert brk is not None and (brk.position, brk.kind) == (4, "changed")


def test_gaps_in_positions_are_not_breaks() -> None:
    memory = log(5, [1, 2, 5, 6, 9])
    report = verify_chain(memory, batch=2)
    assert report.ok and (report.events, report.head_position) == (5, 9)


def test_two_consecutive_changed_rows_are_a_broken_chain() -> None:
    memory = log(6)
    for i in (2, 3):
        r = memory.rows[i]
        memory.rows[i] = (*r[:4], r[4] + b" ", *r[5:])
    brk = diagnose(memory, 3)
    assert (brk.position, brk.kind) == (3, "broken")


def test_a_changed_head_row_is_reported_as_changed() -> None:
    memory = log(4)
    r = memory.rows[-1]
    memory.rows[-1] = (*r[:4], b"{}", *r[5:])
    report = verify_chain(memory)
    assert report.first_break is not None
    assert (report.first_break.position, report.first_break.kind) == (4, "changed")


def test_parallel_ranges_give_every_process_several_tasks() -> None:
    assert task_size(290_000, 2) * 8 >= 290_000 > task_size(290_000, 2) * 7  # 8 tasks, not 3
    assert task_size(10_000_000, 2) == CHUNK and task_size(1_000, 4) == BATCH
    assert default_jobs(PARALLEL_MIN - 1) == 1 and default_jobs(PARALLEL_MIN) >= 1


def test_role_kinds_resolve_through_names_and_env() -> None:
    names = RoleNames(owner="o", writer="w", projector="p", reader="r")
    assert resolve_role("writer", names) == "w"
    assert resolve_role("some_role", names) == "some_role"
    assert resolve_role(None, names, environ={"LEDGER_DB_ROLE": "reader"}) == "r"
    assert resolve_role(None, names, environ={}) == ""
    assert resolve_role("", names, environ={"LEDGER_DB_ROLE": "reader"}) == ""
    env = {"LEDGER_DB_READER_ROLE": "audit_ro"}
    assert RoleNames.from_env(env, owner="own").as_dict() == {
        "owner": "own",
        "writer": "ledger_writer",
        "projector": "ledger_projector",
        "reader": "audit_ro",
    }
    assert connect_options("w") == {"options": "-c role=w"} and connect_options("") == {}


@pytest.mark.parametrize("bad", ['a"b', "Upper", "x y", "1abc", "a" * 64, "a;drop"])
def test_role_names_that_need_quoting_are_refused(bad: str) -> None:
    with pytest.raises(RoleNameError):
        resolve_role(bad)
    with pytest.raises(RoleNameError):
        RoleNames(writer=bad)


def test_the_four_roles_need_four_names() -> None:
    with pytest.raises(RoleNameError, match="four different"):
        RoleNames(writer="same", reader="same")
