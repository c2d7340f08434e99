"""Units of the projections: event kinds, lazy decoding, the account's resume state."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from domain import events as ev
from domain.account import Account
from domain.codec import EventCodec, topic_of
from domain.ledger import Ledger, LedgerConfig
from projections.account import AccountProjection
from projections.account_state import (
    _PARTS_V2,
    AccountStateError,
    _encode,
    dump_state,
    load_state,
)
from projections.base import UnknownProjection
from projections.equity import EquityBook, FillNotFound
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


def _ledger_with_history() -> tuple[Ledger, list[ev.LedgerEvent]]:
    ledger = Ledger(LedgerConfig(starting_equity=Decimal("250000")))
    events = feed(
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
    ).events
    return ledger, events


def _account_projection(events: list[ev.LedgerEvent]) -> AccountProjection:
    """An account projection (no database) that has applied the events it reads."""
    codec = EventCodec()
    projection = AccountProjection(1, codec)
    for position, e in enumerate(events, 1):
        topic, state = codec.encode(e)
        if topic in AccountProjection.topics:
            projection.apply(
                LogEvent(position, str(e.originator_id), e.originator_version, topic, state, 0)
            )
    return projection


def _book(events: list[ev.LedgerEvent]) -> EquityBook:
    book = _account_projection(events).book
    assert book is not None
    return book


def _exact(account: Account) -> bytes:
    """Every field of an account as exact text (Decimal('1.0') != Decimal('1.00') here)."""
    return orjson.dumps(_encode(account, Account))


def test_the_account_state_round_trips_exactly() -> None:
    ledger, events = _ledger_with_history()
    book = _book(events)
    assert _exact(book.account) == _exact(ledger.account)
    restored = load_state(dump_state(book))
    assert restored == book
    assert dump_state(restored) == dump_state(book)
    # Going on from the restored state gives the same figures as going on from the original.
    more = feed(
        ledger, [tick("AAPL", "98.5", at(70, day=1)), bar("AAPL", "98.00", at(30, day=1))]
    ).events
    projection = AccountProjection(1, EventCodec())
    projection._book = restored
    codec = EventCodec()
    for e in more:
        topic, state = codec.encode(e)
        projection.apply(LogEvent(99, str(e.originator_id), e.originator_version, topic, state, 0))
    assert _exact(restored.account) == _exact(ledger.account)


def test_a_state_of_format_2_is_read() -> None:
    """What the versions that ran `Ledger.apply` stored (the Account, Positions truncated
    to their last fill, whole last ticks) resumes to the same book."""
    ledger, events = _ledger_with_history()
    for p in ledger.positions.values():
        last = next(reversed(p.fills))
        p.fills = {last: p.fills[last]}
    old = {"format": 2} | {n: _encode(getattr(ledger, n), h) for n, h in _PARTS_V2.items()}
    restored = load_state(orjson.dumps(old).decode())
    assert restored == _book(events)


def test_a_position_s_last_fill_follows_corrections() -> None:
    """The mark until the market marks a symbol is the last fill's price in fill order:
    a correction of the last fill moves it, a correction of an earlier one does not."""
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
    assert [type(e).__name__ for e in events].count("PositionFillCorrected") == 3
    book = _book(events)
    [(key, pos)] = whole.positions.items()
    assert book.last_fill[key] == ("0001.03.02", pos.last_fill_price) == ("0001.03.02", 103)
    assert _exact(book.account) == _exact(whole.account)


def test_a_correction_of_an_unknown_fill_is_refused() -> None:
    _, events = _ledger_with_history()
    book = _book(events)
    with pytest.raises(FillNotFound):
        book.fill({"account": "SIM", "symbol": "NEW", "replaced_exec_id": "x.01"})


@pytest.mark.parametrize("text", ["{", '{"format": 99}', '{"format": 2}', '{"format": 3}', "[]"])
def test_an_unreadable_account_state_is_refused(text: str) -> None:
    with pytest.raises(AccountStateError):
        load_state(text)


def test_projection_names_resolve_in_registry_order() -> None:
    assert resolve_names(["metrics", "positions", "metrics"]) == ["positions", "metrics"]
    assert resolve_names(ALL) == list(ALL)
    with pytest.raises(UnknownProjection, match="'nope'"):
        resolve_names(["nope"])


def test_a_stored_state_is_plain_json() -> None:
    state = orjson.loads(dump_state(_book(_ledger_with_history()[1])))
    assert state["format"] == 3
    assert state["account"]["starting_equity"] == "250000"
