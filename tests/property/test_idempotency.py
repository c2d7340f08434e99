"""Idempotency: the same input twice is the same as once.

- a file ingested twice (the application, a real SQLite store) == ingested once: same
  events, positions, orders; the second run reads everything as duplicates;
- any duplicate deliveries (copies inserted anywhere after their originals, arriving at
  other source positions) leave the same state as one delivery;
- copies delivered right after their originals add no event at all;
- reports that arrive before their intent are held, and end in the same state as in-order
  delivery.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.files import read_jsonl
from contracts import ContractMessage, OrderIntent
from domain import events as ev
from domain.ledger import Ledger, LedgerConfig, Outcome
from tests.conftest import make_app
from tests.support.messages import feed, sessions, state_of, write_jsonl

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def once(messages: list[ContractMessage]) -> Ledger:
    lg = Ledger(LedgerConfig())
    fed = feed(lg, messages)
    assert Outcome.ANOMALY not in fed.outcomes  # the generated sessions are valid
    return lg


def sourceless(events: list[ev.LedgerEvent]) -> list[ev.LedgerEvent]:
    return [dataclasses.replace(e, source="") for e in events]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sessions(), st.integers(1, 7))
def test_ingesting_the_same_file_twice_equals_once(
    messages: list[ContractMessage], batch_size: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_jsonl(
            Path(tmp) / "session.jsonl", [*messages, b'{"event_type": "order_intent"}']
        )
        app = make_app(f"sqlite:///{tmp}/ledger.db")
        first = app.ingest(read_jsonl(path), batch_size)
        assert (first.read, first.quarantined, first.anomalies) == (len(messages) + 1, 1, 0)
        events = list(app.read_events())
        state = state_of(app.ledger)

        second = app.ingest(read_jsonl(path), batch_size)
        assert (second.read, second.duplicates, second.events) == (
            len(messages) + 1,
            len(messages) + 1,
            0,
        )
        assert list(app.read_events()) == events
        assert state_of(app.ledger) == state
        # And from the store, in a new process's view:
        reopened = make_app(f"sqlite:///{tmp}/ledger.db")
        assert reopened.ingest(read_jsonl(path), batch_size).events == 0
        assert state_of(reopened.ledger) == state


@st.composite
def with_late_copies(draw: st.DrawFn) -> tuple[list[ContractMessage], list[ContractMessage]]:
    """A session, and the same session with copies of some messages inserted at random
    places after their originals."""
    messages = draw(sessions())
    delivered = list(messages)
    for _ in range(draw(st.integers(1, 8))):
        i = draw(st.integers(0, len(messages) - 1))
        original_at = delivered.index(messages[i])
        j = draw(st.integers(original_at + 1, len(delivered)))
        delivered.insert(j, messages[i])
    return messages, delivered


@SETTINGS
@given(with_late_copies())
def test_duplicate_deliveries_anywhere_after_their_originals_equal_one(
    case: tuple[list[ContractMessage], list[ContractMessage]],
) -> None:
    messages, delivered = case
    single = feed(Ledger(LedgerConfig()), messages)
    lg = Ledger(LedgerConfig())
    fed = feed(lg, delivered)
    assert state_of(lg) == state_of(once(messages))
    # Nothing new is recorded for a copy, wherever it arrives.
    assert sourceless(fed.events) == sourceless(single.events)
    assert fed.outcomes.count(Outcome.DUPLICATE) == len(delivered) - len(messages)


@SETTINGS
@given(sessions(), st.data())
def test_copies_right_after_their_originals_add_no_event(
    messages: list[ContractMessage], data: st.DataObject
) -> None:
    copies = data.draw(st.lists(st.booleans(), min_size=len(messages), max_size=len(messages)))
    delivered: list[ContractMessage] = []
    for m, twice in zip(messages, copies, strict=True):
        delivered += [m, m] if twice else [m]
    single = feed(Ledger(LedgerConfig()), messages)
    lg = Ledger(LedgerConfig())
    fed = feed(lg, delivered)
    assert sourceless(fed.events) == sourceless(single.events)
    assert fed.outcomes.count(Outcome.DUPLICATE) == sum(copies)


def without_high_water_mark(state: dict[str, Any]) -> dict[str, Any]:
    # The high-water mark follows the path of equity, which holding reports changes.
    account = {k: v for k, v in state["account"].items() if k != "high_water_mark"}
    return {**state, "account": account}


@st.composite
def intents_late(draw: st.DrawFn) -> tuple[list[ContractMessage], list[ContractMessage]]:
    """A session (one symbol per order, one UTC day), and the same with some intents moved
    after some or all of their own reports."""
    messages = draw(sessions(own_symbols=True))
    moved = list(messages)
    intents = [m for m in messages if isinstance(m, OrderIntent)]
    for it in draw(st.lists(st.sampled_from(intents), min_size=1, unique_by=id)):
        i = moved.index(it)
        moved.pop(i)
        moved.insert(draw(st.integers(i, len(moved))), it)
    return messages, moved


@SETTINGS
@given(intents_late())
def test_reports_before_their_intent_are_held_and_end_in_the_same_state(
    case: tuple[list[ContractMessage], list[ContractMessage]],
) -> None:
    in_order, moved = case
    expected = without_high_water_mark(state_of(once(in_order), sort_orders=True))
    lg = Ledger(LedgerConfig())
    fed = feed(lg, moved)
    assert Outcome.ANOMALY not in fed.outcomes
    assert lg.held == {}
    assert without_high_water_mark(state_of(lg, sort_orders=True)) == expected
