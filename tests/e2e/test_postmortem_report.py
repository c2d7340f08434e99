"""`ledger postmortem`: the report renders, opens with the kill switch, and every number in
the Markdown is the JSON's."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.support.services import postgres_schema, postgres_store_url
from tests.unit.replay.replay_history import incident_store, invoke

PNGS = ("equity_drawdown.png", "positions.png", "orders.png")


def md_tables(text: str) -> list[list[list[str]]]:
    """Every Markdown table as rows of cells (the header row first, the rule left out)."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith("|"):
            if not line.startswith("|---"):
                current.append(
                    [c.strip().replace("\\|", "|") for c in line.strip("|").split(" | ")]
                )
        elif current:
            tables.append(current)
            current = []
    return tables


def table_after(text: str, heading: str) -> list[list[str]]:
    return md_tables(text.split(heading, 1)[1])[0]


Report = tuple[str, dict[str, Any], Any]


def _report(url: str, out: Path, *args: str) -> Report:
    r = invoke(url, "postmortem", *args, "--out", str(out), "--format", "json")
    assert r.exit_code == 0, r.stderr
    md = (out / "postmortem.md").read_text(encoding="utf-8")
    data = json.loads((out / "postmortem.json").read_text(encoding="utf-8"))
    return md, data, json.loads(r.stdout)


@pytest.fixture(scope="module")
def incident(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('incident') / 'ledger.db'}"
    incident_store(url)
    return url


@pytest.fixture(scope="module")
def report(incident: str, tmp_path_factory: pytest.TempPathFactory) -> Report:
    """The whole incident (drawing charts is slow: one report serves several tests)."""
    return _report(incident, tmp_path_factory.mktemp("pm"), "--since", "@0", "--until", "@17")


def test_report_files_exist_and_the_charts_decode(report: Report) -> None:
    _, data, summary = report
    out = Path(summary["report"]).parent
    assert summary["files"] == [str(out / n) for n in ("postmortem.md", "postmortem.json", *PNGS)]
    assert (summary["events"], summary["kill_switch_transitions"]) == (17, 2)
    for name in PNGS:
        with Image.open(out / name) as img:
            img.verify()  # raises on a truncated or corrupt file
        with Image.open(out / name) as img:
            assert img.format == "PNG"
            assert img.size[0] >= 600 and img.size[1] >= 200
    assert data["kill_switch"]["at_until"]["state"] == "REDUCING"


def test_postgresql_gives_the_same_report(report: Report, tmp_path: Path) -> None:
    with postgres_schema() as schema:
        url = postgres_store_url(schema)
        incident_store(url)
        md, data, _ = _report(url, tmp_path, "--since", "@0", "--until", "@17")
    assert (md, data) == report[:2]


def test_the_report_opens_with_what_the_kill_switch_did_and_why(report: Report) -> None:
    md, data, _ = report
    sections = re.findall(r"^## (.+)$", md, flags=re.MULTILINE)
    assert sections[0] == "What the kill switch did"
    trip, _reset = data["kill_switch"]["transitions"]
    assert (
        f"- @{trip['position']} ({trip['recorded_at']}): ARMED -> TRIPPED by risk-policy, "
        f"trigger daily_loss (HALT_AND_FLATTEN): daily loss 6.00 % exceeds 5.00 %; measure "
        f"{trip['measure']} against threshold {trip['threshold']}, equity {trip['equity']}, "
        f"high-water mark {trip['high_water_mark']}. Input: test@8."
    ) in md
    assert "- @17 (2025-11-17T14:00:10Z): TRIPPED -> REDUCING by alice: flatten in progress." in md
    after = data["kill_switch"]["after_trip"]
    assert after == {"cancel_requests": 1, "flatten_orders": 1, "denied_intents": 1}
    assert (
        f"After the first trip: {after['cancel_requests']} cancel request(s), "
        f"{after['flatten_orders']} flatten order(s), {after['denied_intents']} intent(s) "
        "denied."
    ) in md


def test_every_number_in_the_markdown_is_the_jsons(report: Report) -> None:
    md, data, _ = report
    ks = table_after(md, "## What the kill switch did")
    fields = [
        "position",
        "recorded_at",
        "occurred_at",
        "previous_state",
        "state",
        "trigger",
        "action",
        "reason",
        "by",
        "equity",
        "high_water_mark",
        "measure",
        "threshold",
        "source",
    ]
    assert ks[1:] == [
        ["" if t[f] is None else str(t[f]) for f in fields]
        for t in data["kill_switch"]["transitions"]
    ]
    account = table_after(md, "## Account")
    a = data["account"]
    assert account[1:] == [
        [f, str(a["at_since"][f] or ""), str(a["at_until"][f] or "")]
        for f in ("cash", "equity", "high_water_mark", "drawdown", "day", "opening_equity")
    ]
    assert (
        f"Lowest equity in the window: {a['lowest_equity']} (@{a['lowest_equity_at']}). "
        f"Largest drawdown: {a['max_drawdown']} (@{a['max_drawdown_at']})."
    ) in md
    assert (a["lowest_equity"], a["max_drawdown"]) == ("93999.00", "0.06001")
    positions = table_after(md, "## Positions")
    end = {f"{p['account']}:{p['symbol']}": p for p in data["state_at_until"]["positions"]}
    assert positions[1:] == [
        [k, "0", p["quantity"], p["avg_price"], p["realized_pnl"], p["commission"]]
        for k, p in end.items()
    ]
    orders = table_after(md, "## Orders")
    assert orders[1:] == [
        [
            o["intent_id"],
            o["symbol"],
            o["side"],
            o["quantity"],
            o["origin"],
            " > ".join(e["event"] for e in o["events"]),
            o["final_status"],
            o["filled_quantity"],
        ]
        for o in data["orders"]
    ]
    counts = table_after(md, "## Events in the window")
    assert {k: int(v) for k, v in counts[1:]} == data["event_counts"]
    # The JSON is itself the log's: the equity curve ends at the state at --until.
    assert data["equity_curve"][-1]["equity"] == data["state_at_until"]["account"]["equity"]


def test_a_quiet_window_says_the_kill_switch_did_nothing(incident: str, tmp_path: Path) -> None:
    # Times as in replay: @2 was recorded at 14:00:00, @8 at 14:00:05.
    md, data, _ = _report(
        incident,
        tmp_path,
        "--since",
        "2025-11-17T14:00:00.5Z",
        "--until",
        "-2s",
        "--now",
        "2025-11-17T14:00:07Z",
    )
    assert (data["since"]["position"], data["until"]["position"]) == (2, 8)
    assert data["kill_switch"]["transitions"] == []
    assert (
        "## What the kill switch did\n\nNothing: it was ARMED at the start of the window "
        "and did not change." in md
    )


def test_the_window_is_required(incident: str, tmp_path: Path) -> None:
    r = invoke(incident, "postmortem", "--since", "@0", "--out", str(tmp_path))
    assert r.exit_code == 2
    assert "--until" in r.stderr
