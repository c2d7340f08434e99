"""promtool (Debian package `prometheus`) accepts the config and rules, and the rule tests pass."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.services import unavailable

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy/prometheus"
CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULES = PROMETHEUS_DIR / "rules/ledger.rules.yml"
RULE_TESTS = PROMETHEUS_DIR / "rules/ledger.rules.test.yml"
INSTALL_HINT = "apt-get install -y --no-install-recommends prometheus (or `make test` installs it)"


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        unavailable("promtool", INSTALL_HINT)
    return path


def _run(promtool: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )


def _explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


def test_prometheus_config_and_its_rule_files_are_valid(promtool: str) -> None:
    result = _run(promtool, "check", "config", CONFIG)
    assert result.returncode == 0, _explain(result)
    assert "1 rule files found" in result.stdout, _explain(result)


def test_rules_are_valid(promtool: str) -> None:
    result = _run(promtool, "check", "rules", RULES)
    assert result.returncode == 0, _explain(result)
    assert "SUCCESS: 9 rules found" in result.stdout, _explain(result)


def test_rule_unit_tests_pass(promtool: str) -> None:
    result = _run(promtool, "test", "rules", RULE_TESTS)
    assert result.returncode == 0, _explain(result)
    assert "SUCCESS" in result.stdout, _explain(result)


def test_rule_unit_tests_fail_when_a_threshold_is_broken(promtool: str, tmp_path: Path) -> None:
    # The rule tests must be able to fail: raise the drawdown threshold past the test data.
    broken = RULES.read_text(encoding="utf-8").replace(
        "ledger_drawdown_ratio > 0.10", "ledger_drawdown_ratio > 0.50"
    )
    assert broken != RULES.read_text(encoding="utf-8")
    (tmp_path / RULES.name).write_text(broken, encoding="utf-8")
    (tmp_path / RULE_TESTS.name).write_text(
        RULE_TESTS.read_text(encoding="utf-8"), encoding="utf-8"
    )

    result = _run(promtool, "test", "rules", tmp_path / RULE_TESTS.name)

    assert result.returncode != 0, _explain(result)
    assert "LedgerDrawdownWarning" in result.stdout + result.stderr
