"""`replay --check`: the state rebuilt from the log against the live projections.

The live read models (`positions`, `orders`, `account`, `killswitch`) are read as they
are, in one read transaction, without catching them up: the point is to find out
whether they are right. They are compared with the state rebuilt from scratch at their
checkpoint (or at `--until`, in which case a projection elsewhere is a difference too).
Listing rows are compared as the exact strings the CLI prints; account figures as
numbers (the read model may write an equal Decimal differently).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import inspect

from adapters.projections import open_projection_store
from projections.readers import AccountFigures, ReadModels, read
from projections.runner import ProjectionNotSetUp
from projections.schema import versions_table
from projections.views import Row
from replay.state import position_key

CHECKED = ("positions", "orders", "account", "killswitch")
ACCOUNT_FIGURES = ("cash", "equity", "high_water_mark", "drawdown")


@dataclass(frozen=True)
class LiveProjections:
    checkpoints: dict[str, int]  # projection -> global position it has reached
    positions: list[Row]
    orders: list[Row]
    kill_switch: Row
    accounts: dict[str, AccountFigures]

    def common_position(self) -> int | None:
        """The position every checked projection has reached, if they agree."""
        at = {self.checkpoints.get(n) for n in CHECKED}
        return at.pop() if len(at) == 1 and None not in at else None


def read_live(url: str) -> LiveProjections:
    """The live read models, as they are. Raises ProjectionNotSetUp if one is missing."""
    store = open_projection_store(url)
    try:
        with store.read_engine.connect() as conn:
            if not inspect(conn).has_table(versions_table.name):
                raise ProjectionNotSetUp("the projections are not set up")

        def load(m: ReadModels) -> LiveProjections:
            checkpoints = {p.projection: p.position for p in m.progress(store.source)}
            return LiveProjections(
                checkpoints,
                m.positions(),
                m.orders(),
                m.killswitch(),
                {a.account: a for a in m.accounts()},
            )

        return read(store.read_engine, load)
    finally:
        store.close()


def _difference(view: str, key: str, field: str, log: Any, projection: Any) -> dict[str, Any]:
    return {"view": view, "key": key, "field": field, "log": log, "projection": projection}


def _rows(view: str, key: Any, log: list[Row], live: list[Row]) -> list[dict[str, Any]]:
    a, b = {key(r): r for r in log}, {key(r): r for r in live}
    out = []
    for k in dict.fromkeys([*a, *b]):
        if k not in b or k not in a:
            out.append(
                _difference(
                    view, k, "(row)", "present" if k in a else None, "present" if k in b else None
                )
            )
            continue
        out += [
            _difference(view, k, f, a[k].get(f), b[k].get(f))
            for f in dict.fromkeys([*a[k], *b[k]])
            if a[k].get(f) != b[k].get(f)
        ]
    return out


def _account(row: Row, live: AccountFigures | None) -> list[dict[str, Any]]:
    name = str(row["account"])
    if live is None:
        return [_difference("account", name, "(row)", "present", None)]
    return [
        _difference("account", name, f, row[f], str(getattr(live, f)))
        for f in ACCOUNT_FIGURES
        if Decimal(row[f]) != getattr(live, f)
    ]


def compare(doc: dict[str, Any], live: LiveProjections, position: int) -> list[dict[str, Any]]:
    """Every difference between the rebuilt state document and the live projections."""
    out = [
        _difference("checkpoint", name, "position", position, live.checkpoints.get(name))
        for name in CHECKED
        if live.checkpoints.get(name) != position
    ]
    out += _rows("positions", position_key, doc["positions"], live.positions)
    out += _rows("orders", lambda r: str(r["intent_id"]), doc["orders"], live.orders)
    out += _account(doc["account"], live.accounts.get(str(doc["account"]["account"])))
    out += [
        _difference("kill_switch", "kill_switch", f, v, live.kill_switch.get(f))
        for f, v in doc["kill_switch"].items()
        if live.kill_switch.get(f) != v
    ]
    return out
