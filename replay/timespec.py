"""`--since` / `--until` / `--as-of` values: a zoned ISO-8601 time, a relative time, or a
global log position.

- `2025-11-17T14:30:00Z`, `2025-11-17T09:30:00-05:00` — an instant; a time without a
  zone is refused, because guessing the zone of an incident is how post-mortems go wrong;
- `-15m`, `-2h`, `-1d`, `-90s`, `-1w` — that long before *now*, which comes from an
  injected clock (the system clock, or `--now` for a reproducible report);
- `now` — the clock's time;
- `@123456` — a global position in the log (`@0` is the empty log, before any event).

Parsing is pure; turning a time into a position needs the log (`replay.state`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import click

from domain.clock import Clock

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_RELATIVE = re.compile(r"^-(\d{1,9})([smhdw])$")
_POSITION = re.compile(r"^@(\d{1,18})$")


class TimeSpecError(ValueError):
    """A --since/--until/--as-of value that is none of the accepted forms."""


@dataclass(frozen=True, slots=True)
class Instant:
    at: datetime  # timezone-aware


@dataclass(frozen=True, slots=True)
class Ago:
    delta: timedelta


@dataclass(frozen=True, slots=True)
class LogPosition:
    position: int


TimeSpec = Instant | Ago | LogPosition
Resolved = Instant | LogPosition


def parse_timespec(text: str) -> TimeSpec:
    value = text.strip()
    if value.lower() == "now":
        return Ago(timedelta(0))
    if m := _POSITION.match(value):
        return LogPosition(int(m.group(1)))
    if m := _RELATIVE.match(value):
        return Ago(timedelta(**{_UNITS[m.group(2)]: int(m.group(1))}))
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise TimeSpecError(
            f"{text!r} is not a time: use ISO-8601 with a zone (2025-11-17T14:30:00Z), "
            "a relative time (-15m, -2h, -1d) or a log position (@123)"
        ) from None
    if at.tzinfo is None or at.tzinfo.utcoffset(at) is None:
        raise TimeSpecError(
            f"{text!r} has no time zone and is refused: say which, e.g. "
            f"{value}Z for UTC or {value}-05:00"
        )
    return Instant(at)


def resolve(spec: TimeSpec, clock: Clock) -> Resolved:
    """Relative times become instants, counted back from the clock's now."""
    if isinstance(spec, Ago):
        return Instant(clock.now() - spec.delta)
    return spec


def describe(spec: Resolved) -> str:
    if isinstance(spec, LogPosition):
        return f"@{spec.position}"
    return spec.at.isoformat().replace("+00:00", "Z")


class TimeSpecParam(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2
    """click parameter type: a bad value is a usage error (exit 2) with the reason."""

    name = "TIME"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> TimeSpec:
        if isinstance(value, Instant | Ago | LogPosition):
            return value
        try:
            return parse_timespec(str(value))
        except TimeSpecError as e:
            self.fail(str(e), param, ctx)


TIME = TimeSpecParam()


def parse_now(text: str | None) -> datetime | None:
    """`--now`: the reference time for relative values; it must be a zoned instant too."""
    if text is None:
        return None
    spec = parse_timespec(text)
    if not isinstance(spec, Instant):
        raise TimeSpecError(f"--now must be an ISO-8601 time with a zone, not {text!r}")
    return spec.at
