"""Small recorded histories for the replay tool's tests, with fixed times and sources.

Stores are filled through the real application with a `SteppingClock` and one message
per batch, so every message has its own recorded time (`recorded_at(i)` for the i-th,
0-based) and outputs are the same on every run and machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner, Result

from adapters.store import open_ledger
from contracts import ContractMessage, SourcedMessage
from domain.application import LedgerApplication, ParsedMessage
from domain.clock import SteppingClock
from domain.killswitch import KillSwitchCommand
from domain.ledger import LedgerConfig, Operator
from replay.cli import cli
from tests.support.messages import at, bar, fill, intent, report

T0 = datetime(2025, 11, 17, 14, 0, tzinfo=UTC)
STEP = timedelta(seconds=1)
DEMO = Path(__file__).resolve().parents[3] / "data" / "demo" / "session.jsonl"
DEMO_SOURCE = "file:/demo/session.jsonl"  # not the checkout's path: outputs stay fixed
INCIDENT_EQUITY = Decimal(100_000)


def recorded_at(i: int) -> datetime:
    return T0 + i * STEP


def open_app(url: str, config: LedgerConfig | None = None) -> LedgerApplication:
    return open_ledger(url, clock=SteppingClock(T0, STEP), config=config or LedgerConfig())


def demo_store(url: str) -> LedgerApplication:
    """`data/demo/session.jsonl`: fills, a correction, a duplicate, a late fill after a
    cancel, a fill after a reject (an anomaly), an invalid line (quarantined), market data."""
    app = open_app(url)
    for n, line in enumerate(DEMO.read_bytes().splitlines(), 1):
        app.process([SourcedMessage(DEMO_SOURCE, n, line)])
    return app


INCIDENT: Sequence[ContractMessage] = (
    bar("AAPL", 100, at(0)),
    intent(1, symbol="AAPL", quantity=500, order_type="LIMIT", limit_price=100, timestamp=at(1)),
    report(1, "ACKNOWLEDGED", timestamp=at(2)),
    fill(1, "e1.01", 500, 100, status="FILLED", commission="1.00", timestamp=at(3)),
    intent(2, symbol="MSFT", quantity=10, order_type="LIMIT", limit_price=400, timestamp=at(4)),
    report(2, "ACKNOWLEDGED", order_id="1002", symbol="MSFT", timestamp=at(5)),
    bar("AAPL", 95, at(60)),
    bar("AAPL", 88, at(120)),
    intent(3, symbol="AAPL", quantity=10, timestamp=at(130)),
    report(2, "CANCELED", order_id="1002", symbol="MSFT", timestamp=at(131)),
)


def incident_store(url: str) -> LedgerApplication:
    """A daily-loss trip: a long position marked down 12 %, the trip cancels a working
    order and records a flatten order, an intent is denied, then an operator lets exits
    through (REDUCING)."""
    app = open_app(url, LedgerConfig(starting_equity=INCIDENT_EQUITY))
    for i, m in enumerate(INCIDENT, 1):
        app.process([ParsedMessage("test", i, m)])
    app.command_killswitch(
        KillSwitchCommand.REDUCE_ONLY, "flatten in progress", Operator("alice", "sqlite", "alice")
    )
    return app


GOLDEN = Path(__file__).resolve().parent / "golden"


def golden(name: str) -> str:
    """An expected output, kept as a file next to these helpers."""
    return (GOLDEN / name).read_text(encoding="utf-8")


def invoke(url: str, *args: str) -> Result:
    """`ledger --store URL ARGS...`, as a user runs it (exit code, stdout, stderr apart)."""
    return CliRunner().invoke(cli, ["--store", url, *args], catch_exceptions=False)
