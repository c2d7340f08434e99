"""`replay --check` (the log against the live projections) and `replay --to-projection`
(a window fed again to one projection to repair it), on real stores."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.unit.replay.replay_history import demo_store, invoke


@pytest.fixture
def built(store_url: str) -> str:
    """The demo session with every projection built (and caught up)."""
    demo_store(store_url)
    r = invoke(store_url, "rebuild", "--all")
    assert r.exit_code == 0, r.stderr
    return store_url


def _sql(url: str, statement: str) -> None:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        db.execute(statement)


def _table(url: str, base: str) -> str:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        (version,) = db.execute(
            "SELECT version FROM proj_versions WHERE projection = ?", (base,)
        ).fetchone()
    return f"proj_{base}_v{version}"


def test_projections_built_from_the_log_agree_with_it(built: str) -> None:
    r = invoke(built, "replay", "--check", "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert (doc["position"], doc["differences"]) == (28, [])
    assert invoke(built, "replay", "--check").stdout == (
        "the projections agree with the log at @28\n"
    )


def _build(url: str) -> str:
    demo_store(url)
    assert invoke(url, "rebuild", "--all").exit_code == 0
    return url


@pytest.fixture
def built_sqlite(sqlite_url: str) -> str:
    """A store of its own, for the tests that damage a read model."""
    return _build(sqlite_url)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One store for the tests that change nothing."""
    return _build(f"sqlite:///{tmp_path_factory.mktemp('check') / 'ledger.db'}")


def test_a_wrong_row_is_listed_and_exits_3_then_a_refeed_repairs_it(built_sqlite: str) -> None:
    url = built_sqlite
    _sql(url, f"UPDATE {_table(url, 'positions')} SET quantity = '99' WHERE symbol = 'MSFT'")
    _sql(url, f"UPDATE {_table(url, 'account')} SET cash = '1'")
    r = invoke(url, "replay", "--check", "--format", "json")
    assert r.exit_code == 3
    assert json.loads(r.stdout)["differences"] == [
        {
            "view": "positions",
            "key": "SIM:MSFT",
            "field": "quantity",
            "log": "-20",
            "projection": "99",
        },
        {"view": "account", "key": "SIM", "field": "cash", "log": "985509.35", "projection": "1"},
    ]
    fed = invoke(
        url, "replay", "--since", "@14", "--to-projection", "positions", "--format", "json"
    )
    assert fed.exit_code == 0, fed.stderr
    assert json.loads(fed.stdout) == {
        "projection": "positions",
        "version": 2,
        "after": 14,
        "upto": 28,
        "events": 2,
    }
    r = invoke(url, "replay", "--check", "--format", "json")
    assert [d["view"] for d in json.loads(r.stdout)["differences"]] == ["account"]


def test_the_audit_index_is_refed_row_for_row(built_sqlite: str) -> None:
    url = built_sqlite
    _sql(url, f"DELETE FROM {_table(url, 'audit_index')} WHERE position IN (9, 10)")
    _sql(url, f"UPDATE {_table(url, 'audit_index')} SET symbol = 'X' WHERE position = 20")
    assert invoke(url, "audit", "--from-log").exit_code == 3
    fed = invoke(
        url, "replay", "--since", "@8", "--to-projection", "audit_index", "--format", "json"
    )
    assert json.loads(fed.stdout)["events"] == 20
    checked = invoke(url, "audit", "--from-log")
    assert (checked.exit_code, checked.stderr) == (0, "")


def test_checking_elsewhere_than_the_projections_lists_their_positions(shared: str) -> None:
    r = invoke(shared, "replay", "--check", "--until", "@20", "--format", "json")
    assert r.exit_code == 3
    differences = json.loads(r.stdout)["differences"]
    assert [d for d in differences if d["view"] == "checkpoint"] == [
        {"view": "checkpoint", "key": name, "field": "position", "log": 20, "projection": 28}
        for name in ("positions", "orders", "account", "killswitch")
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--check", "--since", "@3"), "give it only --until"),
        (("--check", "--symbol", "AAPL"), "give it only --until"),
        (("--since", "@3", "--to-projection", "orders"), "ledger rebuild orders"),
        (("--since", "@3", "--to-projection", "nope"), "no projection 'nope'"),
        (("--since", "@3", "--until", "@5", "--to-projection", "positions"), "leave --until out"),
    ],
)
def test_misuse_is_a_usage_error(shared: str, args: tuple[str, ...], message: str) -> None:
    r = invoke(shared, "replay", *args)
    assert r.exit_code == 2
    assert message in r.stderr


def test_without_projections_there_is_nothing_to_check(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    demo_store(url)
    r = invoke(url, "replay", "--check")
    assert r.exit_code == 3
    assert "the projections are not set up: nothing to check" in r.stderr
