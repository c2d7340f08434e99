"""A file of fills followed by falling bars trips the switch exactly as live input would.

The same messages go into four ledgers: a file ingested in batches, the same lines fed one
per transaction (as a live consumer commits), in-process parsed messages, and a bare
`Ledger`. The logs must be identical event for event, the trip included, at the same
input line."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.files import read_jsonl
from adapters.store import open_ledger
from contracts import ContractMessage, OrderIntent, parse_message
from domain import events as ev
from domain.application import LedgerApplication, ParsedMessage
from domain.clock import FixedClock
from domain.ledger import Ledger, LedgerConfig
from tests.support.messages import at, bar, fill, intent, tick, write_jsonl

RECORDED = datetime(2025, 11, 17, 21, 0, tzinfo=UTC)


def app(directory: str, name: str) -> LedgerApplication:
    return open_ledger(
        f"sqlite:///{directory}/{name}.db", clock=FixedClock(RECORDED), config=LedgerConfig()
    )


@st.composite
def falling_sessions(draw: st.DrawFn) -> list[ContractMessage]:
    shares = draw(st.sampled_from([2_000, 10_000]))
    msgs: list[ContractMessage] = [
        intent(1, quantity=shares, timestamp=at(0)),
        fill(1, "a.01", shares // 2, 100, timestamp=at(1)),
        fill(1, "b.01", shares // 2, "100.5", cumulative=shares, status="FILLED", timestamp=at(2)),
    ]
    if draw(st.booleans()):  # a correction of the second execution
        msgs.append(
            fill(
                1,
                "b.02",
                shares // 2,
                "100.25",
                cumulative=shares,
                status="FILLED",
                timestamp=at(3),
            )
        )
    close = Decimal(100)
    for i in range(draw(st.integers(5, 25))):
        close = (close * (1 - Decimal(draw(st.integers(0, 40))) / 1000)).quantize(Decimal("0.01"))
        maker = bar if draw(st.booleans()) else tick
        msgs.append(maker("AAPL", close, at(10 + i)))
    msgs.append(bar("AAPL", min(close, Decimal(60)), at(99)))  # 8 % or more lost today
    msgs.append(intent(2, quantity=10, timestamp=at(100)))  # after the trip: denied
    return msgs


def log_of(a: LedgerApplication) -> list[ev.LedgerEvent]:
    return [e for _, e in a.read_events()]


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(falling_sessions(), st.integers(1, 50))
def test_file_and_live_input_make_the_same_log(
    messages: list[ContractMessage], batch_size: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_jsonl(Path(tmp) / "fills_then_bars.jsonl", messages)
        lines = list(read_jsonl(path))

        from_file = app(tmp, "file")
        from_file.ingest(read_jsonl(path), batch_size)

        live = app(tmp, "live")
        for sm in lines:
            live.process([sm])

        parsed = app(tmp, "parsed")
        for sm in lines:
            parsed.process([ParsedMessage(sm.source, sm.position, parse_message(sm.payload))])

        bare = Ledger(LedgerConfig())
        for sm in lines:
            bare.handle(parse_message(sm.payload), sm.coordinates, RECORDED)

        expected = bare.drain()
        assert log_of(from_file) == expected
        assert log_of(live) == expected
        assert log_of(parsed) == expected

        [trip] = [e for e in expected if isinstance(e, ev.KillSwitchTripped)]
        assert trip.source.startswith(f"file:{path.resolve()}@")
        assert (trip.trigger, trip.action) in (
            ("daily_loss", "HALT_AND_FLATTEN"),
            ("drawdown", "HALT_AND_FLATTEN"),
        )
        assert from_file.ledger.killswitch.trigger == trip.trigger
        flatten = [
            e
            for e in expected
            if isinstance(e, ev.OrderIntentRecorded) and e.origin == "killswitch"
        ]
        first = messages[0]
        assert isinstance(first, OrderIntent)
        assert [(e.side, e.quantity, e.source) for e in flatten] == [
            ("SELL", first.quantity, trip.source)
        ]
        denied = [e for e in expected if isinstance(e, ev.OrderDenied)]
        assert [d.source for d in denied] == [f"file:{path.resolve()}@{len(lines)}"]
