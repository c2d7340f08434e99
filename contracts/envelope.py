"""The envelope every input travels in before it is validated.

A `SourcedMessage` is raw bytes plus the coordinates of where they came from.
The ledger records the coordinates in the same transaction as the message's
effects, which is what makes a rerun (or a Kafka redelivery) resume instead of
double-applying.

Source naming, used in the tracking table and in quarantine records:
- files: ``file:<absolute path>``, position = 1-based line number;
- Kafka: ``kafka:<topic>:<partition>``, position = offset;
- a broker adapter: ``broker:<name>``, position = a monotonically increasing
  sequence number chosen by the adapter;
- the operator's CLI: ``cli``, position 0 (never tracked).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class SourcedMessage:
    """Immutable by contract; not `frozen`, whose `__init__` costs twice as much (one
    envelope per input line or Kafka record)."""

    source: str
    position: int
    payload: bytes

    @property
    def coordinates(self) -> str:
        return f"{self.source}@{self.position}"
