"""The Grafana dashboard and its provisioning files fit together and with docker-compose.yml."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy/grafana"
DASHBOARD = GRAFANA / "dashboards/ledger.json"
DATASOURCES = GRAFANA / "provisioning/datasources/prometheus.yml"
PROVIDERS = GRAFANA / "provisioning/dashboards/ledger.yml"
PROMETHEUS_CONFIG = ROOT / "deploy/prometheus/prometheus.yml"
COMPOSE = ROOT / "docker-compose.yml"
GRID_COLUMNS = 24

# What an operator must find on the dashboard (issue 4): a word of a panel title each.
REQUIRED_PANELS = (
    "Equity",
    "Drawdown",
    "PnL",
    "Positions by symbol",
    "Kill switch",
    "Orders by status",
    "Append latency",
    "Batch size",
    "Projection lag",
    "Quarantine rate",
    "Kafka consumer lag",
    "Reconciliation age",
    "Hash chain",
)


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def datasource() -> dict[str, Any]:
    [source] = _yaml(DATASOURCES)["datasources"]
    assert isinstance(source, dict)
    return source


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def test_dashboard_has_identity_for_provisioning(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "tradeledger-ledger"
    assert dashboard["title"]
    assert dashboard.get("id") is None  # an id from another Grafana would clash


def test_every_required_panel_is_there(dashboard: dict[str, Any]) -> None:
    titles = [p["title"] for p in _panels(dashboard)]
    missing = [w for w in REQUIRED_PANELS if not any(w.lower() in t.lower() for t in titles)]
    assert missing == []


def test_panel_ids_are_unique(dashboard: dict[str, Any]) -> None:
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_every_panel_queries_the_provisioned_datasource(
    dashboard: dict[str, Any], datasource: dict[str, Any]
) -> None:
    for panel in _panels(dashboard):
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"] == {"type": "prometheus", "uid": datasource["uid"]}


def test_panels_fit_the_grid_without_overlapping(dashboard: dict[str, Any]) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in dashboard["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= GRID_COLUMNS, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_kill_switch_states_are_named_as_the_gauge_encodes_them(dashboard: dict[str, Any]) -> None:
    [panel] = [p for p in _panels(dashboard) if p["title"] == "Kill switch"]
    [mapping] = panel["fieldConfig"]["defaults"]["mappings"]
    names = {value: option["text"] for value, option in mapping["options"].items()}
    assert names == {"0": "ARMED", "1": "REDUCING", "2": "TRIPPED"}


def test_datasource_points_at_the_compose_prometheus_service(datasource: dict[str, Any]) -> None:
    services = _yaml(COMPOSE)["services"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    assert "prometheus" in services


def test_datasource_time_interval_equals_the_scrape_interval(datasource: dict[str, Any]) -> None:
    # $__rate_interval is derived from it; a smaller value gives rate() windows with one sample.
    scrape_interval = _yaml(PROMETHEUS_CONFIG)["global"]["scrape_interval"]
    assert datasource["jsonData"]["timeInterval"] == scrape_interval


def test_dashboard_provider_path_is_where_compose_mounts_the_dashboards() -> None:
    [provider] = _yaml(PROVIDERS)["providers"]
    grafana = _yaml(COMPOSE)["services"]["grafana"]
    mounts = {volume.split(":")[0]: volume.split(":")[1] for volume in grafana["volumes"]}
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
