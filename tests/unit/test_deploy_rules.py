"""The alert rules are complete and documented, and their promtool tests cover each alert.

promtool itself (evaluation, templates) runs in tests/integration/test_deploy_promtool.py;
this checks what promtool does not: that no alert is missing, untested or undocumented.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/prometheus/rules/ledger.rules.yml"
RULE_TESTS = ROOT / "deploy/prometheus/rules/ledger.rules.test.yml"
RUNBOOK = ROOT / "deploy/RUNBOOK.md"
PROMETHEUS_CONFIG = ROOT / "deploy/prometheus/prometheus.yml"

EXPECTED_SEVERITY = {
    "LedgerKillSwitchTripped": "critical",
    "LedgerDrawdownWarning": "warning",
    "LedgerProjectionLag": "warning",
    "LedgerAppendLatencyP99": "warning",
    "LedgerQuarantineRate": "warning",
    "LedgerIntegrityFailure": "critical",
    "LedgerReconciliationStale": "warning",
    "LedgerNotReady": "warning",
    "LedgerDown": "critical",
}


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def alerts() -> dict[str, dict[str, Any]]:
    rules = [r for group in _yaml(RULES)["groups"] for r in group["rules"]]
    names = [r["alert"] for r in rules if "alert" in r]
    assert len(names) == len(set(names)), "duplicate alert names"
    return {r["alert"]: r for r in rules if "alert" in r}


@pytest.fixture(scope="module")
def cases() -> list[dict[str, Any]]:
    """(alertname, fires?) of every alert_rule_test case."""
    loaded = _yaml(RULE_TESTS)
    return [
        {"alert": case["alertname"], "fires": bool(case.get("exp_alerts"))}
        for test in loaded["tests"]
        for case in test.get("alert_rule_test", [])
    ]


def test_exactly_the_expected_alerts_with_their_severity(
    alerts: dict[str, dict[str, Any]],
) -> None:
    assert {name: rule["labels"]["severity"] for name, rule in alerts.items()} == EXPECTED_SEVERITY


@pytest.mark.parametrize("name", sorted(EXPECTED_SEVERITY))
def test_alert_is_documented(name: str, alerts: dict[str, dict[str, Any]]) -> None:
    annotations = alerts[name]["annotations"]
    assert set(annotations) == {"summary", "description", "runbook"}
    assert all(text.strip() for text in annotations.values())
    anchor = f"deploy/RUNBOOK.md#{name.lower()}"
    assert anchor in annotations["runbook"]
    headings = re.findall(r"^## (\S+)$", RUNBOOK.read_text(encoding="utf-8"), re.MULTILINE)
    assert name in headings


@pytest.mark.parametrize("name", sorted(EXPECTED_SEVERITY))
def test_alert_has_firing_and_quiet_promtool_cases(name: str, cases: list[dict[str, Any]]) -> None:
    outcomes = {case["fires"] for case in cases if case["alert"] == name}
    assert outcomes == {True, False}


def test_promtool_tests_load_the_rules_file_and_prometheus_loads_it_too() -> None:
    assert _yaml(RULE_TESTS)["rule_files"] == [RULES.name]
    [rule_file] = _yaml(PROMETHEUS_CONFIG)["rule_files"]
    assert (PROMETHEUS_CONFIG.parent / rule_file).resolve() == RULES


def test_scrape_job_is_the_one_the_rules_select(alerts: dict[str, dict[str, Any]]) -> None:
    jobs = {job["job_name"]: job for job in _yaml(PROMETHEUS_CONFIG)["scrape_configs"]}
    assert jobs["ledger"]["static_configs"] == [{"targets": ["ledger:9108"]}]
    assert 'up{job="ledger"}' in alerts["LedgerDown"]["expr"]
