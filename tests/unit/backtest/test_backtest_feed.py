"""Merging bar streams: (timestamp, symbol) order, gaps, chunking; BarEvents without pydantic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from adapters.backtest import feed, messages
from adapters.backtest.data import BarSeries, DecimalColumn, load
from adapters.backtest.feed import bar_groups, timeline
from adapters.backtest.messages import fast_bar
from contracts import BarEvent, message_to_json
from domain.application import ParsedMessage
from tests.unit.backtest.bars_support import stamp, write_bars

D = Decimal


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
    assert messages.fast_bar is messages._direct_bar  # the check at import found them equal


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


def test_parsed_message_factory_is_the_constructor() -> None:
    bar = fast_bar("X", messages.EPOCH, *(Decimal(1),) * 5, None)
    fast = messages.parsed_message("backtest:X.csv", 7, bar)
    assert type(fast) is ParsedMessage
    assert fast == ParsedMessage("backtest:X.csv", 7, bar)


def series_of(times: list[int], mantissas: list[int], exponents: list[int]) -> BarSeries:
    n = len(times)
    column = DecimalColumn(np.array(mantissas, np.int64), np.array(exponents, np.int8))
    return BarSeries(
        "X",
        "backtest:X.csv",
        np.array(times, np.int64),
        np.arange(2, n + 2, dtype=np.int64),
        dict.fromkeys(("open", "high", "low", "close", "volume"), column),
    )


def test_bars_are_built_exactly_from_the_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    # Irregular gaps (times are sums of gaps), mixed exponents, repeated and new values,
    # and caches that overflow between chunks: every bar as built one by one.
    times = [0, 60_000_000, 60_000_001, 86_400_000_000, 1_700_000_000_123_456, -5, -4]
    times = sorted(times)
    mantissas = [18170, 18170, 1817, 5, 0, 123456789012345678, 18170]
    exponents = [-2, -2, -1, 0, 3, -18, -2]
    monkeypatch.setattr(feed, "CHUNK", 3)
    monkeypatch.setattr(feed, "_CACHE_LIMIT", 2)
    built = [pms[0] for _, pms in bar_groups([series_of(times, mantissas, exponents)])]
    expected = [
        (messages.EPOCH + timedelta(microseconds=t), Decimal(m).scaleb(e))
        for t, m, e in zip(times, mantissas, exponents, strict=True)
    ]
    assert [(pm.message.timestamp, pm.message.close) for pm in built] == expected
    assert [str(pm.message.open) for pm in built] == [str(d) for _, d in expected]
    assert all(pm.message.timestamp.tzinfo is UTC for pm in built)
    assert [pm.position for pm in built] == list(range(2, len(times) + 2))


def test_one_exponent_per_column_and_a_multi_series_merge_agree() -> None:
    a = series_of([0, 10, 20], [100, 101, 100], [-2, -2, -2])
    b = BarSeries("Y", "backtest:Y.csv", a.times, a.lines, a.columns)
    merged = list(bar_groups([b, a]))
    assert [[pm.message.symbol for pm in pms] for _, pms in merged] == [["X", "Y"]] * 3
    assert [pms[0].message.close for _, pms in merged] == [D("1.00"), D("1.01"), D("1.00")]


def test_empty_series_make_no_groups() -> None:
    empty = series_of([], [], [])
    other = BarSeries("Y", "backtest:Y.csv", empty.times, empty.lines, empty.columns)
    assert list(bar_groups([empty])) == []
    assert list(bar_groups([empty, other])) == []
