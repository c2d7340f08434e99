"""`ledger reconcile` end to end: the CLI against a SQLite store and the fake TWS,
through the real ib_async client (the fake serves from a background thread
while the command runs its own event loop). Exit codes: 0 agreement, 3
breaks, 4 unreachable, 2 refused configuration."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
import pytest
from click.testing import CliRunner, Result

from adapters.broker.sim import SimBroker
from adapters.routing import BrokerRouter
from domain import events as ev
from replay.cli import cli
from tests.integration.test_reconcile_support import (
    ACCOUNT,
    FakeTwsThread,
    Intents,
    events_of,
    fake_tws_thread,
    ibkr,
    open_app,
    run,
    status,
    until,
)

ENV = {"LEDGER_ACCOUNT": ACCOUNT, "LEDGER_IBKR_CONNECT_TIMEOUT": "3"}


@pytest.fixture
def tws() -> Iterator[FakeTwsThread]:
    with fake_tws_thread() as server:
        yield server


def ledger(url: str, *args: str, port: int | None = None) -> Result:
    argv = ["--store", url, "reconcile", *args]
    if port is not None:
        argv += ["--port", str(port), "--client-id", "7"]
    return CliRunner().invoke(cli, argv, env=ENV)


def route(url: str, tws: FakeTwsThread, qty: str = "10", *, rest: bool = False) -> UUID:
    """One intent routed to the fake TWS and settled there, as `serve` would."""
    tws.call(lambda: setattr(tws.fake, "on_place", "rest" if rest else "fill"))

    async def scenario() -> UUID:
        app = open_app(url)
        router = BrokerRouter(app, ibkr(tws.port))
        await router.start()
        intent = Intents(app).send(qty=qty)
        wanted = "ACKNOWLEDGED" if rest else "FILLED"
        await until(lambda: status(app, intent) == wanted, wanted)
        await router.stop()
        return intent

    intent = run(scenario)
    tws.wait_idle()
    return intent


def doc(result: Result) -> dict[str, Any]:
    parsed: dict[str, Any] = orjson.loads(result.stdout)
    return parsed


def test_agreement_exits_0_in_every_format(sqlite_url: str, tws: FakeTwsThread) -> None:
    route(sqlite_url, tws)
    text = ledger(sqlite_url, "--broker", "ibkr", port=tws.port)
    assert text.exit_code == 0, text.output
    assert f"ibkr account {ACCOUNT}" in text.stdout
    assert "compared: positions 1, executions 1, orders 1" in text.stdout
    assert "result: agreed: the ledger and ibkr agree" in text.stdout
    as_json = ledger(sqlite_url, "--broker", "ibkr", "--format", "json", port=tws.port)
    assert as_json.exit_code == 0
    body = doc(as_json)
    assert (body["result"], body["breaks"], body["account"]) == ("agreed", [], ACCOUNT)
    assert body["counts"]["remaining"]["missing_in_ledger"] == 0
    as_csv = ledger(sqlite_url, "--broker", "ibkr", "--format", "csv", port=tws.port)
    assert as_csv.exit_code == 0
    assert as_csv.stdout.splitlines() == [
        "run_id,kind,item,key,symbol,ledger,broker,detail,remedy,account,resolved"
    ]


def test_breaks_exit_3_and_apply_twice_books_once(sqlite_url: str, tws: FakeTwsThread) -> None:
    intent = route(sqlite_url, tws, rest=True)
    order = tws.call(lambda: tws.fake.order_by_ref(str(intent)))
    missed = tws.run(tws.fake.fill(order, Decimal(10), Decimal("150.4")))  # while disconnected

    found = ledger(sqlite_url, "--broker", "ibkr", "--format", "json", port=tws.port)
    assert found.exit_code == 3, found.output
    body = doc(found)
    assert body["result"] == "breaks"
    assert [(b["kind"], b["item"], b["key"]) for b in body["breaks"]] == [
        ("missing_in_ledger", "position", f"{ACCOUNT}/AAPL"),
        ("missing_in_ledger", "execution", missed.exec_id),
    ]
    evidence = body["breaks"][1]
    assert evidence["broker"]["price"] == "150.4"
    assert evidence["ledger"]["order_status"] == "ACKNOWLEDGED"
    assert evidence["remedy"] == f"book fill {missed.exec_id}"

    text = ledger(sqlite_url, "--broker", "ibkr", port=tws.port)
    assert text.exit_code == 3
    assert "missing_in_ledger" in text.stdout and missed.exec_id in text.stdout
    assert "result: breaks: 2 breaks (missing_in_ledger 2)" in text.stdout
    as_csv = ledger(sqlite_url, "--broker", "ibkr", "--format", "csv", port=tws.port)
    assert as_csv.exit_code == 3 and len(as_csv.stdout.splitlines()) == 3

    first = ledger(sqlite_url, "--broker", "ibkr", "--apply", "--format", "json", port=tws.port)
    assert first.exit_code == 0, first.output
    applied = doc(first)
    assert (applied["result"], applied["counts"]["booked"]) == ("applied", 1)
    assert all(b["resolved"] for b in applied["breaks"])
    second = ledger(sqlite_url, "--broker", "ibkr", "--apply", "--format", "json", port=tws.port)
    assert second.exit_code == 0
    assert (doc(second)["result"], doc(second)["counts"]["booked"]) == ("agreed", 0)

    app = open_app(sqlite_url)
    assert [e.exec_id for e in events_of(app, ev.OrderFilled)] == [missed.exec_id]
    runs = events_of(app, ev.ReconciliationRecorded)
    assert [(r.result, r.applied) for r in runs] == [
        ("breaks", False),
        ("breaks", False),
        ("breaks", False),
        ("applied", True),
        ("agreed", True),
    ]
    assert len({r.run_id for r in runs}) == 5


def test_wrong_account_is_refused_with_exit_2(sqlite_url: str, tws: FakeTwsThread) -> None:
    result = ledger(sqlite_url, "--broker", "ibkr", "--account", "DU9999999", port=tws.port)
    assert result.exit_code == 2
    assert "ledger: error: ibkr: account DU9999999 is not managed by this gateway" in (
        result.stderr
    )


def test_paper_account_on_a_live_port_is_refused_before_connecting(sqlite_url: str) -> None:
    result = ledger(sqlite_url, "--broker", "ibkr", "--account", ACCOUNT, "--port", "4001")
    assert result.exit_code == 2
    assert "paper account DU1234567 on live port 4001: refused" in result.stderr


def test_unreachable_broker_exits_4(sqlite_url: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = ledger(sqlite_url, "--broker", "ibkr", port=port)
    assert result.exit_code == 4
    assert "ledger: error: ibkr unreachable: cannot connect to IB" in result.stderr
    (record,) = events_of(open_app(sqlite_url), ev.ReconciliationRecorded)
    assert record.result == "unreachable"


def test_bad_since_is_a_usage_error(sqlite_url: str) -> None:
    result = ledger(sqlite_url, "--broker", "sim", "--since", "yesterday")
    assert result.exit_code == 2
    assert "not an ISO-8601 time" in result.stderr


def test_sim_broker_agrees_with_what_the_ledger_routed_to_it(sqlite_url: str) -> None:
    async def scenario() -> UUID:
        app = open_app(sqlite_url)
        broker = SimBroker(account=ACCOUNT, clock=app.clock)
        router = BrokerRouter(app, broker, name="sim")
        await router.start()
        intent = Intents(app).send(qty="10", limit=None)
        await until(lambda: status(app, intent) == "ACKNOWLEDGED", "the acknowledgement")
        at = datetime.now(UTC)
        broker.show_bar("AAPL", at, Decimal(100), Decimal(101), Decimal(99))
        await until(lambda: status(app, intent) == "FILLED", "the fill")
        await router.stop()
        return intent

    run(scenario)
    result = ledger(sqlite_url, "--broker", "sim", "--format", "json")
    assert result.exit_code == 0, result.output
    body = doc(result)
    assert (body["broker"], body["result"]) == ("sim", "agreed")
    assert body["counts"]["compared"] == {"positions": 1, "executions": 1, "orders": 1}


def test_sim_broker_rebuilt_from_a_log_with_a_correction_agrees(sqlite_url: str) -> None:
    """The demo session corrects an execution (`…02.01` -> `…02.02`): the simulated broker,
    rebuilt from the ledger's own log, must book the correction in place as the ledger
    does (no avg_cost_mismatch from reversing the old fill through the average)."""
    runner = CliRunner()
    ingested = runner.invoke(cli, ["--store", sqlite_url, "ingest", "data/demo/session.jsonl"])
    assert ingested.exit_code == 0, ingested.output
    r = runner.invoke(
        cli, ["--store", sqlite_url, "reconcile", "--broker", "sim", "--format", "json"]
    )
    assert r.exit_code == 0, r.output
    assert orjson.loads(r.stdout)["breaks"] == []
