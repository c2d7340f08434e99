"""`ledger audit` against real stores: lifecycles, filters, the audit index and its
cross-check against the log."""

from __future__ import annotations

import json
import sqlite3

from tests.unit.replay.replay_history import demo_store, golden, incident_store, invoke

ORDER_1 = "00000000-0000-0000-0000-000000000001"
INDEX_TABLE = "proj_audit_index_v1"


def test_an_orders_lifecycle_in_log_order_with_both_times_and_sources(demo: str) -> None:
    r = invoke(demo, "audit", "--order", ORDER_1, "--format", "csv")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == golden("audit_order_1.csv")


def test_anomalies_by_type(demo: str) -> None:
    r = invoke(demo, "audit", "--type", "OrderMessageRefused", "--format", "json")
    assert r.stdout == golden("audit_refused.json")


def test_the_index_and_the_log_give_the_same_rows(demo: str) -> None:
    for args in (
        [],
        ["--symbol", "MSFT"],
        ["--order", ORDER_1],
        ["--since", "@10", "--until", "@20"],
    ):
        served = invoke(demo, "audit", *args, "--format", "json")
        checked = invoke(demo, "audit", *args, "--from-log", "--format", "json")
        assert (served.exit_code, checked.exit_code) == (0, 0)
        assert served.stdout == checked.stdout
        assert "no cross-check" not in checked.stderr


def test_window_and_types_combine(demo: str) -> None:
    r = invoke(
        demo,
        "audit",
        "--since",
        "@10",
        "--until",
        "@20",
        "--type",
        "OrderFilled",
        "--type",
        "OrderCanceled",
        "--format",
        "json",
    )
    rows = json.loads(r.stdout)
    assert [(x["position"], x["event"]) for x in rows] == [
        (14, "OrderFilled"),
        (18, "OrderCanceled"),
        (19, "OrderFilled"),
    ]


def test_since_a_time_means_recorded_after_it(demo: str) -> None:
    r = invoke(
        demo, "audit", "--symbol", "MSFT", "--since", "2025-11-17T14:00:12Z", "--format", "json"
    )
    rows = json.loads(r.stdout)
    assert [x["position"] for x in rows] == [18, 19, 20, 26]
    assert {x["symbol"] for x in rows} == {"MSFT"}


def test_quarantined_messages_name_their_file_and_line(demo: str) -> None:
    rows = json.loads(invoke(demo, "audit", "--quarantined", "--format", "json").stdout)
    assert [x["event"] for x in rows] == ["MessageQuarantined"]
    assert rows[0]["summary"].startswith(
        "quarantined file:/demo/session.jsonl@16: intent_id: Input should be a valid UUID"
    )


def test_an_unknown_order_has_no_rows(demo: str) -> None:
    r = invoke(demo, "audit", "--order", "00000000-0000-0000-0000-000000000009", "--format", "json")
    assert (r.exit_code, r.stdout) == (0, "[]\n")


def test_operator_actions_are_the_manual_kill_switch_commands(sqlite_url: str) -> None:
    incident_store(sqlite_url)  # a risk-policy trip, then alice's reset to REDUCING
    r = invoke(sqlite_url, "audit", "--operator", "--format", "json")
    assert r.stdout == golden("audit_operator.json")
    trips = json.loads(
        invoke(sqlite_url, "audit", "--type", "KillSwitchTripped", "--format", "json").stdout
    )
    assert [t["summary"].split(" by ")[1].split(":")[0] for t in trips] == ["risk-policy"]


def test_a_wrong_index_is_served_as_is_and_caught_by_from_log(sqlite_url: str) -> None:
    demo_store(sqlite_url)
    assert invoke(sqlite_url, "audit", "--order", ORDER_1).exit_code == 0  # builds the index
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as db:
        db.execute(f"UPDATE {INDEX_TABLE} SET symbol = 'MSFT' WHERE position = 9")
    served = json.loads(invoke(sqlite_url, "audit", "--order", ORDER_1, "--format", "json").stdout)
    assert {x["position"]: x["symbol"] for x in served}[9] == "MSFT"
    checked = invoke(sqlite_url, "audit", "--order", ORDER_1, "--from-log", "--format", "json")
    assert checked.exit_code == 3
    assert {x["position"]: x["symbol"] for x in json.loads(checked.stdout)}[9] == "AAPL"
    assert "differs from the log in 1 place(s)" in checked.stderr
    assert json.loads(checked.stderr.split("place(s):\n", 1)[1]) == [
        {"position": 9, "field": "symbol", "log": "AAPL", "index": "MSFT"}
    ]
