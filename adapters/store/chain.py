"""The hash chain: each stored event carries sha256(previous hash || its row).

The row's canonical bytes are length-prefixed fields, so no two different rows
share an encoding: originator id (32 hex chars), version, topic, state, and
recorded time. The global position is *not* hashed: on PostgreSQL it comes from
a sequence that may skip numbers (rolled-back writes), and order is already
fixed by each hash naming its predecessor. Deleting the last row is visible only
against a chain head written down elsewhere, which is why `ledger verify`
prints the head.
"""

from __future__ import annotations

import hashlib
import struct
from uuid import UUID

GENESIS = bytes(32)
_PACK = struct.Struct(">qIqI").pack


def originator_text(originator_id: UUID | str) -> str:
    return originator_id.hex if isinstance(originator_id, UUID) else originator_id


def row_hash(prev: bytes, originator_id: str, version: int, topic: str, state: bytes,
             recorded_at: int) -> bytes:
    t = topic.encode()
    h = hashlib.sha256(prev)
    h.update(originator_id.encode())
    h.update(_PACK(version, len(t), recorded_at, len(state)))
    h.update(t)
    h.update(state)
    return h.digest()
