"""Deterministic mixed workloads of contract messages for benchmarks and large tests.

Each order: intent, acknowledgement, a partial fill and the final fill (4 messages,
6 events), over a rotating set of symbols, with a bar now and then.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from uuid import UUID

SYMBOLS = ["AAPL", "MSFT", "GOOGL", "AMZN", "META", "NVDA", "TSLA", "JPM", "XOM", "SPY"]


def messages(n: int, seed: int = 7) -> Iterator[bytes]:
    rng = random.Random(seed)
    i = 0
    order = 0
    second = 0
    while i < n:
        order += 1
        iid = str(UUID(int=order))
        sym = SYMBOLS[order % len(SYMBOLS)]
        side = "BUY" if rng.random() < 0.5 else "SELL"
        qty = rng.randint(1, 20) * 10
        part = qty // 2
        # prices walk slowly around 100 per symbol: realistic marks, and no kill-switch trip
        base = 100 + (order % 97) / 100
        p1 = f"{base + rng.randint(-5, 5) / 100:.2f}"
        p2 = f"{base + rng.randint(-5, 5) / 100:.2f}"
        second += 1
        ts = f"2025-11-17T{9 + second // 3600 % 8:02d}:{second // 60 % 60:02d}:{second % 60:02d}.{order % 1000000:06d}Z"
        batch = [
            f'{{"event_type":"order_intent","intent_id":"{iid}","symbol":"{sym}","direction":"{side}","quantity":{qty},"order_type":"MARKET","timestamp":"{ts}"}}',
            f'{{"event_type":"execution_report","intent_id":"{iid}","order_id":"{order}","symbol":"{sym}","status":"ACKNOWLEDGED","filled_quantity":0,"avg_fill_price":0,"timestamp":"{ts}"}}',
            f'{{"event_type":"execution_report","intent_id":"{iid}","order_id":"{order}","symbol":"{sym}","status":"PARTIAL_FILL","filled_quantity":{part},"avg_fill_price":"{p1}","timestamp":"{ts}","exec_id":"{order:08x}.0001.01","last_quantity":{part},"last_price":"{p1}","commission":"0.35"}}',
            f'{{"event_type":"execution_report","intent_id":"{iid}","order_id":"{order}","symbol":"{sym}","status":"FILLED","filled_quantity":{qty},"avg_fill_price":"{p1}","timestamp":"{ts}","exec_id":"{order:08x}.0002.01","last_quantity":{qty - part},"last_price":"{p2}","commission":"0.35"}}',
        ]
        for m in batch:
            if i >= n:
                return
            yield m.encode()
            i += 1


def write(path: str, n: int, seed: int = 7) -> None:
    with open(path, "wb") as f:
        for m in messages(n, seed):
            f.write(m + b"\n")


if __name__ == "__main__":
    import sys

    write(sys.argv[1], int(sys.argv[2]))
