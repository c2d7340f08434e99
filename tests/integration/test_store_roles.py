"""The PostgreSQL role model `ledger db init` creates, used through role switching
(`LEDGER_DB_ROLE` / `role=`): one login runs as writer, projector or reader.

Roles are cluster-wide: each test makes its own names and drops them afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

from adapters.store import StoreUnavailable, open_ledger, open_recorder
from adapters.store.admin import init_store
from adapters.store.errors import AppendOnlyViolation
from adapters.store.roles import RoleNames
from adapters.store.snapshots import AS_OF_ROWS, SnapshotTable
from adapters.store.verify import verify_store
from bench.workload import messages
from contracts import SourcedMessage
from domain.clock import SteppingClock
from domain.ledger import LedgerConfig
from domain.snapshot import snapshot_ledger
from replay.report.window import state_at
from replay.snapshots import StoreSnapshots
from replay.state import Rebuilder, open_event_log, state_document
from tests.conftest import T0
from tests.support.services import POSTGRES_URL, postgres_schema, postgres_store_url

pytestmark = pytest.mark.postgres


@dataclass(frozen=True)
class Store:
    url: str
    schema: str
    names: RoleNames


def drop_roles(names: RoleNames) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        for name in names.as_dict().values():
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone():
                conn.execute(f'DROP OWNED BY "{name}"')
                conn.execute(f'DROP ROLE "{name}"')


def unique_names() -> RoleNames:
    tag = uuid.uuid4().hex[:8]
    return RoleNames(f"t{tag}_owner", f"t{tag}_writer", f"t{tag}_projector", f"t{tag}_reader")


@pytest.fixture
def store() -> Iterator[Store]:
    names = unique_names()
    with postgres_schema() as schema:
        url = postgres_store_url(schema)
        try:
            init_store(url, names)
            yield Store(url, schema, names)
        finally:
            drop_roles(names)


def ingest(url: str, role: str, n: int = 40, first: int = 1) -> int:
    app = open_ledger(url, clock=SteppingClock(T0), config=LedgerConfig(), role=role)
    try:
        app.process(
            [SourcedMessage("file:/w.jsonl", i, m) for i, m in enumerate(messages(n), first)]
        )
        return app.position
    finally:
        app.close()


def as_role(store: Store, role: str, statement: str) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{store.schema}"')
        conn.execute(f'SET ROLE "{role}"')
        conn.execute(statement)


def refused(store: Store, role: str, statement: str) -> str:
    with pytest.raises(psycopg.Error) as e:
        as_role(store, role, statement)
    return str(e.value)


def test_db_init_is_idempotent_and_records_version_and_roles(store: Store) -> None:
    again = init_store(store.url, store.names)
    assert (again.schema_version, again.tables, again.roles_created) == (2, "present", [])
    with psycopg.connect(POSTGRES_URL) as conn:
        meta: dict[str, str] = dict(
            conn.execute(f'SELECT key, value FROM "{store.schema}".ledger_meta').fetchall()
        )
        owners = {
            r[0]
            for r in conn.execute(
                "SELECT tableowner FROM pg_tables WHERE schemaname = %s", (store.schema,)
            )
        }
    assert meta["schema_version"] == "2"
    assert store.names.writer in meta["roles"]
    assert owners == {store.names.owner}


def test_tables_created_before_init_move_to_the_owner() -> None:
    names = unique_names()
    with postgres_schema() as schema:
        url = postgres_store_url(schema)
        try:
            ingest(url, role="")  # first use by the login creates the tables
            report = init_store(url, names)
            assert report.tables == "present" and len(report.roles_created) == 4
            assert ingest(url, role=names.writer, n=8, first=41) > 0
            assert verify_store(url, role=names.reader).ok
        finally:
            drop_roles(names)


def test_the_writer_appends_but_may_not_change_the_log(store: Store) -> None:
    position = ingest(store.url, role=store.names.writer)
    assert position > 40
    w = store.names.writer
    assert "permission denied" in refused(store, w, "UPDATE ledger_events SET topic = 'x'")
    assert "permission denied" in refused(store, w, "DELETE FROM ledger_events")
    assert "permission denied" in refused(store, w, "TRUNCATE ledger_events")
    assert "permission denied" in refused(store, w, "CREATE TABLE proj_x (a int)")
    with open_recorder(store.url, role=w) as rec:
        assert rec.db_identity() == f"postgres as {w}"
    assert verify_store(store.url, role=store.names.reader).head_position == position


def test_the_reader_reads_and_verifies_but_may_not_append(store: Store) -> None:
    ingest(store.url, role=store.names.writer)
    report = verify_store(store.url, role=store.names.reader)
    assert report.ok and report.events > 40
    with pytest.raises(AppendOnlyViolation, match="permission denied"):
        ingest(store.url, role=store.names.reader, n=4, first=41)
    r = store.names.reader
    assert "permission denied" in refused(store, r, "INSERT INTO source_positions VALUES ('x', 1)")


def test_the_projector_owns_read_models_never_the_events(store: Store) -> None:
    ingest(store.url, role=store.names.writer)
    p, r = store.names.projector, store.names.reader
    as_role(store, p, "CREATE TABLE proj_positions_v1 (symbol text PRIMARY KEY, qty int)")
    as_role(store, p, "INSERT INTO proj_positions_v1 VALUES ('AAPL', 1)")
    as_role(store, p, "UPDATE proj_positions_v1 SET qty = 2")
    as_role(store, r, "SELECT * FROM proj_positions_v1")  # default privileges
    assert "permission denied" in refused(store, r, "DELETE FROM proj_positions_v1")
    assert "permission denied" in refused(store, p, "UPDATE ledger_events SET topic = 'x'")
    assert "permission denied" in refused(
        store, p, "INSERT INTO ledger_events SELECT * FROM ledger_events LIMIT 1"
    )
    as_role(store, p, "DROP TABLE proj_positions_v1")  # blue/green rebuilds drop old versions


def test_read_models_made_by_another_role_are_granted_on_the_next_init(store: Store) -> None:
    as_role(store, store.names.owner, "CREATE TABLE proj_checkpoints (p text, n bigserial)")
    p = store.names.projector
    assert "permission denied" in refused(store, p, "INSERT INTO proj_checkpoints VALUES ('a')")
    init_store(store.url, store.names)
    as_role(store, p, "INSERT INTO proj_checkpoints VALUES ('a')")  # table and its sequence


def test_role_kinds_resolve_through_the_configured_names(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGER_DB_ROLE", "reader")
    monkeypatch.setenv("LEDGER_DB_READER_ROLE", store.names.reader)
    with open_recorder(store.url) as rec:
        assert rec.db_identity() == f"postgres as {store.names.reader}"


def test_an_uninitialised_store_tells_the_writer_to_run_db_init(store: Store) -> None:
    with postgres_schema() as other:
        as_role(store, "postgres", f'GRANT USAGE ON SCHEMA "{other}" TO {store.names.writer}')
        with pytest.raises(StoreUnavailable, match="ledger db init"):
            ingest(postgres_store_url(other), role=store.names.writer)


def test_an_unknown_role_is_refused_at_connect(store: Store) -> None:
    with pytest.raises(StoreUnavailable, match="role"):
        ingest(store.url, role="no_such_role_here")


def test_snapshots_are_appended_by_the_writer_read_by_the_reader_and_never_changed(
    store: Store,
) -> None:
    position = ingest(store.url, role=store.names.writer)
    config = LedgerConfig()
    with open_recorder(store.url, role=store.names.writer) as rec, open_event_log(store.url) as log:
        table = SnapshotTable(rec)
        ledger = Rebuilder(log, config).state_at(position - 3)
        data = snapshot_ledger(ledger, AS_OF_ROWS)
        assert table.append(table.record_of(position - 3, data, config, 0))
        assert not table.append(table.record_of(position - 3, data, config, 0))
    os.environ["LEDGER_DB_ROLE"] = store.names.reader
    try:
        with open_event_log(store.url) as log:
            snapshots = StoreSnapshots(log, config)
            doc = state_at(log, config, position, snapshots=snapshots)
            assert snapshots.used == position - 3
            assert doc == state_document(Rebuilder(log, config).state_at(position))
    finally:
        del os.environ["LEDGER_DB_ROLE"]
    r, w = store.names.reader, store.names.writer
    assert "permission denied" in refused(
        store,
        r,
        "INSERT INTO ledger_snapshots SELECT position + 1, event_hash, format, "
        "code_version, config_fingerprint, recorded_at, state FROM ledger_snapshots",
    )
    assert "permission denied" in refused(store, w, "UPDATE ledger_snapshots SET state = ''")
    assert "permission denied" in refused(store, w, "DELETE FROM ledger_snapshots")
    # Not even the owner (or a superuser): the table's triggers refuse any change.
    for statement in (
        "UPDATE ledger_snapshots SET state = ''",
        "DELETE FROM ledger_snapshots",
        "TRUNCATE ledger_snapshots",
    ):
        assert "append-only" in refused(store, store.names.owner, statement)
