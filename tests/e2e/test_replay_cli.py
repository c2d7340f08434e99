"""`ledger replay` against real stores (SQLite and PostgreSQL): exact outputs on the demo
session and an incident, time specs, filters, and the usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.replay.replay_history import demo_store, golden, incident_store, invoke

ORDER_3 = "00000000-0000-0000-0000-000000000003"


@pytest.fixture(scope="module")
def demo_sqlite(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'ledger.db'}"
    demo_store(url)
    return url


@pytest.fixture(scope="module")
def incident_sqlite(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('incident') / 'ledger.db'}"
    incident_store(url)
    return url


def test_as_of_prints_the_state_document(demo: str) -> None:
    r = invoke(demo, "replay", "--as-of", "@14", "--format", "json")
    assert r.exit_code == 0
    assert r.stdout == golden("replay_as_of_14.json")
    assert list(json.loads(r.stdout)) == ["positions", "orders", "account", "kill_switch"]


def test_window_as_csv_is_the_timeline_with_a_header(demo: str) -> None:
    r = invoke(demo, "--format", "csv", "replay", "--since", "@12", "--until", "@20")
    assert r.exit_code == 0
    assert r.stdout == golden("replay_window.csv")


def test_window_for_one_order_as_json(demo: str) -> None:
    r = invoke(demo, "replay", "--since", "@15", "--order", ORDER_3, "--format", "json")
    assert r.exit_code == 0
    assert r.stdout == golden("replay_order_3.json")
    doc = json.loads(r.stdout)
    assert list(doc) == [
        "by",
        "since",
        "until",
        "state_at_since",
        "timeline",
        "state_at_until",
        "diff",
    ]
    # The order's position existed before the order: the diff shows it changing, not
    # appearing.
    assert doc["diff"]["positions"]["SIM:MSFT"]["quantity"] == ["-50", "-20"]


def test_as_of_as_text_tables(demo_sqlite: str) -> None:
    r = invoke(demo_sqlite, "replay", "--as-of", "@9")
    assert r.exit_code == 0
    assert r.stdout == golden("replay_as_of_9.txt")


def test_window_across_a_kill_switch_trip_as_text(incident_sqlite: str) -> None:
    r = invoke(incident_sqlite, "replay", "--since", "@9", "--until", "@13")
    assert r.exit_code == 0
    assert r.stdout == golden("replay_incident.txt")


def _positions(url: str, *args: str) -> list[int]:
    r = invoke(url, "replay", *args, "--format", "csv")
    assert r.exit_code == 0, r.stderr
    return [int(line.split(",")[0]) for line in r.stdout.splitlines()[1:]]


def test_times_are_recorded_times_found_through_the_index(demo_sqlite: str) -> None:
    # One message a second from 14:00:00; line 10 (14:00:09) wrote @13, line 12 @16.
    assert _positions(
        demo_sqlite, "--since", "2025-11-17T14:00:09.500Z", "--until", "2025-11-17T14:00:11Z"
    ) == [14, 15, 16]
    # The same instants in another zone.
    assert _positions(
        demo_sqlite,
        "--since",
        "2025-11-17T09:00:09.500-05:00",
        "--until",
        "2025-11-17T09:00:11-05:00",
    ) == [14, 15, 16]


def test_relative_times_count_back_from_now(demo_sqlite: str) -> None:
    assert _positions(
        demo_sqlite, "--since", "-40s", "--until", "-38s", "--now", "2025-11-17T14:00:50Z"
    ) == [16, 17]


def test_by_occurred_uses_the_longest_prefix_that_occurred_by_then(demo_sqlite: str) -> None:
    r = invoke(
        demo_sqlite,
        "replay",
        "--as-of",
        "2025-11-17T14:35:00Z",
        "--by",
        "occurred",
        "--format",
        "json",
    )
    orders = {o["intent_id"][-1]: o["status"] for o in json.loads(r.stdout)["orders"]}
    # Intent 4 occurred at 14:35:00; its rejection (14:35:00.3) is not in the state yet.
    assert orders == {"1": "FILLED", "2": "FILLED", "3": "FILLED", "4": "NEW"}


def test_type_and_symbol_filters_narrow_the_timeline(demo_sqlite: str) -> None:
    r = invoke(
        demo_sqlite,
        "replay",
        "--since",
        "@0",
        "--type",
        "positionfillapplied",
        "--type",
        "PositionFillCorrected",
        "--symbol",
        "MSFT",
        "--format",
        "json",
    )
    events = [(e["position"], e["event"]) for e in json.loads(r.stdout)["timeline"]]
    assert events == [(15, "PositionFillApplied"), (20, "PositionFillApplied")]


def test_a_time_without_zone_is_a_usage_error(demo_sqlite: str) -> None:
    r = invoke(demo_sqlite, "replay", "--since", "2025-11-17T14:30:00")
    assert r.exit_code == 2
    assert "has no time zone and is refused" in r.stderr
    assert r.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--since", "@3", "--as-of", "@4"), "--as-of gives one state"),
        ((), "say --since T"),
        (("--since", "@30"), "position @30 is beyond the end of the log (@28)"),
        (("--since", "@20", "--until", "@10"), "--since (@20, @20) is after --until"),
        (("--since", "@3", "--type", "Nope"), "unknown event type(s) Nope"),
        (("--as-of", "@3", "--format", "csv"), "--as-of prints a state document"),
        (("--since", "@1", "--now", "-1h"), "--now must be an ISO-8601 time"),
    ],
)
def test_usage_errors_exit_2_with_a_reason(
    demo_sqlite: str, args: tuple[str, ...], message: str
) -> None:
    r = invoke(demo_sqlite, "replay", *args)
    assert r.exit_code == 2
    assert message in r.stderr


def test_a_missing_store_is_unavailable_and_is_not_created(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nothing.db'}"
    r = invoke(url, "replay", "--as-of", "@0")
    assert r.exit_code == 4
    assert "no store at" in r.stderr
    assert not (tmp_path / "nothing.db").exists()


def test_the_account_comes_from_the_log_not_the_environment(
    incident_sqlite: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGER_STARTING_EQUITY", "5000000")  # the log opened with 100,000
    r = invoke(incident_sqlite, "replay", "--as-of", "@0", "--format", "json")
    assert json.loads(r.stdout)["account"]["cash"] == "100000"
