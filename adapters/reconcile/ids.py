"""Identifiers across the ledger/broker boundary, for any broker on the port.

- orderRef carries our intent id; anything else is an order placed elsewhere.
- The broker order id in reports is the permId (stable across sessions), or
  `oid:<orderId>` before one is assigned (the same rule as the IBKR adapter).
- An order first seen at the broker without an intent id gets one derived from
  its permId (uuid5), so a second reconciliation finds the order it booked.
- Execution corrections share the execId up to the last '.'; the highest
  suffix wins. Suffixes are fixed-width counters, decimal or hex ('01', '0a'),
  so (length, lower-case text) orders them without parsing.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID, uuid5

from adapters.broker.port import BrokerExecution
from domain.ids import NAMESPACE


def parse_intent_id(order_ref: str) -> UUID | None:
    try:
        return UUID(order_ref.strip())
    except ValueError:
        return None


def broker_order_id(perm_id: int, order_id: int) -> str:
    return str(perm_id) if perm_id > 0 else f"oid:{order_id}"


def external_intent_id(broker: str, perm_id: int, order_ref: str) -> UUID:
    """The intent id under which an order first seen at the broker is booked:
    its orderRef when that is an intent id (ours, lost), else derived from
    (broker, permId), a pure function so reruns book nothing twice."""
    parsed = parse_intent_id(order_ref)
    if parsed is not None:
        return parsed
    return uuid5(NAMESPACE, f"external:{broker}:{perm_id}")


def split_exec_id(exec_id: str) -> tuple[str, str]:
    base, dot, suffix = exec_id.rpartition(".")
    return (base, suffix) if dot else (exec_id, "")


def suffix_rank(exec_id: str) -> tuple[int, str]:
    suffix = split_exec_id(exec_id)[1]
    return len(suffix), suffix.lower()


def effective_executions(
    executions: Iterable[BrokerExecution],
) -> tuple[list[BrokerExecution], dict[str, list[str]]]:
    """(one execution per base id: the highest suffix, in broker time order;
    base id -> the superseded execIds)."""
    groups: dict[str, list[BrokerExecution]] = {}
    for e in executions:
        groups.setdefault(split_exec_id(e.exec_id)[0], []).append(e)
    effective: list[BrokerExecution] = []
    superseded: dict[str, list[str]] = {}
    for base, members in groups.items():
        members.sort(key=lambda e: suffix_rank(e.exec_id))
        effective.append(members[-1])
        if len(members) > 1:
            superseded[base] = [e.exec_id for e in members[:-1]]
    effective.sort(key=lambda e: (e.time, e.exec_id))
    return effective, superseded
