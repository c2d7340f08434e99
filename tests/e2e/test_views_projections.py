"""`positions`, `orders`, `killswitch status` read the projections, with output byte for byte
what the in-memory ledger's views render; `--no-catch-up` reads as-is and says how far behind;
`rebuild` swaps versions from the command line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
import orjson
import pytest
from click.testing import CliRunner, Result

from adapters.projections import open_projection_store
from domain.ledger import Ledger
from projections.views import killswitch_row, order_rows, position_rows
from replay.cli import cli
from replay.commands.rebuild import _with_progress
from replay.commands.views import ORDER_COLUMNS, POSITION_COLUMNS
from replay.render import emit_doc, emit_rows
from tests.conftest import make_app
from tests.unit.projections.helpers import demo_lines, ingest, more_messages


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def ok(*args: str) -> Result:
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result


def rendered(fn: Callable[[], Any]) -> str:
    """What the renderer prints, through the same CliRunner plumbing as the commands."""

    @click.command()
    def show() -> None:
        fn()

    return CliRunner().invoke(show, []).stdout


def in_memory(url: str) -> Ledger:
    return make_app(url).ledger


@pytest.mark.parametrize("fmt", ["text", "json", "csv"])
def test_listings_equal_the_in_memory_views(sqlite_url: str, fmt: str) -> None:
    ingest(make_app(sqlite_url), demo_lines())
    ledger = in_memory(sqlite_url)

    assert ok("--store", sqlite_url, "--format", fmt, "positions").stdout == rendered(
        lambda: emit_rows(position_rows(ledger), fmt, title="positions", columns=POSITION_COLUMNS)
    )
    assert ok("--store", sqlite_url, "orders", "--format", fmt).stdout == rendered(
        lambda: emit_rows(order_rows(ledger), fmt, title="orders", columns=ORDER_COLUMNS)
    )
    assert ok("--store", sqlite_url, "orders", "--open", "--format", fmt).stdout == rendered(
        lambda: emit_rows(
            order_rows(ledger, open_only=True), fmt, title="orders", columns=ORDER_COLUMNS
        )
    )
    ok("--store", sqlite_url, "killswitch", "trip", "--reason", "lunch", "--by", "ops")
    ledger = in_memory(sqlite_url)
    assert ok("--store", sqlite_url, "killswitch", "status", "--format", fmt).stdout == (
        rendered(lambda: emit_doc(killswitch_row(ledger), fmt))
    )


def test_a_script_that_ingests_then_reads_sees_its_writes(store_url: str) -> None:
    app = make_app(store_url)
    ingest(app, demo_lines())
    first = orjson.loads(ok("--store", store_url, "positions", "--format", "json").stdout)
    assert first == position_rows(app.ledger)
    ingest(app, more_messages(), source="file:/more.jsonl")
    assert orjson.loads(ok("--store", store_url, "positions", "--format", "json").stdout) == (
        position_rows(app.ledger)
    )
    assert orjson.loads(ok("--store", store_url, "orders", "--format", "json").stdout) == (
        order_rows(app.ledger)
    )


def test_no_catch_up_reads_as_is_and_says_how_far_behind(sqlite_url: str) -> None:
    app = make_app(sqlite_url)
    ingest(app, demo_lines())
    before = ok("--store", sqlite_url, "positions", "--format", "json").stdout
    at = app.position
    ingest(app, more_messages(), source="file:/more.jsonl")

    stale = ok("--store", sqlite_url, "positions", "--no-catch-up", "--format", "json")

    assert stale.stdout == before
    behind = app.position - at
    assert stale.stderr == (
        f"ledger: projection positions is {behind} events behind the log "
        f"(at position {at}, log at {app.position})\n"
    )
    fresh = ok("--store", sqlite_url, "positions", "--format", "json")
    assert fresh.stdout != before
    assert fresh.stderr == ""
    assert ok("--store", sqlite_url, "positions", "--no-catch-up").stderr.startswith(
        "ledger: projection positions is 0 events behind"
    )


def test_killswitch_status_reads_its_projection(sqlite_url: str) -> None:
    ok("--store", sqlite_url, "killswitch", "trip", "--reason", "halt", "--by", "ops")
    status = orjson.loads(
        ok(
            "--store", sqlite_url, "killswitch", "status", "--no-catch-up", "--format", "json"
        ).stdout
    )
    assert status["state"] == "ARMED"  # the projection was never caught up
    status = orjson.loads(
        ok("--store", sqlite_url, "killswitch", "status", "--format", "json").stdout
    )
    assert (status["state"], status["reason"], status["by"], status["trigger"]) == (
        "TRIPPED",
        "halt",
        "ops",
        "manual",
    )


def test_rebuild_from_the_command_line(sqlite_url: str) -> None:
    ingest(make_app(sqlite_url), demo_lines())
    before = ok("--store", sqlite_url, "orders", "--format", "json").stdout

    done = ok("--store", sqlite_url, "rebuild", "orders", "positions", "--format", "json")

    doc = orjson.loads(done.stdout)
    assert doc["projections"] == {
        "positions": {"from_version": 1, "to_version": 2},
        "orders": {"from_version": 1, "to_version": 2},
    }
    assert doc["position"] == doc["events"] == make_app(sqlite_url).position
    assert 0 < doc["events_read"] < doc["events"]  # only position and order events are read
    assert done.stderr == ""  # no progress bar when stderr is not a terminal
    assert ok("--store", sqlite_url, "orders", "--format", "json").stdout == before
    text = ok("--store", sqlite_url, "rebuild", "--all").stdout
    assert text.startswith("rebuilt positions v2->v3, orders v2->v3, account v1->v2")
    assert "events/s" in text


@pytest.mark.parametrize("args", [[], ["--all", "orders"], ["nope"]])
def test_rebuild_usage_errors(sqlite_url: str, args: list[str]) -> None:
    result = run("--store", sqlite_url, "rebuild", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("ledger: error: ")


def test_rebuild_progress_bar_path(sqlite_url: str) -> None:
    """The terminal path (a rich progress bar on stderr) rebuilds the same way."""
    ingest(make_app(sqlite_url), demo_lines())
    store = open_projection_store(sqlite_url)
    try:
        result = _with_progress(store, ["positions", "audit_index"], 5, 2)
    finally:
        store.close()
    assert result.versions == {"positions": (1, 2), "audit_index": (1, 2)}
    assert result.events == result.position == make_app(sqlite_url).position
