"""Every PromQL expression in deploy/ names only metrics that `ledger serve` exports.

The list below is the metrics contract of the ledger (issue 4/6). A renamed metric, or a
typo in a dashboard or an alert, would otherwise show as an empty panel or an alert that
can never fire; this test fails instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy/grafana/dashboards/ledger.json"
RULES = ROOT / "deploy/prometheus/rules/ledger.rules.yml"

LEDGER_METRICS = frozenset(
    {
        "ledger_build_info",
        "ledger_events_appended_total",
        "ledger_append_latency_seconds",
        "ledger_batch_size",
        "ledger_global_position",
        "ledger_projection_position",
        "ledger_projection_lag_events",
        "ledger_projection_lag_seconds",
        "ledger_position_quantity",
        "ledger_position_value",
        "ledger_realized_pnl",
        "ledger_unrealized_pnl",
        "ledger_equity",
        "ledger_drawdown_ratio",
        "ledger_killswitch_state",
        "ledger_killswitch_trips_total",
        "ledger_orders",
        "ledger_quarantined_messages_total",
        "ledger_chain_verified",
        "ledger_chain_verified_position",
        "ledger_reconcile_last_success_timestamp_seconds",
        "ledger_reconcile_breaks",
        "ledger_kafka_consumer_lag",
        "ledger_ready",
    }
)
HISTOGRAMS = frozenset({"ledger_append_latency_seconds", "ledger_batch_size"})
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# Series Prometheus itself writes for every scrape target.
PROMETHEUS_SERIES = frozenset({"up"})

_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool"}
    | {"and", "or", "unless", "offset", "inf", "nan"}
)
_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_GRAFANA_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
# An identifier not glued to a number (1e3), a variable or a longer name.
_IDENTIFIER = re.compile(r"(?<![\w.:$])([A-Za-z_:][\w:]*)(\s*\()?")
_LABEL_VALUES = re.compile(r"label_values\(\s*([A-Za-z_:][\w:]*)")


def metric_names(expr: str) -> set[str]:
    """Names of the series an expression selects (functions, keywords and labels left out)."""
    text = _STRING.sub('""', expr)  # strings first: they may hold braces or names
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _GRAFANA_VARIABLE.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name, call = match.group(1), match.group(2)
        if call is None and name not in _KEYWORDS:
            names.add(name)
    return names


def exported_name(series: str) -> str:
    """The exported metric a series belongs to (a histogram's _bucket/_sum/_count -> itself)."""
    for suffix in HISTOGRAM_SUFFIXES:
        base = series.removesuffix(suffix)
        if base != series and base in HISTOGRAMS:
            return base
    return series


def unknown_series(exprs: list[str]) -> dict[str, set[str]]:
    known = LEDGER_METRICS | PROMETHEUS_SERIES
    found = {
        expr: {s for s in metric_names(expr) if exported_name(s) not in known} for expr in exprs
    }
    return {expr: names for expr, names in found.items() if names}


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [value for key, value in _walk(dashboard) if key == "expr"]


def dashboard_variable_metrics() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    names = []
    for variable in dashboard["templating"]["list"]:
        query = variable["query"]
        text = query["query"] if isinstance(query, dict) else query
        match = _LABEL_VALUES.match(text)
        assert match, f"variable {variable['name']}: expected label_values(...), got {text!r}"
        names.append(match.group(1))
    return names


def rule_exprs() -> list[str]:
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (
            "histogram_quantile(0.99, sum by (le) (rate(ledger_append_latency_seconds_bucket"
            '{instance=~"a|b"}[5m])))',
            {"ledger_append_latency_seconds_bucket"},
        ),
        (
            "time() - last_ok > 26 * 3600 or on (instance, job) "
            '(up{job="ledger"} == 1 unless on (instance, job) last_ok)',
            {"last_ok", "up"},
        ),
        (
            'sum by (symbol) (qty{account=~"$account"}) / ignoring(symbol) group_left '
            "value offset 5m",
            {"qty", "value"},
        ),
        ('sum(rate(c{l="x{y}"}[$__rate_interval])) by (le) > 1e3', {"c"}),
        ("ledger_equty", {"ledger_equty"}),
    ],
)
def test_metric_names_are_extracted_from_promql(expr: str, expected: set[str]) -> None:
    assert metric_names(expr) == expected


def test_histogram_series_map_to_their_metric_and_others_do_not() -> None:
    assert exported_name("ledger_batch_size_bucket") == "ledger_batch_size"
    assert exported_name("ledger_append_latency_seconds_count") == "ledger_append_latency_seconds"
    assert exported_name("ledger_orders_count") == "ledger_orders_count"


def test_unknown_series_are_reported() -> None:
    assert unknown_series(["ledger_equity + ledger_equty"]) == {
        "ledger_equity + ledger_equty": {"ledger_equty"}
    }


def test_dashboard_queries_name_only_exported_metrics() -> None:
    exprs = dashboard_exprs()
    assert len(exprs) >= 20
    assert unknown_series(exprs) == {}


def test_dashboard_variables_name_only_exported_metrics() -> None:
    assert set(dashboard_variable_metrics()) <= LEDGER_METRICS


def test_dashboard_shows_every_exported_metric() -> None:
    used = {exported_name(s) for expr in dashboard_exprs() for s in metric_names(expr)}
    assert LEDGER_METRICS - used == set()


def test_alert_rules_name_only_exported_metrics() -> None:
    exprs = rule_exprs()
    assert len(exprs) >= 9
    assert unknown_series(exprs) == {}
