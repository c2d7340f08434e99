"""The hash chain: each stored event carries sha256(previous hash || its row).

The row's canonical bytes are length-prefixed fields, so no two different rows
share an encoding: originator id (32 hex chars), version, topic, state, and
recorded time. The global position is *not* hashed: on PostgreSQL it comes from
a sequence that may skip numbers (rolled-back writes), and order is already
fixed by each hash naming its predecessor. Deleting the last row is visible only
against a chain head written down elsewhere, which is why `ledger verify`
prints the head.

Checking a row needs only its predecessor's *stored* hash, so a long log can be
checked in independent ranges (in parallel) with the same result as one pass.
The first row of the log links to `GENESIS`.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterable, Sequence
from uuid import UUID

from eventsourcing.persistence import StoredEvent

GENESIS = bytes(32)
_PACK = struct.Struct(">qIqI").pack
_sha256 = hashlib.sha256


def py_link(
    prev: bytes,
    oid: bytes | str,
    version: int,
    topic: bytes | str,
    state: bytes,
    recorded_at: int,
) -> bytes:
    """One link, the reference definition: sha256(prev || oid || header || topic || state)
    with header = pack(">qIqI", version, len(topic), recorded_at, len(state)); an id or
    topic given as text is hashed as its UTF-8."""
    o = oid.encode() if isinstance(oid, str) else oid
    t = topic.encode() if isinstance(topic, str) else topic
    header = _PACK(version, len(t), recorded_at, len(state))
    return _sha256(b"".join((prev, o, header, t, state))).digest()


# A row to link: originator id (hex), version, topic, state, recorded_at.
UnlinkedRow = tuple[str, int, str, bytes, int]
# A row to insert: originator id (hex), version, topic, state, recorded_at, hash.
ChainParams = tuple[str, int, str, bytes, int, bytes]


def py_link_rows(prev: bytes, rows: list[UnlinkedRow]) -> list[ChainParams]:
    """Each row with its link appended, each linked to the one before (the first to
    `prev`): the reference definition of `link_rows`."""
    out: list[ChainParams] = []
    for row in rows:
        prev = py_link(prev, *row)
        out.append((*row, prev))
    return out


Link = Callable[[bytes, bytes | str, int, bytes | str, bytes, int], bytes]
LinkRows = Callable[[bytes, list[UnlinkedRow]], list[ChainParams]]
try:
    # The same functions in C (adapters/store/_chainlink.c): through hashlib, OpenSSL 3's
    # per-call set-up (~0.6 µs) costs more than hashing the row, and made the chain a fifth
    # of a raw append; `link_rows` also links a whole batch in one call. Built by
    # `pip install` where OpenSSL's headers are; optional.
    from adapters.store._chainlink import link as _c_link
    from adapters.store._chainlink import link_rows as _c_link_rows

    LINK: Link = _c_link
    LINK_ROWS: LinkRows = _c_link_rows
except ImportError:  # pragma: no cover - only where the extension could not be built
    LINK, LINK_ROWS = py_link, py_link_rows

# A row as the store returns it for verification:
# position, originator id (hex), version, topic, state, recorded_at (µs), hash.
ChainRow = tuple[int, str, int, str, bytes, int, bytes]
# A row as the verifier's fast path reads it: originator id (hex, as bytes), version,
# topic (bytes), state, recorded_at (µs), hash. No position: ranges are read by position.
LinkRow = tuple[bytes, int, bytes, bytes, int, bytes]


def originator_text(originator_id: UUID | str) -> str:
    return originator_id.hex if isinstance(originator_id, UUID) else originator_id


def row_hash(
    prev: bytes, originator_id: str, version: int, topic: str, state: bytes, recorded_at: int
) -> bytes:
    return LINK(prev, originator_id, version, topic, state, recorded_at)


def chained(prev: bytes, stored_events: Iterable[StoredEvent]) -> list[ChainParams]:
    """Insert parameters for events appended after a row whose hash is `prev`:
    (originator id hex, version, topic, state, recorded_at, hash). PostgreSQL casts the
    hex text to its uuid column, so both stores insert the same tuples.

    Written for speed (it runs inside the writers' lock): the rows are built in one list
    comprehension, as they would be without a chain, and linked in one call."""
    return LINK_ROWS(
        prev,
        [
            (
                originator_text(s.originator_id),
                s.originator_version,
                s.topic,
                s.state,
                s.recorded_at,  # type: ignore[attr-defined]
            )
            for s in stored_events
        ],
    )


def first_break(rows: Sequence[ChainRow], prev: bytes, prev_recorded_at: int) -> int | None:
    """Index of the first row that does not link to its predecessor's stored hash, or whose
    recorded time goes backwards; None when every row is sound.

    This is the verifier's inner loop, written for speed: locals only.
    """
    link = LINK
    for i, (_pos, oid, version, topic, state, recorded_at, stored) in enumerate(rows):
        if link(prev, oid, version, topic, state, recorded_at) != stored or (
            recorded_at < prev_recorded_at
        ):
            return i
        prev, prev_recorded_at = stored, recorded_at
    return None


def links_hold(
    rows: Iterable[LinkRow], prev: bytes, prev_recorded_at: int
) -> tuple[int, bytes, int] | None:
    """(rows checked, last hash, last recorded time) when every row links to its
    predecessor's stored hash and no recorded time goes backwards; None otherwise.

    The verifier's fast path: the rows come straight from the database cursor (ids and
    topics already as bytes, no casts, no tuple per row kept alive), so a row costs one
    call of the link and little else. It only ever says "all sound" when `first_break`
    would too; None, including for a value of an unexpected type (a tampered column), sends
    the caller to `first_break` over the same rows for the exact position and reason.
    """
    link = LINK
    n = 0
    try:
        for oid, version, t, state, recorded_at, stored in rows:
            if link(prev, oid, version, t, state, recorded_at) != stored or (
                recorded_at < prev_recorded_at
            ):
                return None
            prev, prev_recorded_at = stored, recorded_at
            n += 1
    except (TypeError, ValueError, OverflowError, struct.error):
        return None
    return n, prev, prev_recorded_at


def link(prev: bytes, row: ChainRow) -> bytes:
    """The hash `row` should carry if it follows a row whose hash is `prev`."""
    return row_hash(prev, row[1], row[2], row[3], row[4], row[5])


class ChainLinker:
    """Mixed into both recorders: how an append links its rows to the chain head."""

    def _link_rows(self, prev: bytes, stored_events: Sequence[StoredEvent]) -> list[ChainParams]:
        """The rows to insert, each with its hash (a benchmark overrides this to measure
        what the chain costs)."""
        return chained(prev, stored_events)
