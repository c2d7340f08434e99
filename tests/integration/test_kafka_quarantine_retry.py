"""`ledger quarantine retry`: re-validation after a fix, applied once, linked to the record.

Against a real store (SQLite and PostgreSQL). A "contract fix" is stood for by a
parser that accepts what the current contracts refuse (the retry function takes
the validator as a parameter); the CLI tests use the real contracts on a record
that an older contract version had refused.
"""

from __future__ import annotations

import json
from datetime import datetime

import orjson
import pytest
from click.testing import CliRunner

from adapters.kafka.quarantine_retry import (
    QuarantineRecordNotFound,
    quarantine_records,
    retry_quarantined,
)
from adapters.store import open_ledger
from contracts import ContractMessage, SourcedMessage, parse_message
from domain import events as ev
from domain.application import LedgerApplication
from domain.clock import SteppingClock
from domain.ledger import Ledger, LedgerConfig
from replay.commands.quarantine_retry import retry
from tests.support.tansu import T0

IID = "00000000-0000-0000-0000-000000000007"
VALID_INTENT = (
    f'{{"event_type":"order_intent","intent_id":"{IID}","symbol":"AAPL","direction":"BUY",'
    '"quantity":10,"order_type":"MARKET","timestamp":"2025-11-17T15:00:00Z"}'
).encode()
# What an upstream producer sent before the contract learnt its spelling of `direction`.
LEGACY_INTENT = VALID_INTENT.replace(b'"direction":"BUY"', b'"side":"BUY"')
SOURCE = "kafka:order_intents:0"


def open_app(url: str) -> LedgerApplication:
    return open_ledger(url, clock=SteppingClock(T0), config=LedgerConfig())


def fixed_contract(payload: bytes) -> ContractMessage:
    """The contracts after the fix: `side` is accepted as the old name of `direction`."""
    return parse_message(payload.replace(b'"side":', b'"direction":'))


def quarantined_log_positions(app: LedgerApplication) -> list[int]:
    return [lp for lp, _ in quarantine_records(app)]


def events_from(app: LedgerApplication, source_prefix: str) -> list[ev.LedgerEvent]:
    return [e for _, e in app.read_events() if e.source.startswith(source_prefix)]


def test_a_fixed_contract_applies_the_message_once_linked_to_its_record(store_url: str) -> None:
    app = open_app(store_url)
    app.process([SourcedMessage(SOURCE, 41, LEGACY_INTENT), SourcedMessage(SOURCE, 42, b"{")])
    [legacy, broken] = quarantined_log_positions(app)

    still = retry_quarantined(app)  # the contracts of today still refuse both
    assert [r.result for r in still] == ["still_invalid", "still_invalid"]
    assert any(e["loc"] == "side" for e in still[0].errors)
    assert not app.ledger.orders

    [done, not_fixed] = retry_quarantined(app, parse=fixed_contract)
    assert (done.log_position, done.source, done.position, done.result) == (
        legacy,
        SOURCE,
        41,
        "applied",
    )
    assert not_fixed.result == "still_invalid"
    [order] = app.ledger.orders.values()
    assert str(order.intent_id) == IID
    caused = events_from(app, "retry:")
    assert [type(e) for e in caused if isinstance(e, ev.OrderEvent)] == [ev.OrderIntentRecorded]
    # Every event it caused names the quarantine record it came from.
    assert {e.source for e in caused} == {f"retry:{legacy}@{legacy}"}

    again = retry_quarantined(open_app(store_url), [legacy], parse=fixed_contract)
    assert [r.result for r in again] == ["already_retried"]
    reopened = open_app(store_url)
    assert len(reopened.ledger.orders) == 1
    assert events_from(reopened, "retry:") == caused
    assert reopened.store.source_positions()[f"retry:{legacy}"] == legacy
    assert quarantined_log_positions(reopened) == [legacy, broken]  # records stay


def test_an_unknown_id_is_refused(sqlite_url: str) -> None:
    app = open_app(sqlite_url)
    app.process([SourcedMessage(SOURCE, 1, b"{")])
    [lp] = quarantined_log_positions(app)
    with pytest.raises(QuarantineRecordNotFound, match=str(lp + 100)):
        retry_quarantined(app, [lp, lp + 100])


def quarantine_under_an_old_contract(url: str, payload: bytes, offset: int) -> int:
    """A record an older contract version refused (today's contracts accept `payload`)."""
    app = open_app(url)
    errors = json.dumps([{"loc": "order_type", "msg": "MARKET was not allowed then"}])

    def decide(ledger: Ledger, now: datetime) -> None:
        ledger.quarantine(SOURCE, offset, payload, errors, now)

    [event] = app.command(decide)
    assert isinstance(event, ev.MessageQuarantined)
    return quarantined_log_positions(app)[-1]


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(retry, list(args))
    return result.exit_code, result.output


def test_cli_retry_all_applies_what_now_passes_and_a_second_run_changes_nothing(
    store_url: str,
) -> None:
    lp = quarantine_under_an_old_contract(store_url, VALID_INTENT, 5)
    code, out = invoke("--all", "--store", store_url, "--format", "json")
    assert code == 0, out
    assert orjson.loads(out) == [
        {"log_position": lp, "source": SOURCE, "position": 5, "result": "applied", "errors": []}
    ]
    code, out = invoke("--id", str(lp), "--store", store_url, "--format", "json")
    assert code == 0, out
    assert [r["result"] for r in orjson.loads(out)] == ["already_retried"]
    assert len(open_app(store_url).ledger.orders) == 1


def test_cli_exits_3_when_a_record_is_still_invalid(sqlite_url: str) -> None:
    open_app(sqlite_url).process([SourcedMessage(SOURCE, 9, LEGACY_INTENT)])
    code, out = invoke("--all", "--store", sqlite_url, "--format", "json")
    assert code == 3
    [row] = orjson.loads(out)
    assert row["result"] == "still_invalid"
    assert row["errors"]


@pytest.mark.parametrize("args", [[], ["--all", "--id", "1"], ["--id", "99"]])
def test_cli_usage_errors_exit_2(sqlite_url: str, args: list[str]) -> None:
    open_app(sqlite_url).process([SourcedMessage(SOURCE, 9, b"{")])
    code, out = invoke(*args, "--store", sqlite_url)
    assert code == 2
    assert "ledger: error:" in out
