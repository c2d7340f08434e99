"""Property: for a random history and a random moment T, `replay --as-of T` equals the
state of a fresh store that ingested only the messages recorded up to T: rebuilt from
the log alone, and from the store's snapshots taken at random positions.

Histories are random *valid-looking* inputs: intents, status reports, fills (some
over-filling, some refused by the state machine), corrections, reports that arrive
before their intent, bars and ticks that move the marks far enough to trip the kill
switch, duplicates and invalid lines. One message per batch, so every message has its
own recorded time (`SteppingClock`, one second apart).
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.store import open_recorder
from adapters.store.snapshots import AS_OF_ROWS, SnapshotTable
from contracts import ContractMessage, SourcedMessage
from domain.ledger import LedgerConfig
from domain.snapshot import snapshot_ledger
from projections.views import iso
from replay.render import to_json
from replay.report.window import resolve_positions, state_at
from replay.snapshots import StoreSnapshots
from replay.state import Rebuilder, config_from_log, open_event_log, state_document
from replay.timespec import Instant
from tests.support.messages import at, bar, fill, intent, line, report, tick
from tests.unit.replay.replay_history import STEP, invoke, open_app, recorded_at

CONFIG = LedgerConfig(starting_equity=Decimal(20_000))
SYMBOLS = ("AAPL", "MSFT")
INVALID = b'{"event_type":"order_intent","quantity":-1}'
KINDS = (
    "intent",
    "intent",
    "report",
    "fill",
    "fill",
    "correction",
    "held",
    "bar",
    "bar",
    "tick",
    "duplicate",
    "invalid",
)


@st.composite
def histories(draw: Any) -> list[bytes]:
    out: list[bytes] = []
    orders: list[tuple[int, str, int]] = []  # (intent number, symbol, quantity)
    fills: list[tuple[int, str, int, str]] = []  # (intent, exec base, quantity, symbol)
    seconds = 0
    for _ in range(draw(st.integers(2, 28))):
        seconds += draw(st.sampled_from([1, 30, 600, 6 * 3600]))  # days roll now and then
        ts = at(seconds)
        kind = draw(st.sampled_from(KINDS))
        msg: ContractMessage | bytes
        if kind == "intent" or (not orders and kind in ("report", "fill", "correction")):
            n, sym = len(orders) + 1, draw(st.sampled_from(SYMBOLS))
            qty = draw(st.sampled_from([10, 20, 50, 100]))
            orders.append((n, sym, qty))
            msg = intent(
                n,
                symbol=sym,
                quantity=qty,
                timestamp=ts,
                direction=draw(st.sampled_from(["BUY", "SELL"])),
            )
        elif kind == "report":
            n, sym, _ = draw(st.sampled_from(orders))
            msg = report(
                n,
                draw(st.sampled_from(["SUBMITTED", "ACKNOWLEDGED", "CANCELED", "REJECTED"])),
                symbol=sym,
                order_id=str(n),
                timestamp=ts,
            )
        elif kind == "fill":
            n, sym, qty = draw(st.sampled_from(orders))
            part = draw(st.sampled_from([qty // 2, qty, qty + 10]))
            base = f"{n:04x}.{len(fills):04x}"
            fills.append((n, base, part, sym))
            msg = fill(
                n,
                f"{base}.01",
                part,
                draw(st.integers(80, 120)),
                symbol=sym,
                status=draw(st.sampled_from(["PARTIAL_FILL", "FILLED"])),
                commission="0.5",
                timestamp=ts,
            )
        elif kind == "correction" and fills:
            n, base, part, sym = draw(st.sampled_from(fills))
            msg = fill(
                n,
                f"{base}.02",
                part,
                draw(st.integers(80, 120)),
                symbol=sym,
                commission="0.5",
                timestamp=ts,
            )
        elif kind == "held":
            n = len(orders) + 1  # its intent may come later, or never
            msg = report(n, "ACKNOWLEDGED", order_id=str(n), timestamp=ts)
        elif kind == "tick":
            msg = tick(draw(st.sampled_from(SYMBOLS)), draw(st.integers(60, 140)), ts)
        elif kind == "duplicate" and out:
            out.append(draw(st.sampled_from(out)))
            continue
        elif kind == "invalid":
            msg = INVALID
        else:
            msg = bar(draw(st.sampled_from(SYMBOLS)), draw(st.integers(60, 140)), ts)
        out.append(msg if isinstance(msg, bytes) else line(msg))
    return out


def _snapshots(url: str, log: Any, config: LedgerConfig, positions: list[int]) -> None:
    """Snapshots of the log at `positions` into its `ledger_snapshots`, as `serve` writes
    them; two orders a chunk, so that rows are cut out of chunks and put back."""
    with open_recorder(url, create=False) as rec, pytest.MonkeyPatch.context() as patch:
        patch.setattr("domain.snapshot.CHUNK", 2)
        table = SnapshotTable(rec)
        table.create()
        for position in sorted(set(positions)):
            ledger = Rebuilder(log, config).state_at(position)
            table.append(table.record_of(position, snapshot_ledger(ledger, AS_OF_ROWS), config, 0))


def _ingest(app: Any, history: list[bytes], start: int, stop: int) -> None:
    for i in range(start, stop):  # one batch a message: one recorded time each
        app.process([SourcedMessage("file:/history.jsonl", i + 1, history[i])])


def _between(k: int) -> Instant:
    """Half a step after message k was recorded (k = -1: before anything)."""
    return Instant(recorded_at(k) + STEP / 2)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=histories(), data=st.data())
def test_as_of_equals_a_fresh_store_fed_the_prefix(
    tmp_path_factory: Any, history: list[bytes], data: st.DataObject
) -> None:
    where: Path = tmp_path_factory.mktemp("history")
    full_url, fresh_url = f"sqlite:///{where / 'full.db'}", f"sqlite:///{where / 'fresh.db'}"
    full = open_app(full_url, CONFIG)
    _ingest(full, history, 0, len(history))
    cuts = sorted(
        set(
            data.draw(
                st.lists(st.integers(-1, len(history) - 1), min_size=1, max_size=4), label="cuts"
            )
        )
    )
    fresh = open_app(fresh_url, CONFIG)
    fed = 0
    with open_event_log(full_url) as log:
        # As the CLI: the account from the log, the environment's settings for a log that
        # has not opened the account yet (only quarantined lines, say).
        config = config_from_log(log, CONFIG)
        last = log.last_position()
        marks = st.lists(st.integers(1, max(1, last)), max_size=3) if last else st.just([])
        _snapshots(full_url, log, config, data.draw(marks, label="snapshots"))
        snapshots = StoreSnapshots(log, config)
        for k in cuts:
            _ingest(fresh, history, fed, k + 1)
            fed = k + 1
            position = resolve_positions(log, [_between(k)], "recorded")[0].position
            want = state_document(fresh.ledger)
            assert state_at(log, config, position) == want
            # From the store's snapshots (at random positions) when one is at or before.
            assert state_at(log, config, position, snapshots=snapshots) == want
            fast = state_at(log, config, position, snapshots=snapshots, prerendered=True)
            assert to_json(fast) == to_json(want)
    # And through the command, at the last cut.
    when = iso(recorded_at(cuts[-1]) + timedelta(milliseconds=500))
    os.environ["LEDGER_STARTING_EQUITY"] = str(CONFIG.starting_equity)
    try:
        r = invoke(full_url, "replay", "--as-of", str(when), "--format", "json")
    finally:
        del os.environ["LEDGER_STARTING_EQUITY"]
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout) == json.loads(to_json(state_document(fresh.ledger)))
