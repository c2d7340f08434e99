"""Execution corrections: IB corrects a fill by sending a new execId that
differs only after the last '.', e.g. `0000e0d5.6553a6b2.01.01` ->
`0000e0d5.6553a6b2.01.02`; the higher suffix replaces the lower. ib_async
appends a correction as one more fill, so anything that sums fills must group
them first. Pure functions on the port's BrokerExecution.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from adapters.broker.port import BrokerExecution


def correction_key(exec_id: str) -> tuple[str, str]:
    """(base, suffix): a correction repeats the execId up to its last '.'."""
    base, dot, suffix = exec_id.rpartition(".")
    return (base, suffix) if dot else (exec_id, "")


def _suffix_rank(suffix: str) -> tuple[int, str]:
    # Suffixes are fixed-width decimal or hex counters ('01', '02', … '0a');
    # comparing (length, lower-case text) orders both without parsing.
    return len(suffix), suffix.lower()


@dataclass(frozen=True, slots=True)
class CorrectionGroups:
    effective: tuple[BrokerExecution, ...]
    """One execution per base id: the highest suffix."""
    superseded: tuple[BrokerExecution, ...]
    """Executions replaced by a correction."""


def group_corrections(executions: Iterable[BrokerExecution]) -> CorrectionGroups:
    groups: dict[str, list[BrokerExecution]] = {}
    for execution in executions:
        groups.setdefault(correction_key(execution.exec_id)[0], []).append(execution)
    effective: list[BrokerExecution] = []
    superseded: list[BrokerExecution] = []
    for members in groups.values():
        members.sort(key=lambda e: _suffix_rank(correction_key(e.exec_id)[1]))
        effective.append(members[-1])
        superseded.extend(members[:-1])
    return CorrectionGroups(tuple(effective), tuple(superseded))
