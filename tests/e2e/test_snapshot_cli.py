"""`ledger snapshot`: one snapshot at the log's head, used by `replay --as-of`, never twice."""

from __future__ import annotations

import json
from pathlib import Path

from adapters.store import open_recorder
from adapters.store.snapshots import SnapshotTable
from domain.ledger import LedgerConfig
from replay.snapshots import StoreSnapshots
from replay.state import open_event_log
from tests.support.services import postgres_schema, postgres_store_url
from tests.unit.replay.replay_history import demo_store, invoke


def test_a_snapshot_at_the_head_changes_no_replay_output(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    head = demo_store(url).position
    before = invoke(url, "replay", "--as-of", f"@{head}", "--format", "json")
    assert before.exit_code == 0, before.stderr

    first = invoke(url, "snapshot", "--format", "json")
    assert first.exit_code == 0, first.stderr
    doc = json.loads(first.stdout)
    assert doc["position"] == head and doc["written"] is True and doc["bytes"] > 0

    with open_recorder(url, create=False) as recorder:
        table = SnapshotTable(recorder)
        assert table.latest_position() == head
        assert doc["event_hash"] == recorder.chain_rows(head, 1, head)[0][6].hex()

    with open_event_log(url) as log:  # what replay reads: it finds and accepts this one
        found = StoreSnapshots(log, LedgerConfig()).nearest(head)
    assert found is not None and found[0] == head

    after = invoke(url, "replay", "--as-of", f"@{head}", "--format", "json")
    assert after.stdout == before.stdout

    again = invoke(url, "snapshot", "--format", "json")
    assert again.exit_code == 0 and json.loads(again.stdout)["written"] is False


def test_an_empty_log_has_nothing_to_snapshot(tmp_path: Path) -> None:
    result = invoke(f"sqlite:///{tmp_path / 'ledger.db'}", "snapshot")
    assert result.exit_code == 2
    assert "the log is empty" in result.stderr


def test_postgresql_needs_the_table_from_db_init() -> None:
    with postgres_schema() as schema:
        url = postgres_store_url(schema)
        head = demo_store(url).position
        missing = invoke(url, "snapshot")
        assert missing.exit_code == 2
        assert "ledger db init" in missing.stderr
        with open_recorder(url, create=False) as recorder:
            SnapshotTable(recorder).create()  # as `db init` does, with the owner's rights
        made = invoke(url, "snapshot", "--format", "json")
        assert made.exit_code == 0, made.stderr
        assert json.loads(made.stdout)["position"] == head
