"""`ledger verify` as a user runs it: exit codes, the head, JSON, `--since`, on both stores."""

from __future__ import annotations

import json
import re
import sqlite3

from click.testing import CliRunner, Result

from adapters.store import open_recorder, parse_store_url
from bench.workload import messages
from contracts import SourcedMessage
from replay.cli import cli
from tests.conftest import make_app

KEYS = {
    "ok",
    "events",
    "head_position",
    "head_hash",
    "first_bad_position",
    "reason",
    "events_per_s",
}


def invoke(url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--store", url, *args], catch_exceptions=False)


def populate(url: str, n: int = 40) -> tuple[int, str]:
    app = make_app(url)
    app.process([SourcedMessage("file:/w.jsonl", i, m) for i, m in enumerate(messages(n), 1)])
    app.close()
    with open_recorder(url) as rec:
        head = rec.chain_head()
    assert head is not None
    return head[0], head[1].hex()


def change_state(url: str, position: int) -> None:
    """A superuser's edit, trigger out of the way (the tamper tests cover every kind)."""
    location = parse_store_url(url)
    if location.sqlite_path is not None:
        conn = sqlite3.connect(location.sqlite_path, isolation_level=None)
        conn.execute("DROP TRIGGER ledger_events_no_update")
        conn.execute("UPDATE ledger_events SET state = state || ' ' WHERE rowid = ?", (position,))
        conn.close()
    else:
        import psycopg

        from tests.support.services import POSTGRES_URL

        schema = location.env["POSTGRES_SCHEMA"]
        with psycopg.connect(POSTGRES_URL, autocommit=True) as pg:
            pg.execute(f'ALTER TABLE "{schema}".ledger_events DISABLE TRIGGER USER')
            pg.execute(
                f"UPDATE \"{schema}\".ledger_events SET state = state || '\\x20'::bytea "
                "WHERE notification_id = %s",
                (position,),
            )


def test_an_intact_chain_exits_0_and_prints_its_head(store_url: str) -> None:
    head, head_hash = populate(store_url)
    result = invoke(store_url, "verify")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert re.fullmatch(rf"chain intact: {head} events verified \([\d,]+ events/s\)", lines[0])
    assert lines[1] == f"head {head} {head_hash}"
    assert result.stderr == ""


def test_json_names_the_head_and_the_rate(store_url: str) -> None:
    head, head_hash = populate(store_url)
    result = invoke(store_url, "verify", "--format", "json")
    doc = json.loads(result.stdout)
    assert set(doc) == KEYS
    assert doc | {"events_per_s": 0} == {
        "ok": True,
        "events": head,
        "head_position": head,
        "head_hash": head_hash,
        "first_bad_position": None,
        "reason": None,
        "events_per_s": 0,
    }
    assert doc["events_per_s"] > 0


def test_a_broken_chain_exits_5_naming_the_first_bad_position(store_url: str) -> None:
    head, head_hash = populate(store_url)
    change_state(store_url, 17)
    result = invoke(store_url, "--format", "json", "verify")
    assert result.exit_code == 5
    doc = json.loads(result.stdout)
    assert (doc["ok"], doc["events"], doc["first_bad_position"]) == (False, 16, 17)
    assert doc["reason"].startswith("changed: row 17 was changed")
    assert (doc["head_position"], doc["head_hash"]) == (head, head_hash)
    assert result.stderr.startswith("ledger: error: chain broken at position 17: changed")
    text = invoke(store_url, "verify")
    assert text.exit_code == 5
    assert text.stdout.startswith("chain BROKEN at position 17: changed: row 17")


def test_since_verifies_the_tail_only(store_url: str) -> None:
    head, head_hash = populate(store_url)
    change_state(store_url, 10)
    tail = invoke(store_url, "verify", "--since", "11", "--format", "json")
    assert tail.exit_code == 0
    doc = json.loads(tail.stdout)
    assert (doc["events"], doc["head_position"], doc["head_hash"]) == (head - 10, head, head_hash)
    assert invoke(store_url, "verify", "--since", "10").exit_code == 5
    assert invoke(store_url, "verify", "--since", "0").exit_code == 2


def test_an_empty_store_verifies_with_the_genesis_head(store_url: str) -> None:
    make_app(store_url).close()
    result = invoke(store_url, "verify", "--format", "json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert (doc["ok"], doc["events"], doc["head_position"]) == (True, 0, 0)
    assert doc["head_hash"] == "00" * 32


def test_csv_is_one_row_of_the_same_fields(sqlite_url: str) -> None:
    populate(sqlite_url, 8)
    result = invoke(sqlite_url, "verify", "--format", "csv")
    header, row = result.stdout.splitlines()
    assert header.split(",") == list(
        [
            "ok",
            "events",
            "head_position",
            "head_hash",
            "first_bad_position",
            "reason",
            "events_per_s",
        ]
    )
    assert row.startswith("True,")


def test_no_store_is_unavailable_not_an_empty_chain(store_url: str) -> None:
    result = invoke(store_url, "verify")
    assert result.exit_code == 4
    assert "no store at" in result.stderr or "no ledger in" in result.stderr
    location = parse_store_url(store_url)
    assert location.sqlite_path is None or not location.sqlite_path.exists()
