"""`ledger db init` as a user runs it, and the security basics of every store command:
a password in `--store` never shows in any output or error."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result

from adapters.store import mask_url
from adapters.store.roles import RoleNames
from replay.cli import cli
from tests.support.services import POSTGRES_URL, postgres_schema, postgres_store_url

SECRET = "Pa55-w0rd_that_must_never_show"
DEMO = Path(__file__).resolve().parents[2] / "data" / "demo" / "session.jsonl"


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def drop_roles(names: RoleNames) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        for name in names.as_dict().values():
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone():
                conn.execute(f'DROP OWNED BY "{name}"')
                conn.execute(f'DROP ROLE "{name}"')


@pytest.fixture
def pg_names() -> Iterator[RoleNames]:
    tag = uuid.uuid4().hex[:8]
    names = RoleNames(f"e{tag}_own", f"e{tag}_wri", f"e{tag}_pro", f"e{tag}_rea")
    try:
        yield names
    finally:
        drop_roles(names)


def with_password(url: str) -> str:
    """The URL with a password (trust authentication here accepts any)."""
    return url.replace("postgres@", f"postgres:{SECRET}@", 1)


# ---------------------------------------------------------------------- db init


def test_db_init_on_sqlite_creates_the_store_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'ledger.db'}"
    first = invoke("--store", url, "db", "init", "--format", "json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) == {
        "store": url,
        "backend": "sqlite",
        "schema_version": 2,
        "tables": "created",
        "roles": {},
        "roles_created": [],
    }
    again = json.loads(invoke("--store", url, "db", "init", "--format", "json").stdout)
    assert again["tables"] == "present"
    assert invoke("--store", url, "ingest", str(DEMO)).exit_code == 0


@pytest.mark.postgres
def test_db_init_on_postgres_names_roles_by_flag_and_env(pg_names: RoleNames) -> None:
    with postgres_schema() as schema:
        url = postgres_store_url(schema)
        env = {"LEDGER_DB_WRITER_ROLE": pg_names.writer, "LEDGER_DB_READER_ROLE": pg_names.reader}
        args = [
            "--store",
            url,
            "db",
            "init",
            "--format",
            "json",
            "--owner-role",
            pg_names.owner,
            "--projector-role",
            pg_names.projector,
        ]
        first = invoke(*args, env=env)
        assert first.exit_code == 0, first.output
        doc = json.loads(first.stdout)
        assert doc["roles"] == pg_names.as_dict()
        assert sorted(doc["roles_created"]) == sorted(pg_names.as_dict().values())
        assert (doc["schema_version"], doc["tables"]) == (2, "created")
        again = json.loads(invoke(*args, env=env).stdout)
        assert (again["roles_created"], again["tables"]) == ([], "present")
        # the same login, switched to the roles: writes as the writer, verifies as the reader
        as_writer = invoke(
            "--store", url, "ingest", str(DEMO), env={"LEDGER_DB_ROLE": "writer", **env}
        )
        assert as_writer.exit_code == 0, as_writer.output
        verified = invoke("--store", url, "verify", "--db-role", pg_names.reader)
        assert verified.exit_code == 0 and "chain intact: 28 events" in verified.stdout


def test_db_init_refuses_a_role_name_that_would_need_quoting(sqlite_url: str) -> None:
    result = invoke("--store", sqlite_url, "db", "init", "--writer-role", 'x"; DROP ROLE y')
    assert result.exit_code == 2
    assert "bad role name" in result.stderr


# ---------------------------------------------------------------------- no credentials shown


def test_mask_url_hides_every_password() -> None:
    assert mask_url(f"postgresql://u:{SECRET}@h:5432/db?schema=s") == (
        "postgresql://u:***@h:5432/db?schema=s"
    )
    assert mask_url(f"postgresql://u@h/db?password={SECRET}&schema=s") == (
        "postgresql://u@h/db?password=***&schema=s"
    )
    assert mask_url(f"postgresql://u:p%40{SECRET}@h/db") == "postgresql://u:***@h/db"
    assert mask_url("sqlite:///var/ledger.db") == "sqlite:///var/ledger.db"


@pytest.mark.parametrize(
    "command",
    [
        ["verify"],
        ["verify", "--format", "json"],
        ["db", "init"],
        ["ingest", str(DEMO)],
        ["positions"],
        ["killswitch", "trip", "--reason", "test", "--by", "alice"],
    ],
)
@pytest.mark.parametrize("where", ["query", "authority"])
def test_an_unreachable_store_never_shows_the_password(command: list[str], where: str) -> None:
    url = (
        f"postgresql://postgres:{SECRET}@127.0.0.1:1/test"
        if where == "authority"
        else f"postgresql://postgres@127.0.0.1:1/test?password={SECRET}"
    )
    result = invoke("--store", url, *command)
    assert result.exit_code == 4, result.output
    assert "127.0.0.1" in result.stderr  # it does say where it failed
    assert SECRET not in result.output and SECRET not in result.stderr


@pytest.mark.postgres
def test_a_reachable_store_never_shows_the_password(pg_names: RoleNames) -> None:
    with postgres_schema() as schema:
        url = with_password(postgres_store_url(schema))
        names = [
            "--owner-role",
            pg_names.owner,
            "--writer-role",
            pg_names.writer,
            "--projector-role",
            pg_names.projector,
            "--reader-role",
            pg_names.reader,
        ]
        outputs = [
            invoke("--store", url, "db", "init", *names),
            invoke("--store", url, "db", "init", "--format", "json", *names),
            invoke("--store", url, "ingest", str(DEMO)),
            invoke("--store", url, "verify", "--format", "json"),
            invoke("--store", url, "killswitch", "trip", "--reason", "drill", "--by", "alice"),
            invoke("--store", url, "verify", "--db-role", "nobody_such_role"),
        ]
        assert [r.exit_code for r in outputs] == [0, 0, 0, 0, 0, 4]
        assert "postgres:***@127.0.0.1" in outputs[0].stdout
        for r in outputs:
            assert SECRET not in r.output and SECRET not in r.stderr
        with psycopg.connect(POSTGRES_URL) as conn:
            state = conn.execute(
                f"SELECT convert_from(state, 'UTF8') FROM \"{schema}\".ledger_events "
                "WHERE topic LIKE '%%KillSwitchTripped' ORDER BY notification_id DESC LIMIT 1"
            ).fetchone()
        assert state is not None
        doc = json.loads(state[0])
        assert doc["by"] == "alice" and doc["db_role"] == "postgres" and doc["os_user"]
        assert SECRET not in state[0]
