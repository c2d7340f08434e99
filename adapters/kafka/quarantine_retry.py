"""`ledger quarantine retry`: re-validate quarantined messages and apply those that now pass.

After a contract fix (a new version of the contracts accepts what the old one
refused) or a fix of the data the contracts check, an operator retries the
quarantine. Each record is re-read from the log, exactly as it arrived (its raw
bytes), and validated with the current contracts. One that passes is applied,
through the normal `LedgerApplication.process` path, as input from the source
`retry:<log position of the quarantine record>` at position = that log position:

- the link to the original is kept: every event it causes carries the source
  `retry:<log position>@<log position>`, and the quarantine record names the
  original coordinates (`kafka:<topic>:<partition>@<offset>` or `file:...@line`);
- it is applied once: the source position commits in the same transaction as its
  events, so a second retry of the same record is a duplicate, even if two
  operators run it at the same time (the store's optimistic concurrency decides).

The message is applied at the ledger's current state, not at its original place in
the log: that is the nature of a late correction, and the log records when it was.
The quarantine record itself is immutable and stays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from contracts import ContractMessage, ContractValidationError, parse_message
from domain import events as ev
from domain.application import BatchSummary, LedgerApplication, ParsedMessage
from projections.log import topics_for

RETRY_PREFIX = "retry:"

Parser = Callable[[bytes], ContractMessage]


class QuarantineRecordNotFound(LookupError):
    """An id that is not the log position of a quarantine record."""


@dataclass(frozen=True)
class RetryResult:
    log_position: int  # of the MessageQuarantined event (the id `ledger quarantine` lists)
    source: str  # where the message first came from
    position: int  # its line or offset there
    result: str  # applied | held | anomaly | duplicate | still_invalid | already_retried
    errors: list[dict[str, str]] = field(default_factory=list)  # when still invalid

    def as_row(self) -> dict[str, Any]:
        return {
            "log_position": self.log_position,
            "source": self.source,
            "position": self.position,
            "result": self.result,
            "errors": self.errors,
        }


def retry_source(log_position: int) -> str:
    return f"{RETRY_PREFIX}{log_position}"


def quarantine_records(app: LedgerApplication) -> Iterable[tuple[int, ev.MessageQuarantined]]:
    """Every quarantine record in log order, with its log position."""
    topics = sorted(topics_for(ev.MessageQuarantined))
    to_event = app.ledger_mapper.to_domain_event
    start = 1
    while True:
        page = app.store.select_notifications(start, 1000, topics=topics)
        for n in page:
            event = to_event(n)
            if isinstance(event, ev.MessageQuarantined):
                yield n.id, event
        if len(page) < 1000:
            return
        start = page[-1].id + 1


def raw_bytes(record: ev.MessageQuarantined) -> bytes:
    """The message exactly as it arrived."""
    return bytes.fromhex(record.raw_hex) if record.raw_hex else record.raw.encode("utf-8")


def retry_quarantined(
    app: LedgerApplication, ids: Sequence[int] | None = None, *, parse: Parser = parse_message
) -> list[RetryResult]:
    """Retry the records at log positions `ids` (all records when None), in log order.

    `parse` is the contracts' validator; tests pass a "fixed" one to stand for a
    contract change. Raises QuarantineRecordNotFound for an id that names no record.
    """
    records = list(quarantine_records(app))
    if ids is not None:
        wanted = set(ids)
        missing = wanted - {lp for lp, _ in records}
        if missing:
            raise QuarantineRecordNotFound(
                "not the log position of a quarantine record: "
                + ", ".join(str(i) for i in sorted(missing))
            )
        records = [(lp, r) for lp, r in records if lp in wanted]
    return [_retry_one(app, lp, record, parse) for lp, record in records]


def _retry_one(
    app: LedgerApplication, log_position: int, record: ev.MessageQuarantined, parse: Parser
) -> RetryResult:
    def result(outcome: str, errors: list[dict[str, str]] | None = None) -> RetryResult:
        return RetryResult(
            log_position, record.message_source, record.message_position, outcome, errors or []
        )

    source = retry_source(log_position)
    app.catch_up()
    if app.sources.get(source, -1) >= log_position:
        return result("already_retried")
    try:
        message = parse(raw_bytes(record))
    except ContractValidationError as e:
        return result("still_invalid", e.errors)
    summary = app.process([ParsedMessage(source, log_position, message)])
    return result(_outcome(summary))


def _outcome(summary: BatchSummary) -> str:
    for name, label in (
        ("applied", "applied"),
        ("held", "held"),
        ("anomalies", "anomaly"),
        ("quarantined", "still_invalid"),
    ):
        if getattr(summary, name):
            return label
    # Another retry of the same record committed first, or the domain saw it before.
    return "duplicate"
