"""Garbage-collector thresholds for a long-running ingest process.

`ledger serve` holds the whole ledger in memory (every order, position, held report),
and each message allocates a few dozen short-lived objects (records, contract
models, events, stored rows). With CPython's default thresholds (700, 10, 10) a young
collection runs every few messages and a full one, which walks the whole ledger,
every ~70,000 allocations: measured on the serve benchmark, 10-15 % of the CPU per
event. Fewer, larger young collections and rarer full ones keep the cost of
collection proportional to the garbage rather than to the ledger. Nothing here is
needed for correctness; reference counting frees almost everything anyway, and
cycles are still collected.
"""

from __future__ import annotations

import gc

# Young generation every 50,000 net allocations (~1 MB of small objects at most);
# the full collection after 20 x 100 young ones.
SERVICE_THRESHOLDS = (50_000, 20, 100)


def tune_gc_for_service() -> tuple[int, int, int]:
    """Raise the collector's thresholds for this process; returns the previous ones
    (for `restore_gc`, when the service is stopped inside a longer-lived process)."""
    previous = gc.get_threshold()
    gc.set_threshold(*SERVICE_THRESHOLDS)
    return previous


def restore_gc(thresholds: tuple[int, int, int]) -> None:
    gc.set_threshold(*thresholds)
