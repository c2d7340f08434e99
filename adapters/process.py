"""Process-wide settings for the ledger's long-running and batch commands."""

from __future__ import annotations

import gc
import sys

# Young generation every 50,000 net allocations (~1 MB of small objects at most); a full
# collection after 20 x 100 young ones.
THRESHOLDS = (50_000, 20, 100)

# How long a thread holding the GIL may run before another thread that wants it gets it.
SWITCH_INTERVAL_S = 0.001


def tune_gc(*, freeze: bool = True) -> tuple[int, int, int]:
    """Collect garbage less often than CPython's defaults; returns the previous thresholds
    (for `restore_gc`, when a service stops inside a longer-lived process).

    Each message allocates many short-lived objects (a contract model, events,
    Decimals, tuples) while the ledger keeps a large long-lived state. With the
    default young-generation threshold (700 allocations) the collector runs a few
    times per message's worth of work, and full collections re-walk the whole
    state: 10-15 % of the CPU of `ledger ingest` and of `serve --kafka` (measured
    with the collector off). The hot path creates no reference cycles, so memory is
    freed by reference counting as before; the collector still runs, only less
    often. With `freeze` (a command's start), objects that exist when this is called
    (imports) are moved out of its way (`gc.freeze`).
    """
    previous = gc.get_threshold()
    if freeze:
        gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    return previous


def restore_gc(thresholds: tuple[int, int, int]) -> None:
    gc.set_threshold(*thresholds)


def tune_switch_interval() -> float:
    """`serve` runs the Kafka event loop and the ledger's batches on different threads:
    with CPython's default 5 ms switch interval, a socket callback can wait that long
    for the GIL behind a busy batch, which shows directly in produce-to-commit latency.
    Returns the previous interval (for `restore_switch_interval`)."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    return previous


def restore_switch_interval(seconds: float) -> None:
    sys.setswitchinterval(seconds)
