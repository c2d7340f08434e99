"""`replay --since T --to-projection NAME`: feed a window of the log to one projection
again, to repair its rows after a bug in the projection (fixed since) or a damaged table.

Only projections whose rows the window alone determines can be re-fed in place:
- `positions`, `killswitch`: a row is the figures of its key's last event (an upsert),
  so feeding (T, checkpoint] again rewrites every row the window touched to what its
  last event says;
- `audit_index`: one row per event; the window's rows are deleted, then written again.
The others keep state across events (`account`: a running ledger; `metrics`: counters;
`orders`: an intent may be inserted once): feeding a window twice would count it twice,
so they are refused with the way to repair them (`ledger rebuild NAME`, blue/green).

The window always ends at the projection's checkpoint (it is caught up first): ending
earlier would roll rows back to an older state. Rows and checkpoint change in one
transaction, under the checkpoint's lock, so the live runner waits meanwhile.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete

from adapters.projections import open_projection_store
from domain.codec import EventCodec
from projections.registry import ALL, PROJECTIONS
from projections.runner import ProjectionRunner, set_up
from projections.schema import checkpoints, live_versions
from replay.state import ReplayError

IN_PLACE = {"positions": "upsert", "killswitch": "upsert", "audit_index": "per_event"}


def check_name(name: str) -> None:
    if name not in PROJECTIONS:
        raise ReplayError(f"no projection {name!r}; known: {', '.join(ALL)}")
    if name not in IN_PLACE:
        raise ReplayError(
            f"projection {name!r} keeps state across events, so a window cannot be fed to "
            f"it again in place; rebuild it from the log instead: ledger rebuild {name} "
            f"(windows can be re-fed to: {', '.join(IN_PLACE)})"
        )


def refeed(url: str, name: str, after: int, upto: int | None) -> dict[str, Any]:
    """Feed events (after, checkpoint] to projection `name` again. `upto`, when given, must
    be the checkpoint."""
    check_name(name)
    store = open_projection_store(url)
    try:
        set_up(store.engine, [name])
        ProjectionRunner(store.engine, store.source, [name]).catch_up()
        with store.engine.begin() as conn:
            version = live_versions(conn, lock=True)[name]
            at = checkpoints(conn, [(name, version)], lock=True)[(name, version)]
            if upto is not None and upto != at:
                raise ReplayError(
                    f"a re-fed window must end where projection {name!r} is "
                    f"(@{at}), not at @{upto}: leave --until out"
                )
            if after > at:
                raise ReplayError(f"--since @{after} is after projection {name!r} (@{at})")
            projection = PROJECTIONS[name](version, EventCodec())
            projection.load(conn)
            if IN_PLACE[name] == "per_event":
                table = projection.table(name)
                conn.execute(delete(table).where(table.c.position > after, table.c.position <= at))
            events = store.source.read(conn, after, at, projection.topics)
            for event in events:
                projection.apply(event)
            projection.flush(conn)
    finally:
        store.close()
    return {
        "projection": name,
        "version": version,
        "after": after,
        "upto": at,
        "events": len(events),
    }
