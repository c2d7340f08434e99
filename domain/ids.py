"""Replay-sensitive ids are pure functions of their inputs (uuid5), never random."""

from __future__ import annotations

from functools import lru_cache
from uuid import UUID, uuid5

NAMESPACE = UUID("5a0c5f2e-5e1b-4c43-9d4e-7a1d2c3b4f60")

KILL_SWITCH_ID = uuid5(NAMESPACE, "killswitch")


@lru_cache(maxsize=65536)  # hot: one per fill or bar
def position_id(account: str, symbol: str) -> UUID:
    return uuid5(NAMESPACE, f"position:{account}:{symbol}")


@lru_cache(maxsize=65536)  # hot: one per fill or bar
def account_id(account: str) -> UUID:
    return uuid5(NAMESPACE, f"account:{account}")


@lru_cache(maxsize=65536)  # hot: one per fill or bar
def market_id(symbol: str) -> UUID:
    return uuid5(NAMESPACE, f"market:{symbol}")


def quarantine_id(source: str, position: int) -> UUID:
    return uuid5(NAMESPACE, f"quarantine:{source}@{position}")


def held_reports_id(intent_id: UUID) -> UUID:
    return uuid5(NAMESPACE, f"held:{intent_id}")


def flatten_intent_id(trip_version: int, account: str, symbol: str) -> UUID:
    return uuid5(NAMESPACE, f"flatten:{trip_version}:{account}:{symbol}")


def reconciliation_id(run_id: str) -> UUID:
    return uuid5(NAMESPACE, f"reconciliation:{run_id}")
