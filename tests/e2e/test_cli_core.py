"""The `ledger` CLI against a real SQLite store: exact output of ingest, positions, orders,
quarantine and killswitch; option placement; exit codes.

The DEMO_* constants are what data/demo/session.jsonl must produce: change them with it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from replay.cli import cli
from tests.support.messages import fill, intent, report, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data" / "demo" / "session.jsonl"
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")

DEMO_POSITIONS = [
    {
        "account": "SIM",
        "symbol": "AAPL",
        "quantity": "100",
        "avg_price": "228.55",
        "realized_pnl": "0",
        "commission": "0.50",
    },
    {
        "account": "SIM",
        "symbol": "MSFT",
        "quantity": "-20",
        "avg_price": "415.70",
        "realized_pnl": "51.00",
        "commission": "0.15",
    },
]
DEMO_ORDERS = [
    {
        "intent_id": "00000000-0000-0000-0000-000000000001",
        "symbol": "AAPL",
        "side": "BUY",
        "quantity": "100",
        "status": "FILLED",
        "filled_quantity": "100",
        "avg_fill_price": "228.55",
    },
    {
        "intent_id": "00000000-0000-0000-0000-000000000002",
        "symbol": "MSFT",
        "side": "SELL",
        "quantity": "50",
        "status": "FILLED",
        "filled_quantity": "50",
        "avg_fill_price": "415.70",
    },
    {
        "intent_id": "00000000-0000-0000-0000-000000000003",
        "symbol": "MSFT",
        "side": "BUY",
        "quantity": "30",
        "status": "FILLED",
        "filled_quantity": "30",
        "avg_fill_price": "414.00",
    },
    {
        "intent_id": "00000000-0000-0000-0000-000000000004",
        "symbol": "AAPL",
        "side": "SELL",
        "quantity": "40",
        "status": "REJECTED",
        "filled_quantity": "0",
        "avg_fill_price": "0",
    },
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("LEDGER_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # the default store, if ever used, lands here


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=True)


def ok(*args: str) -> Result:
    result = run(*args)
    assert result.exit_code == 0, (result.output, result.exception)
    assert result.stderr == ""
    return result


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


# ---------------------------------------------------------------------------- ingest


def test_ingest_prints_an_exact_text_summary(store: str) -> None:
    result = ok("--store", store, "ingest", str(DEMO))
    assert result.stdout == (
        "read 23, applied 20, duplicates 1, anomalies 1, quarantined 1; 28 events written\n"
    )


def test_ingest_prints_an_exact_json_summary_and_reingest_is_all_duplicates(store: str) -> None:
    first = ok("--store", store, "--format", "json", "ingest", str(DEMO))
    assert first.stdout == (
        '{\n  "read": 23,\n  "applied": 20,\n  "duplicates": 1,\n'
        '  "anomalies": 1,\n  "quarantined": 1\n}\n'
    )
    again = ok("ingest", str(DEMO), "--store", store, "--format", "json")
    assert as_json(again) == {
        "read": 23,
        "applied": 0,
        "duplicates": 23,
        "anomalies": 0,
        "quarantined": 0,
    }
    text = ok("--store", store, "ingest", str(DEMO))
    assert text.stdout == (
        "read 23, applied 0, duplicates 23, anomalies 0, quarantined 0; 0 events written\n"
    )


def test_ingest_strict_exits_3_when_something_was_quarantined_or_refused(
    store: str, tmp_path: Path
) -> None:
    result = run("--store", store, "ingest", "--strict", str(DEMO))
    assert result.exit_code == 3
    assert result.stdout.startswith("read 23, applied 20,")
    clean = write_jsonl(tmp_path / "clean.jsonl", [intent(99), report(99, "ACKNOWLEDGED")])
    assert run("--store", store, "ingest", "--strict", str(clean)).exit_code == 0


def test_held_reports_are_counted_as_applied_and_named(store: str, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "early.jsonl", [report(1, "ACKNOWLEDGED"), intent(1)])
    result = ok("--store", store, "ingest", str(path))
    assert result.stdout == (
        "read 2, applied 2 (held for their intent: 1), duplicates 0, "
        "anomalies 0, quarantined 0; 4 events written\n"
    )


def test_ingest_of_a_missing_file_is_a_usage_error(store: str, tmp_path: Path) -> None:
    result = run("--store", store, "ingest", str(tmp_path / "nope.jsonl"))
    assert result.exit_code == 2
    assert "no such file" in result.stderr
    assert not (tmp_path / "ledger.db").exists()


# ---------------------------------------------------------------------------- listings


def test_positions_json_is_the_exact_list(store: str) -> None:
    ok("--store", store, "ingest", str(DEMO))
    assert as_json(ok("--store", store, "positions", "--format", "json")) == DEMO_POSITIONS


def test_positions_text_and_csv_show_exact_decimals(store: str) -> None:
    ok("--store", store, "ingest", str(DEMO))
    csv = ok("--store", store, "positions", "--format", "csv").stdout
    assert csv == (
        "account,symbol,quantity,avg_price,realized_pnl,commission\n"
        "SIM,AAPL,100,228.55,0,0.50\n"
        "SIM,MSFT,-20,415.70,51.00,0.15\n"
    )
    text = ok("--store", store, "positions").stdout
    assert "228.55" in text and "51.00" in text and "-20" in text


def test_empty_listings(store: str) -> None:
    assert as_json(ok("--store", store, "positions", "--format", "json")) == []
    assert ok("--store", store, "orders").stdout == "no orders\n"


@pytest.mark.parametrize(
    "args",
    [
        ["--format", "json", "--store", "{store}", "positions"],
        ["positions", "--format", "json", "--store", "{store}"],
        ["--store", "{store}", "positions", "--format", "json"],
        ["--format", "json", "positions", "--store", "{store}"],
        ["--format", "text", "--store", "{store}", "positions", "--format", "json"],
    ],
)
def test_format_and_store_work_before_and_after_the_command(store: str, args: list[str]) -> None:
    ok("--store", store, "ingest", str(DEMO))
    result = ok(*[a.replace("{store}", store) for a in args])
    assert as_json(result) == DEMO_POSITIONS


def test_store_from_the_environment(store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_STORE", store)
    ok("ingest", str(DEMO))
    assert as_json(ok("positions", "--format", "json")) == DEMO_POSITIONS


def test_orders_every_order_in_log_order(store: str) -> None:
    ok("--store", store, "ingest", str(DEMO))
    assert as_json(ok("--store", store, "--format", "json", "orders")) == DEMO_ORDERS
    assert as_json(ok("--store", store, "--format", "json", "orders", "--open")) == []


def test_orders_open_lists_only_working_orders(store: str, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "open.jsonl",
        [
            intent(1, quantity=10),
            report(1, "ACKNOWLEDGED"),
            intent(2, quantity=10),
            fill(2, "b.01", 10, "12.5", status="FILLED"),
            intent(3, quantity=10, direction="SELL"),
            fill(3, "c.01", 4, "7.25"),
            intent(4, quantity=10),
            report(4, "CANCELED"),
            intent(5, quantity=10),
            report(5, "SUBMITTED"),
        ],
    )
    ok("--store", store, "ingest", str(path))
    rows = as_json(ok("--store", store, "orders", "--open", "--format", "json"))
    assert rows == [
        {
            "intent_id": "00000000-0000-0000-0000-000000000001",
            "symbol": "AAPL",
            "side": "BUY",
            "quantity": "10",
            "status": "ACKNOWLEDGED",
            "filled_quantity": "0",
            "avg_fill_price": "0",
        },
        {
            "intent_id": "00000000-0000-0000-0000-000000000003",
            "symbol": "AAPL",
            "side": "SELL",
            "quantity": "10",
            "status": "PARTIAL_FILL",
            "filled_quantity": "4",
            "avg_fill_price": "7.25",
        },
        {
            "intent_id": "00000000-0000-0000-0000-000000000005",
            "symbol": "AAPL",
            "side": "BUY",
            "quantity": "10",
            "status": "SUBMITTED",
            "filled_quantity": "0",
            "avg_fill_price": "0",
        },
    ]
    assert len(as_json(ok("--store", store, "orders", "--format", "json"))) == 5


def test_quarantine_lists_each_invalid_line(store: str, tmp_path: Path) -> None:
    ok("--store", store, "ingest", str(DEMO))
    [row] = as_json(ok("--store", store, "quarantine", "--format", "json"))
    assert set(row) == {"log_position", "source", "position", "recorded_at", "raw", "errors"}
    assert ISO_Z.match(row.pop("recorded_at"))
    assert row == {
        "log_position": 21,
        "source": f"file:{DEMO}",
        "position": 16,
        "raw": DEMO.read_text().splitlines()[15],
        "errors": [
            {
                "loc": "intent_id",
                "msg": "Input should be a valid UUID, invalid character: found `n` at 0",
            },
            {"loc": "quantity", "msg": "Input should be greater than 0"},
        ],
    }

    # The same bad text on two lines: two records; re-ingest: no new ones.
    twice = write_jsonl(tmp_path / "twice.jsonl", ["{not json", "{not json"])
    summary = as_json(ok("--store", store, "--format", "json", "ingest", str(twice)))
    assert summary["quarantined"] == 2
    ok("--store", store, "ingest", str(twice))
    rows = as_json(ok("--store", store, "quarantine", "--format", "json"))
    assert [(r["source"], r["position"]) for r in rows] == [
        (f"file:{DEMO}", 16),
        (f"file:{twice}", 1),
        (f"file:{twice}", 2),
    ]


# ---------------------------------------------------------------------------- kill switch


def test_killswitch_status_trip_reset(store: str) -> None:
    assert as_json(ok("--store", store, "killswitch", "status", "--format", "json")) == {
        "state": "ARMED",
        "since": None,
        "reason": None,
        "by": None,
        "trigger": None,
    }

    tripped = as_json(
        ok(
            "--store",
            store,
            "--format",
            "json",
            "killswitch",
            "trip",
            "--reason",
            "strategy misbehaving",
            "--by",
            "alice",
        )
    )
    assert isinstance(tripped, dict)
    assert ISO_Z.match(tripped.pop("since"))
    assert tripped == {
        "state": "TRIPPED",
        "reason": "strategy misbehaving",
        "by": "alice",
        "trigger": "manual",
    }
    status = as_json(ok("--store", store, "killswitch", "status", "--format", "json"))
    assert isinstance(status, dict) and status["state"] == "TRIPPED"

    reducing = as_json(
        ok(
            "--store",
            store,
            "killswitch",
            "reset",
            "--to",
            "REDUCING",
            "--reason",
            "exits only",
            "--by",
            "bob",
            "--format",
            "json",
        )
    )
    assert isinstance(reducing, dict)
    assert (reducing["state"], reducing["reason"], reducing["by"], reducing["trigger"]) == (
        "REDUCING",
        "exits only",
        "bob",
        None,
    )
    armed = as_json(
        ok(
            "--store",
            store,
            "killswitch",
            "reset",
            "--reason",
            "all clear",
            "--by",
            "bob",
            "--format",
            "json",
        )
    )
    assert isinstance(armed, dict) and armed["state"] == "ARMED"

    again = run("--store", store, "killswitch", "reset", "--reason", "x", "--by", "bob")
    assert again.exit_code == 3
    assert again.stderr == "ledger: error: cannot ARM the kill switch while it is ARMED\n"


def test_killswitch_text_status(store: str) -> None:
    assert ok("--store", store, "killswitch", "status").stdout == (
        "state    ARMED\nsince    \nreason   \nby       \ntrigger  \n"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["killswitch", "trip", "--by", "alice"],
        ["killswitch", "trip", "--reason", "  ", "--by", "alice"],
        ["killswitch", "reset", "--to", "TRIPPED", "--reason", "x", "--by", "alice"],
    ],
)
def test_killswitch_usage_errors(store: str, args: list[str]) -> None:
    assert run("--store", store, *args).exit_code == 2


# ---------------------------------------------------------------------------- stores


@pytest.mark.parametrize(
    "url", ["foo://bar", "sqlite://relative.db", "postgresql:///nodb", "sqlite:///"]
)
def test_a_store_url_the_ledger_does_not_understand_is_a_usage_error(url: str) -> None:
    result = run("--store", url, "positions")
    assert result.exit_code == 2
    assert result.stderr.startswith("ledger: error: ")
    assert "Traceback" not in result.output


def test_an_unreachable_postgres_exits_4_with_a_clear_message() -> None:
    result = run("--store", "postgresql://postgres:s3cret@127.0.0.1:1/test", "positions")
    assert result.exit_code == 4
    assert result.stderr.startswith(
        "ledger: error: cannot open store postgresql://postgres:***@127.0.0.1:1/test"
    )
    assert "Connection refused" in result.stderr or "connection failed" in result.stderr
    assert "s3cret" not in result.output
    assert "Traceback" not in result.output


# ---------------------------------------------------------------------------- odd input


_INTENT = (
    '{"event_type":"order_intent","intent_id":"00000000-0000-0000-0000-000000000001",'
    '"symbol":"A","direction":"BUY","quantity":10,"order_type":"MARKET",'
    '"timestamp":"2025-11-17T14:30:00Z"}'
)


def test_a_reject_reason_with_a_lone_surrogate_does_not_crash_ingest(
    store: str, tmp_path: Path
) -> None:
    path = write_jsonl(
        tmp_path / "surrogate.jsonl",
        [
            _INTENT,
            '{"event_type":"execution_report","intent_id":"00000000-0000-0000-0000-000000000001",'
            '"order_id":"1","symbol":"A","status":"REJECTED","filled_quantity":0,'
            '"avg_fill_price":0,"timestamp":"2025-11-17T14:30:01Z","reject_reason":"bad \\ud800"}',
        ],
    )
    result = ok("--store", store, "--format", "json", "ingest", str(path))
    assert as_json(result)["quarantined"] == 1
    [row] = as_json(ok("--store", store, "quarantine", "--format", "json"))
    assert (row["position"], [e["loc"] for e in row["errors"]]) == (2, ["reject_reason"])


def test_a_huge_price_does_not_crash_ingest(store: str, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "huge.jsonl",
        [
            _INTENT,
            '{"event_type":"execution_report","intent_id":"00000000-0000-0000-0000-000000000001",'
            '"order_id":"1","symbol":"A","status":"FILLED","filled_quantity":10,'
            '"avg_fill_price":"9E+999999","timestamp":"2025-11-17T14:30:01Z","exec_id":"x.1",'
            '"last_quantity":10,"last_price":"9E+999999"}',
        ],
    )
    result = run("--store", store, "ingest", str(path))
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 0
