"""Units of the projections: event kinds, lazy decoding, the account's resume state."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import orjson
import pytest

from domain import events as ev
from domain.codec import EventCodec, topic_of
from domain.ledger import Ledger, LedgerConfig
from projections.account_state import (
    AccountStateError,
    dump_state,
    keep_last_fill,
    load_state,
)
from projections.base import UnknownProjection
from projections.log import KINDS, LogEvent, UnknownEventTopic, topics_for
from projections.registry import ALL, resolve_names
from tests.support.messages import at, bar, feed, fill, intent, report, tick


def test_every_event_class_has_a_kind_with_a_known_aggregate() -> None:
    assert {k.name for k in KINDS.values()} == {c.__name__ for c in ev.EVENT_CLASSES}
    assert "Unknown" not in {k.aggregate for k in KINDS.values()}
    assert KINDS[topic_of(ev.OrderFilled)].aggregate == "Order"
    assert KINDS[topic_of(ev.ExecutionReportHeld)].aggregate == "HeldReports"
    assert topics_for(ev.PositionEvent) == {
        topic_of(ev.PositionFillApplied),
        topic_of(ev.PositionFillCorrected),
    }


def _events() -> list[ev.LedgerEvent]:
    ledger = Ledger(LedgerConfig())
    return feed(
        ledger,
        [
            intent(1),
            fill(
                1,
                "0001.01.01",
                40,
                "101.25",
                cumulative=40,
                status="PARTIAL_FILL",
                commission="0.40",
            ),
        ],
    ).events


def test_log_event_decodes_lazily_to_the_codec_s_event() -> None:
    codec = EventCodec()
    for position, e in enumerate(_events(), 1):
        topic, state = codec.encode(e)
        le = LogEvent(position, str(e.originator_id), e.originator_version, topic, state, 0)
        assert le.type_name == type(e).__name__
        assert le.event(codec) == e
        assert le.event(codec) is le.event(codec)
    fill_event = next(e for e in _events() if isinstance(e, ev.PositionFillApplied))
    topic, state = codec.encode(fill_event)
    data = LogEvent(1, str(fill_event.originator_id), 1, topic, state, 0).data
    assert data["fill_price"] == "101.25"  # the exact text, not a float or a Decimal


def test_an_unknown_topic_is_named() -> None:
    le = LogEvent(7, "x", 1, "domain.events:Nope", b"{}", 0)
    assert le.type_name == "Nope"
    with pytest.raises(UnknownEventTopic, match=r"domain\.events:Nope"):
        _ = le.kind


def _ledger_with_history() -> Ledger:
    ledger = Ledger(LedgerConfig(starting_equity=Decimal("250000")))
    feed(
        ledger,
        [
            bar("AAPL", "100.10", at(0)),
            tick("MSFT", "300.5", at(1)),
            intent(1, quantity=100, timestamp=at(2)),
            fill(1, "0001.01.01", 100, "100.20", cumulative=100, status="FILLED", timestamp=at(3)),
            intent(2, symbol="MSFT", direction="SELL", quantity=10, timestamp=at(4)),
            report(2, "FILLED", filled=10, avg="301", symbol="MSFT", timestamp=at(5)),
            bar("AAPL", "99.00", at(60, day=1)),
        ],
    )
    return ledger


def test_the_account_state_round_trips_exactly() -> None:
    ledger = _ledger_with_history()
    restored = load_state(dump_state(ledger))
    a, b = ledger.account, restored.account
    for f in dataclasses.fields(a):
        assert getattr(b, f.name) == getattr(a, f.name), f.name
    assert (restored.last_bar, restored.last_tick) == (ledger.last_bar, ledger.last_tick)
    assert restored.positions == ledger.positions
    assert dump_state(restored) == dump_state(ledger)
    # Going on from the restored state gives the same figures as going on from the original.
    more = feed(
        ledger, [tick("AAPL", "98.5", at(70, day=1)), bar("AAPL", "98.00", at(30, day=1))]
    ).events
    for e in more:
        restored.apply(e)
    assert restored.account.equity() == ledger.account.equity()
    assert restored.account.high_water_mark == ledger.account.high_water_mark


def test_a_position_keeps_its_last_fill() -> None:
    """Truncated to its last fill, a position applies later fills and corrections (of the
    last fill or of an earlier one) to the same last fill price as with every fill."""
    whole = Ledger(LedgerConfig())
    events = feed(
        whole,
        [
            intent(1, quantity=100, timestamp=at(1)),
            fill(1, "0001.01.01", 30, "100", cumulative=30, status="PARTIAL_FILL"),
            fill(1, "0001.02.01", 30, "101", cumulative=60, status="PARTIAL_FILL"),
            fill(1, "0001.01.02", 30, "99", cumulative=60, status="PARTIAL_FILL"),
            fill(1, "0001.03.01", 40, "102", cumulative=100, status="FILLED"),
            fill(1, "0001.03.02", 40, "103", cumulative=100, status="FILLED"),
            fill(1, "0001.02.02", 30, "98", cumulative=100, status="FILLED"),
        ],
    ).events
    truncated = Ledger(LedgerConfig())
    for e in events:
        if isinstance(e, ev.OrderEvent):
            continue  # the account projection reads position, market and account events
        truncated.apply(e)
        keep_last_fill(truncated)
        truncated = load_state(dump_state(truncated))
    assert [type(e).__name__ for e in events].count("PositionFillCorrected") == 3
    [(key, pos)] = whole.positions.items()
    assert truncated.positions[key].last_fill_price == pos.last_fill_price == Decimal("103")
    assert truncated.account.equity() == whole.account.equity()
    assert truncated.account.marks == whole.account.marks


@pytest.mark.parametrize("text", ["{", '{"format": 99}', '{"format": 2}', "[]"])
def test_an_unreadable_account_state_is_refused(text: str) -> None:
    with pytest.raises(AccountStateError):
        load_state(text)


def test_projection_names_resolve_in_registry_order() -> None:
    assert resolve_names(["metrics", "positions", "metrics"]) == ["positions", "metrics"]
    assert resolve_names(ALL) == list(ALL)
    with pytest.raises(UnknownProjection, match="'nope'"):
        resolve_names(["nope"])


def test_a_stored_state_is_plain_json() -> None:
    state = orjson.loads(dump_state(_ledger_with_history()))
    assert state["format"] == 2
    assert state["account"]["starting_equity"] == "250000"
