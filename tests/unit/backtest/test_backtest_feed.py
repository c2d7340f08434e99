"""Merging bar streams: (timestamp, symbol) order, gaps, chunking; BarEvents without pydantic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from adapters.backtest import feed
from adapters.backtest.data import load
from adapters.backtest.feed import bar_groups, fast_bar, timeline
from contracts import BarEvent, message_to_json
from domain.application import ParsedMessage
from tests.unit.backtest.bars_support import stamp, write_bars


def close(pm: ParsedMessage) -> Decimal:
    assert isinstance(pm.message, BarEvent)
    return pm.message.close


def test_fast_bar_is_the_validated_bar() -> None:
    at = datetime(2024, 1, 2, 21, tzinfo=UTC)
    args = (
        "AAPL",
        at,
        Decimal("181.70"),
        Decimal("183"),
        Decimal("180.1"),
        Decimal("182"),
        Decimal("60586826"),
        None,
    )
    fast = fast_bar(*args)
    valid = BarEvent(
        symbol="AAPL",
        timestamp=at,
        open=Decimal("181.70"),
        high=Decimal("183"),
        low=Decimal("180.1"),
        close=Decimal("182"),
        volume=Decimal("60586826"),
    )
    assert fast is not valid
    assert fast == valid
    assert message_to_json(fast) == message_to_json(valid)
    assert fast.model_dump() == valid.model_dump()
    assert feed.fast_bar is feed._direct_bar  # the check at import found them equal


def test_groups_merge_in_timestamp_then_symbol_order(tmp_path: Path) -> None:
    row = ("1", "1", "1", "1")
    write_bars(tmp_path, "TLT", [row, row, row], start_day=0)  # days 0, 1, 2
    write_bars(tmp_path, "AAPL", [row, row], start_day=1)  # days 1, 2
    write_bars(tmp_path, "GLD", [row], start_day=3)  # day 3
    groups = list(bar_groups(load([tmp_path])))
    seen = [
        (at.isoformat().replace("+00:00", "Z"), [pm.message.symbol for pm in bars])
        for at, bars in groups
    ]
    assert seen == [
        (stamp(0), ["TLT"]),
        (stamp(1), ["AAPL", "TLT"]),
        (stamp(2), ["AAPL", "TLT"]),
        (stamp(3), ["GLD"]),
    ]
    # each bar keeps its own file and line as the ledger's input coordinates
    assert [(pm.source, pm.position) for pm in groups[1][1]] == [
        ("backtest:AAPL.csv", 2),
        ("backtest:TLT.csv", 3),
    ]
    assert all(pm.message.timestamp == at for at, bars in groups for pm in bars)


def test_chunk_boundaries_lose_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [(f"{i}.5", f"{i + 1}", f"{i}", f"{i}.25") for i in range(1, 12)]
    write_bars(tmp_path, "AAA", rows)
    write_bars(tmp_path, "BBB", rows[:7], start_day=2)
    monkeypatch.setattr(feed, "CHUNK", 3)
    chunked = [
        (at, [(pm.message.symbol, close(pm)) for pm in bars])
        for at, bars in bar_groups(load([tmp_path]))
    ]
    monkeypatch.setattr(feed, "CHUNK", 4096)
    whole = [
        (at, [(pm.message.symbol, close(pm)) for pm in bars])
        for at, bars in bar_groups(load([tmp_path]))
    ]
    assert chunked == whole
    assert sum(len(b) for _, b in whole) == 18
    single = [close(pm) for _, bars in bar_groups(load([tmp_path / "AAA.csv"])) for pm in bars]
    assert single == [Decimal(r[3]) for r in rows]


def test_timeline_carries_closes_over_gaps(tmp_path: Path) -> None:
    write_bars(tmp_path, "AAA", [("1", "1", "1", "1"), ("2", "2", "2", "2"), ("3", "3", "3", "3")])
    write_bars(tmp_path, "BBB", [("10", "10", "10", "10")], start_day=1)
    line = timeline(load([tmp_path]))
    assert line.symbols == ("AAA", "BBB")
    assert len(line) == 3
    expected = np.array([[1.0, np.nan], [2.0, 10.0], [3.0, 10.0]])
    np.testing.assert_array_equal(line.closes, expected)
    assert line.time(2) - line.time(0) == timedelta(days=2)
