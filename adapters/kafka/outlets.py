"""What goes out to Kafka for each stored event: `ledger_events`, `dlq`, `risk_state`.

- `ledger_events`: every domain event. Key = aggregate (originator) id, so one
  aggregate's events stay in order on one partition. Value = canonical JSON: the
  event type, global position, event id and every field as the log stores it
  (Decimals as exact strings). Headers `ledger-position`, `ledger-event-id`
  (`<originator_id>:<version>`, what consumers deduplicate on), `ledger-event-type`.
- `dlq`: every `MessageQuarantined`. Value = the original bytes, exactly; key = the
  source coordinates; headers carry the coordinates and the validation errors. The
  quarantine record in the log stays the primary copy.
- `risk_state` (compacted): key `killswitch`, value the kill-switch state after each
  kill-switch event (the shape of `ledger killswitch status`, plus position and id).

Records are built from the stored rows as they are (`LogEvent`: raw state bytes,
the originator's UUID text): `ledger_events` splices the stored JSON into its
envelope without parsing it, and only the rare dlq and risk_state records parse it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import orjson

from adapters.kafka.settings import KafkaSettings
from domain import events as ev
from projections.log import LogEvent, topics_for

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class OutRecord:
    topic: str
    key: bytes
    value: bytes
    headers: Headers


def _ids(e: LogEvent) -> tuple[bytes, bytes, bytes, Headers]:
    """What every record of one stored event says about it: the originator id, the
    event id (`<originator_id>:<version>`), the type name, and the common headers."""
    oid = e.originator_id.encode()
    eid = b"%s:%d" % (oid, e.version)
    name = e.type_name.encode()
    headers = [
        ("ledger-position", b"%d" % e.position),
        ("ledger-event-id", eid),
        ("ledger-event-type", name),
    ]
    return oid, eid, name, headers


class Outlet(ABC):
    """One outbound stream of the log; `name` is its checkpoint's name."""

    name: str
    topics: frozenset[str] | None  # the stored event topics it reads; None = all

    def __init__(self, topic: str) -> None:
        self.topic = topic

    @abstractmethod
    def render(self, e: LogEvent) -> OutRecord:
        """The Kafka record for one stored event."""


class LedgerEventsOutlet(Outlet):
    name = "publish_ledger_events"
    topics = None

    def render(self, e: LogEvent) -> OutRecord:
        oid, eid, name, headers = _ids(e)
        # Canonical JSON, built directly: type names and UUIDs need no escaping, and the
        # stored state is already canonical (codec.py), so it is spliced in after the
        # envelope's fields rather than parsed and re-encoded for every event.
        head = (
            b'{"event_type":"%s","position":%d,"event_id":"%s","originator_id":"%s",'
            b'"originator_version":%d' % (name, e.position, eid, oid, e.version)
        )
        state = e.state
        value = head + b"," + state[1:] if len(state) > 2 else head + b"}"
        return OutRecord(self.topic, oid, value, headers)


class DeadLetterOutlet(Outlet):
    name = "publish_dlq"
    topics = topics_for(ev.MessageQuarantined)

    def render(self, e: LogEvent) -> OutRecord:
        common = _ids(e)[3]
        data = e.data
        raw = bytes.fromhex(data["raw_hex"]) if data.get("raw_hex") else data["raw"].encode()
        coordinates = f"{data['message_source']}@{data['message_position']}"
        headers = [
            *common,
            ("dlq-source", str(data["message_source"]).encode()),
            ("dlq-position", str(data["message_position"]).encode()),
            ("dlq-errors", str(data["errors"]).encode()),
            ("dlq-recorded-at", str(data["recorded_at"]).encode()),
        ]
        return OutRecord(self.topic, coordinates.encode(), raw, headers)


class RiskStateOutlet(Outlet):
    name = "publish_risk_state"
    topics = topics_for(ev.KillSwitchEvent)
    KEY = b"killswitch"

    def render(self, e: LogEvent) -> OutRecord:
        _, eid, name, headers = _ids(e)
        data = e.data
        doc = {
            "state": data["state"],
            "since": _iso_z(data["recorded_at"]),
            "reason": data.get("reason") or None,
            "by": data.get("by") or None,
            "trigger": data.get("trigger") or None,
            "action": data.get("action"),
            "event_type": name.decode(),
            "position": e.position,
            "event_id": eid.decode(),
        }
        return OutRecord(self.topic, self.KEY, orjson.dumps(doc), headers)


def _iso_z(text: str) -> str:
    return text.replace("+00:00", "Z")


def default_outlets(settings: KafkaSettings) -> list[Outlet]:
    return [
        LedgerEventsOutlet(settings.topic_ledger_events),
        DeadLetterOutlet(settings.topic_dlq),
        RiskStateOutlet(settings.topic_risk_state),
    ]
