"""Snapshot + tail == full replay == rebuilt from the log.

A random session (orders, fills, corrections, market data across UTC days, reports held
before their intent, late copies, a quarantined line, maybe an operator's trip) is cut at
a random point. From there, three ledgers must decide the *same* tail events and end in
the same state (CLI rows, kill switch, account):
- the live ledger that saw everything;
- a ledger rebuilt by applying the prefix's events after a trip through the event codec;
- a ledger restored from `domain.snapshot.snapshot_ledger` bytes of the prefix state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import ContractMessage, OrderIntent
from domain import events as ev
from domain.codec import EventCodec
from domain.killswitch import KillSwitchCommand
from domain.ledger import Ledger, LedgerConfig, Operator
from tests.support.messages import NOW, sessions, state_of

CONFIG = LedgerConfig()
CODEC = EventCodec()
QUARANTINED = (b'{"event_type": "order_intent", "intent_id": "nope"}', '[{"loc": "intent_id"}]')


@dataclass(frozen=True)
class Case:
    messages: list[ContractMessage]
    split: int
    trip_before: int | None
    quarantine_before: int


@st.composite
def cases(draw: st.DrawFn) -> Case:
    messages = draw(sessions(spacing=(1, 5 * 3600)))
    intents = [m for m in messages if isinstance(m, OrderIntent)]
    for it in draw(st.lists(st.sampled_from(intents), max_size=2, unique_by=id)):
        i = messages.index(it)
        messages.pop(i)
        messages.insert(draw(st.integers(i, len(messages))), it)
    messages += draw(st.lists(st.sampled_from(messages), max_size=3))  # late copies
    n = len(messages)
    return Case(
        messages,
        draw(st.integers(0, n)),
        draw(st.none() | st.integers(0, n)),
        draw(st.integers(0, n)),
    )


def run(lg: Ledger, case: Case, start: int, stop: int, *, last: bool) -> list[ev.LedgerEvent]:
    """Deliver messages [start, stop) as the application would, with a recorded time that
    moves on, the operator's trip and the quarantined line where the case puts them; the
    `last` run also takes the step after the final message (where a trip or quarantine
    placed at the end happens)."""
    for i in range(start, stop + (1 if last else 0)):
        now = NOW + timedelta(milliseconds=i)
        if i == case.trip_before:
            lg.command_killswitch(KillSwitchCommand.TRIP, "test", Operator("op"), now)
        if i == case.quarantine_before or i == len(case.messages):  # and once again at the end
            lg.quarantine("file:/in.jsonl", 10_000, QUARANTINED[0], QUARANTINED[1], now)
        if i < len(case.messages):
            lg.handle(case.messages[i], f"test@{i}", now)
    return lg.drain()


def through_codec(events: list[ev.LedgerEvent]) -> list[ev.LedgerEvent]:
    out = []
    for e in events:
        topic, state = CODEC.encode(e)
        out.append(CODEC.decode(topic, e.originator_id, e.originator_version, state))
    return out


def live(case: Case) -> tuple[Ledger, list[ev.LedgerEvent], list[ev.LedgerEvent]]:
    lg = Ledger(CONFIG)
    prefix = run(lg, case, 0, case.split, last=False)
    tail = run(lg, case, case.split, len(case.messages), last=True)
    return lg, prefix, tail


SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@SETTINGS
@given(cases())
def test_rebuilt_from_events_then_tail_equals_live(case: Case) -> None:
    full, prefix, tail = live(case)
    rebuilt = Ledger(CONFIG)
    for e in through_codec(prefix):
        rebuilt.apply(e)
    assert run(rebuilt, case, case.split, len(case.messages), last=True) == tail
    assert state_of(rebuilt) == state_of(full)

    # And rebuilt from the whole log, without deciding anything:
    replayed = Ledger(CONFIG)
    for e in through_codec(prefix + tail):
        replayed.apply(e)
    assert state_of(replayed) == state_of(full)
    assert replayed.held == full.held


@SETTINGS
@given(cases())
def test_snapshot_then_tail_equals_full_replay(case: Case) -> None:
    from domain.snapshot import restore_ledger, snapshot_ledger

    full, _, tail = live(case)
    part = Ledger(CONFIG)
    run(part, case, 0, case.split, last=False)
    data = snapshot_ledger(part)
    assert isinstance(data, bytes)
    restored = restore_ledger(data, CONFIG)
    assert state_of(restored) == state_of(part)
    assert snapshot_ledger(restored) == data  # a snapshot of a restored snapshot is the same
    assert run(restored, case, case.split, len(case.messages), last=True) == tail
    assert state_of(restored) == state_of(full)
    assert snapshot_ledger(restored) == snapshot_ledger(full)


def test_snapshot_of_an_empty_ledger_restores_an_empty_ledger() -> None:
    from domain.snapshot import restore_ledger, snapshot_ledger

    empty = Ledger(CONFIG)
    restored = restore_ledger(snapshot_ledger(empty), CONFIG)
    assert state_of(restored) == state_of(empty)
    assert restored.orders == {} and restored.positions == {} and restored.held == {}
