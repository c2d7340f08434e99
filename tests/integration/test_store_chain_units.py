"""The store's pure parts: the chain encoding, the verifier's diagnosis on a hand-written
in-memory log, role names. (No database: these run in milliseconds.)"""

from __future__ import annotations

import hashlib
import struct
from uuid import UUID

import pytest

from adapters.store.chain import GENESIS, ChainRow, chained, first_break, row_hash
from adapters.store.roles import (
    RoleNameError,
    RoleNames,
    connect_options,
    resolve_role,
)
from adapters.store.verify import diagnose, verify_chain
from domain.codec import LedgerStoredEvent


class MemoryLog:
    """A ChainSource over a list of rows (positions may have gaps)."""

    def __init__(self, rows: list[ChainRow]) -> None:
        self.rows = rows

    def chain_rows(self, start: int, limit: int, stop: int | None = None) -> list[ChainRow]:
        top = stop if stop is not None else 2**63
        return [r for r in self.rows if start <= r[0] <= top][:limit]

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
