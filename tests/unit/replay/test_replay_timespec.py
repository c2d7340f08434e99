"""Parsing --since/--until/--as-of: zoned times, relative times, positions; naive refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from domain.clock import FixedClock
from replay.timespec import (
    Ago,
    Instant,
    LogPosition,
    TimeSpecError,
    describe,
    parse_now,
    parse_timespec,
    resolve,
)

NOW = datetime(2025, 11, 17, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-11-17T14:30:00Z", Instant(datetime(2025, 11, 17, 14, 30, tzinfo=UTC))),
        (
            "2025-11-17T09:30:00.250000-05:00",
            Instant(datetime(2025, 11, 17, 9, 30, 0, 250000, tzinfo=timezone(timedelta(hours=-5)))),
        ),
        ("-15m", Ago(timedelta(minutes=15))),
        ("-2h", Ago(timedelta(hours=2))),
        ("-1d", Ago(timedelta(days=1))),
        ("-90s", Ago(timedelta(seconds=90))),
        ("-1w", Ago(timedelta(weeks=1))),
        ("now", Ago(timedelta(0))),
        ("@0", LogPosition(0)),
        ("@123456", LogPosition(123456)),
        (" @7 ", LogPosition(7)),
    ],
)
def test_accepted_forms(text: str, expected: object) -> None:
    assert parse_timespec(text) == expected


def test_a_time_without_a_zone_is_refused_with_the_fix_in_the_message() -> None:
    with pytest.raises(TimeSpecError) as e:
        parse_timespec("2025-11-17T14:30:00")
    assert "no time zone" in str(e.value)
    assert "2025-11-17T14:30:00Z" in str(e.value)


def test_a_date_alone_is_naive_and_refused() -> None:
    with pytest.raises(TimeSpecError, match="no time zone"):
        parse_timespec("2025-11-17")


@pytest.mark.parametrize("text", ["yesterday", "-15", "15m", "+2h", "@", "@-3", "-2y", ""])
def test_other_values_are_refused(text: str) -> None:
    with pytest.raises(TimeSpecError, match="not a time"):
        parse_timespec(text)


def test_relative_times_count_back_from_the_injected_clock() -> None:
    clock = FixedClock(NOW)
    assert resolve(parse_timespec("-15m"), clock) == Instant(NOW - timedelta(minutes=15))
    assert resolve(parse_timespec("now"), clock) == Instant(NOW)
    assert resolve(LogPosition(3), clock) == LogPosition(3)


def test_describe_gives_utc_times_with_z_and_positions_with_at() -> None:
    assert describe(Instant(NOW)) == "2025-11-17T15:00:00Z"
    assert describe(LogPosition(12)) == "@12"


def test_now_option_must_be_a_zoned_instant() -> None:
    assert parse_now("2025-11-17T15:00:00Z") == NOW
    assert parse_now(None) is None
    with pytest.raises(TimeSpecError):
        parse_now("-1h")
    with pytest.raises(TimeSpecError):
        parse_now("2025-11-17T15:00:00")
