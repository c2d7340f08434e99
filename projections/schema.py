"""Where the read models live: versioned `proj_` tables, the live version of each, checkpoints.

Every read-model table is named `proj_<table>_v<version>` and sits in the same database
(the same SQLite file, the same PostgreSQL schema) as the event log, so a projection
can read the log and write its rows and checkpoint in one transaction. Database roles
are granted on the `proj_` prefix.

- `proj_versions(projection, version)`: the live version of each projection. Readers
  resolve it first; `ledger rebuild` builds a new version next to the live one and
  switches this row (blue/green), then drops the old tables.
- `proj_checkpoints(projection, version, position)`: the last global position each
  version has processed, written in the same transaction as its rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.schema import CreateTable

PREFIX = "proj_"

# A global log position as a primary key. On SQLite only a column declared exactly
# INTEGER is the table's rowid; any other type (BIGINT) gets a separate unique index
# that every insert updates too. SQLite integers are 64-bit either way.
LOG_POSITION = BigInteger().with_variant(Integer, "sqlite")

_core = MetaData()

versions_table = Table(
    "proj_versions",
    _core,
    Column("projection", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
)

checkpoints_table = Table(
    "proj_checkpoints",
    _core,
    Column("projection", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("position", BigInteger, nullable=False),
)


def table_name(base: str, version: int) -> str:
    return f"{PREFIX}{base}_v{version}"


def serialize_setup(conn: Connection) -> None:
    """Serialise concurrent first-use set-up (PostgreSQL; SQLite writers are serial anyway)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('ledger_proj_setup'))"))


def ensure_core_tables(conn: Connection) -> None:
    _core.create_all(conn, checkfirst=True)


def create_tables(conn: Connection, tables: Iterable[Table], *, indexes: bool = True) -> None:
    """Create tables (if missing); secondary indexes now, or later with `create_indexes`
    (bulk loading a fresh version is much faster with its indexes built afterwards)."""
    for t in tables:
        if not conn.dialect.has_table(conn, t.name):
            conn.execute(CreateTable(t))
            if indexes:
                create_indexes(conn, [t])


def create_indexes(conn: Connection, tables: Iterable[Table]) -> None:
    for t in tables:
        for ix in t.indexes:
            ix.create(conn, checkfirst=True)


def drop_tables(conn: Connection, tables: Iterable[Table]) -> None:
    for t in tables:
        t.drop(conn, checkfirst=True)


def live_versions(conn: Connection, *, lock: bool = False) -> dict[str, int]:
    """projection -> live version; `lock` takes a share lock (PostgreSQL) against a swap."""
    q = select(versions_table.c.projection, versions_table.c.version)
    if lock:
        q = q.with_for_update(read=True)
    return {r.projection: r.version for r in conn.execute(q)}


def known_versions(conn: Connection, name: str) -> set[int]:
    """Every version of a projection that has a checkpoint (live, or built and not dropped)."""
    q = select(checkpoints_table.c.version).where(checkpoints_table.c.projection == name)
    return {r.version for r in conn.execute(q)}


def checkpoints(
    conn: Connection, keys: Iterable[tuple[str, int]], *, lock: bool = False
) -> dict[tuple[str, int], int]:
    """(projection, version) -> position; `lock` locks the rows (FOR UPDATE on PostgreSQL)."""
    wanted = list(keys)
    if not wanted:
        return {}
    c = checkpoints_table.c
    q = select(c.projection, c.version, c.position).where(
        or_(*(and_(c.projection == n, c.version == v) for n, v in wanted))
    )
    if lock:
        q = q.with_for_update()
    return {(r.projection, r.version): r.position for r in conn.execute(q)}


def add_checkpoint(conn: Connection, name: str, version: int) -> None:
    conn.execute(insert(checkpoints_table).values(projection=name, version=version, position=0))


def set_checkpoint(conn: Connection, name: str, version: int, position: int) -> None:
    c = checkpoints_table.c
    conn.execute(
        update(checkpoints_table)
        .where(c.projection == name, c.version == version)
        .values(position=position)
    )


def delete_checkpoint(conn: Connection, name: str, version: int) -> None:
    c = checkpoints_table.c
    conn.execute(checkpoints_table.delete().where(c.projection == name, c.version == version))


def set_live_versions(conn: Connection, versions: Mapping[str, int]) -> None:
    current = live_versions(conn)
    for name, version in versions.items():
        if name in current:
            conn.execute(
                update(versions_table)
                .where(versions_table.c.projection == name)
                .values(version=version)
            )
        else:
            conn.execute(insert(versions_table).values(projection=name, version=version))
