"""Valid sample messages, one per type, and fixtures to vary them.

Kept as plain dicts (numbers as JSON-ready values) so each test states only
what it changes. Served as fixtures rather than an importable helper module so
the tests work under any pytest import mode.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

INTENT_ID = "550e8400-e29b-41d4-a716-446655440000"

SAMPLES: dict[str, dict[str, Any]] = {
    "bar_event": {
        "event_type": "bar_event",
        "symbol": "AAPL",
        "timestamp": "2025-11-17T09:31:00Z",
        "open": "189.12",
        "high": "189.50",
        "low": "188.90",
        "close": "189.33",
        "volume": 125000,
        "bar_size": "1min",
    },
    "tick_event": {
        "event_type": "tick_event",
        "symbol": "ESZ5",
        "timestamp": "2025-11-17T09:31:00.250000Z",
        "price": "6712.25",
        "size": 3,
        "tick_type": "TRADE",
    },
    "ofi_event": {
        "event_type": "ofi_event",
        "symbol": "GOOGL",
        "timestamp": "2025-11-17T09:31:00Z",
        "ofi_value": "-0.35",
        "volume_imbalance": "-1200",
        "bid_volume": 4000,
        "ask_volume": 5200,
    },
    "order_intent": {
        "event_type": "order_intent",
        "intent_id": INTENT_ID,
        "symbol": "GOOGL",
        "direction": "BUY",
        "quantity": 100,
        "order_type": "LIMIT",
        "limit_price": "2850.50",
        "timestamp": "2025-11-17T09:30:15Z",
    },
    "execution_report": {
        "event_type": "execution_report",
        "intent_id": INTENT_ID,
        "order_id": "1001",
        "symbol": "GOOGL",
        "status": "PARTIAL_FILL",
        "filled_quantity": 40,
        "avg_fill_price": "2850.25",
        "timestamp": "2025-11-17T09:30:16.123456Z",
        "account": "DU123456",
        "exec_id": "0000e0d5.6553a6b2.01.01",
        "last_quantity": 40,
        "last_price": "2850.25",
        "commission": "1.05",
        "commission_currency": "USD",
    },
}


def _sample(event_type: str, *, without: tuple[str, ...] = (), **overrides: Any) -> dict[str, Any]:
    fields = {**SAMPLES[event_type], **overrides}
    return {k: v for k, v in fields.items() if k not in without}


def _payload(event_type: str, *, without: tuple[str, ...] = (), **overrides: Any) -> bytes:
    return json.dumps(_sample(event_type, without=without, **overrides)).encode()


@pytest.fixture
def sample() -> Callable[..., dict[str, Any]]:
    """sample(event_type, without=(names...), **overrides): a copy of the
    sample with fields left out, replaced or added."""
    return _sample


@pytest.fixture
def payload() -> Callable[..., bytes]:
    """payload(event_type, **overrides): the same, as JSON bytes."""
    return _payload
