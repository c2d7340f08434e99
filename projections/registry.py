"""Every projection by name, in the order they run in a pass."""

from __future__ import annotations

import functools
from collections.abc import Iterable

from sqlalchemy import MetaData, Table

from projections.account import AccountProjection
from projections.audit import AuditIndexProjection
from projections.base import Projection, UnknownProjection
from projections.counters import MetricsProjection
from projections.killswitch import KillSwitchProjection
from projections.orders import OrdersProjection
from projections.positions import PositionsProjection
from projections.schema import table_name

PROJECTIONS: dict[str, type[Projection]] = {
    cls.name: cls
    for cls in (
        PositionsProjection,
        OrdersProjection,
        AccountProjection,
        KillSwitchProjection,
        AuditIndexProjection,
        MetricsProjection,
    )
}

ALL = tuple(PROJECTIONS)


def projection_class(name: str) -> type[Projection]:
    cls = PROJECTIONS.get(name)
    if cls is None:
        raise UnknownProjection(f"no projection {name!r}; known: {', '.join(ALL)}")
    return cls


def resolve_names(names: Iterable[str]) -> list[str]:
    """Known names, deduplicated, in registry order."""
    wanted = set(names)
    for n in wanted:
        projection_class(n)
    return [n for n in ALL if n in wanted]


@functools.lru_cache(maxsize=256)
def tables_of(name: str, version: int) -> dict[str, Table]:
    """The tables of one version of a projection, by table name."""
    return {t.name: t for t in projection_class(name).define(MetaData(), version)}


def table_of(name: str, version: int, base: str) -> Table:
    return tables_of(name, version)[table_name(base, version)]
