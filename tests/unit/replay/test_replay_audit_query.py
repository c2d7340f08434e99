"""Audit queries: how the criteria combine, and how index rows are compared with the log's."""

from __future__ import annotations

from replay.report.audit import AuditQuery, compare


def test_flags_narrow_the_event_types() -> None:
    assert AuditQuery().type_names() is None
    assert AuditQuery(operator=True).type_names() == frozenset(
        {"KillSwitchTripped", "KillSwitchReset"}
    )
    assert AuditQuery(quarantined=True).type_names() == frozenset({"MessageQuarantined"})
    assert AuditQuery(
        types=frozenset({"OrderFilled", "KillSwitchReset"}), operator=True
    ).type_names() == frozenset({"KillSwitchReset"})
    # Contradictory criteria match nothing rather than everything.
    assert AuditQuery(operator=True, quarantined=True).type_names() == frozenset()


def _row(position: int, **changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "position": position,
        "recorded_at": "t",
        "occurred_at": "t",
        "aggregate_type": "Order",
        "aggregate_id": "a",
        "event": "OrderFilled",
        "intent_id": "a",
        "symbol": "AAPL",
        "source": "s",
        "summary": "x",
    }
    return {**row, **changes}


def test_compare_names_missing_rows_and_differing_fields() -> None:
    log = [_row(1), _row(2), _row(3)]
    index = [_row(1), _row(2, symbol="MSFT", source="t"), _row(4, event="OrderDenied")]
    assert compare(log, index) == [
        {"position": 2, "field": "symbol", "log": "AAPL", "index": "MSFT"},
        {"position": 2, "field": "source", "log": "s", "index": "t"},
        {"position": 3, "field": "(row)", "log": "OrderFilled", "index": None},
        {"position": 4, "field": "(row)", "log": None, "index": "OrderDenied"},
    ]
    assert compare(log, log) == []
