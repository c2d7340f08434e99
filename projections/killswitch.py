"""Read model `killswitch`: its state, the last transition, why and by whom (one row).

Mirrors `KillSwitch.apply`: every kill-switch event states the state after it; the
time of the last change is the event's recorded time; the trigger is kept only
for a trip. No row means no event yet: ARMED.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Connection, Integer, MetaData, Table, Text

from domain import events as ev
from projections.base import Projection, upsert_rows
from projections.log import LogEvent, topics_for
from projections.schema import table_name
from projections.views import iso

_TRIPPED = ev.KillSwitchTripped.__name__


class KillSwitchProjection(Projection):
    name = "killswitch"
    topics = topics_for(ev.KillSwitchEvent)

    @classmethod
    def define(cls, metadata: MetaData, version: int) -> Sequence[Table]:
        return [
            Table(
                table_name("killswitch", version),
                metadata,
                Column("id", Integer, primary_key=True),  # always 1: one kill switch
                Column("state", Text, nullable=False),
                Column("since", Text, nullable=False),  # ISO-8601 UTC, as `killswitch status`
                Column("since_us", BigInteger, nullable=False),
                Column("reason", Text, nullable=False),
                Column("operator", Text, nullable=False),
                Column("trigger", Text, nullable=False),  # "" unless the last event was a trip
                Column("action", Text, nullable=False),
                Column("previous_state", Text, nullable=False),
                Column("db_role", Text, nullable=False),
                Column("os_user", Text, nullable=False),
                Column("version", Integer, nullable=False),
                Column("position", BigInteger, nullable=False),
            )
        ]

    def __init__(self, version: int, codec: Any) -> None:
        super().__init__(version, codec)
        self._row: dict[str, Any] | None = None

    def apply(self, event: LogEvent) -> None:
        d = event.data
        tripped = event.type_name == _TRIPPED
        self._row = {
            "id": 1,
            "state": d["state"],
            "since": iso(datetime.fromisoformat(d["recorded_at"])),
            "since_us": event.recorded_at,
            "reason": d["reason"],
            "operator": d["by"],
            "trigger": d["trigger"] if tripped else "",
            "action": d.get("action", ""),
            "previous_state": d.get("previous_state", ""),
            "db_role": d["db_role"],
            "os_user": d["os_user"],
            "version": event.version,
            "position": event.position,
        }

    def flush(self, conn: Connection) -> None:
        if self._row is not None:
            upsert_rows(conn, self.table("killswitch"), [self._row], ["id"])
        self._row = None

    def discard(self) -> None:
        self._row = None
