"""docker-compose.yml: the scale-out deployment is complete, healthy and free of secrets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"

# The services the README tells an operator about.
README_SERVICES = ["postgres", "kafka", "ledger", "prometheus", "grafana"]
TOPICS = ["market_events", "order_intents", "exec_reports", "ledger_events", "dlq", "risk_state"]

_SECRET_KEY = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PASSPHRASE|CREDENTIAL|(^|_)KEY$", re.I)
# A value that only refers to a variable: required (`:?`) or defaulting to nothing (`:-`).
_REFERENCE_ONLY = re.compile(r"^\$\{[A-Za-z_]\w*(?::?\?[^}]*|:?-)?\}$")
_URL_CREDENTIALS = re.compile(r"://[^/\s:@]+:([^@\s]+)@")
_VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_]\w*)(:?[-?][^}]*)?\}")
_PLACEHOLDERS = {"", "change-me"}


def _env_items(service: dict[str, Any]) -> Iterator[tuple[str, str]]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        for entry in env:
            key, _, value = str(entry).partition("=")
            yield key, value
    else:
        for key, value in env.items():
            yield str(key), "" if value is None else str(value)


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, str):
        yield node


def find_literal_secrets(compose: dict[str, Any]) -> list[str]:
    """Secret-looking settings whose value is written in the file instead of taken from .env."""
    problems = []
    for name, service in compose.get("services", {}).items():
        for key, value in _env_items(service):
            if _SECRET_KEY.search(key) and not _REFERENCE_ONLY.match(value):
                problems.append(f"{name}: {key}={value}")
    for text in _strings(compose):
        for password in _URL_CREDENTIALS.findall(text):
            if not _REFERENCE_ONLY.match(password):
                problems.append(f"credentials in URL: {text}")
    return problems


def _read_env_file(path: Path) -> dict[str, str]:
    entries = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            entries[key.strip()] = value.strip()
    return entries


def _one_shot(name: str, compose: dict[str, Any]) -> bool:
    """Exits once and is waited for by a dependent service."""
    if compose["services"][name].get("restart", "no") != "no":
        return False
    return any(
        isinstance(other.get("depends_on"), dict)
        and other["depends_on"].get(name, {}).get("condition") == "service_completed_successfully"
        for other in compose["services"].values()
    )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def test_every_service_the_readme_names_is_defined(compose: dict[str, Any]) -> None:
    missing = [name for name in README_SERVICES if name not in compose["services"]]
    assert missing == []


def test_every_service_has_a_healthcheck_or_is_one_shot(compose: dict[str, Any]) -> None:
    unchecked = [
        name
        for name, service in compose["services"].items()
        if "test" not in service.get("healthcheck", {}) and not _one_shot(name, compose)
    ]
    assert unchecked == []


def test_no_literal_password_in_the_compose_file(compose: dict[str, Any]) -> None:
    assert find_literal_secrets(compose) == []


@pytest.mark.parametrize(
    "service",
    [
        {"environment": {"POSTGRES_PASSWORD": "hunter2"}},
        {"environment": ["GF_SECURITY_ADMIN_PASSWORD=admin"]},
        {"environment": {"API_TOKEN": "${TOKEN:-abc123}"}},
        {"environment": {"LEDGER_STORE": "postgresql://postgres:hunter2@postgres/ledger"}},
        {"command": ["run", "--url", "postgresql://u:secret@db/ledger"]},
    ],
)
def test_the_secret_check_catches_literal_secrets(service: dict[str, Any]) -> None:
    assert find_literal_secrets({"services": {"svc": service}}) != []


def test_every_required_variable_is_in_env_example(compose: dict[str, Any]) -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    example = _read_env_file(ENV_EXAMPLE)
    required = {name for name, rest in _VARIABLE.findall(text) if not rest or rest.startswith(":?")}
    assert required, "expected credentials to be required from .env"
    assert required - set(example) == set()
    # and the other way round: .env.example documents nothing that compose ignores
    used = {name for name, _ in _VARIABLE.findall(text)}
    assert set(example) - used == set()


def test_env_example_holds_placeholders_only() -> None:
    secrets = {k: v for k, v in _read_env_file(ENV_EXAMPLE).items() if _SECRET_KEY.search(k)}
    assert secrets, "expected the credentials to be listed"
    assert {k: v for k, v in secrets.items() if v not in _PLACEHOLDERS} == {}


def test_kafka_init_creates_every_topic_and_a_compacted_risk_state(compose: dict[str, Any]) -> None:
    script = " ".join(compose["services"]["kafka-init"]["command"])
    for topic in TOPICS:
        assert re.search(rf"\b{topic}\b", script), topic
    assert re.search(r"--topic risk_state\b[^\n]*cleanup\.policy=compact", script)
    assert "--if-not-exists" in script  # the one-shot may run again on every `up`


def test_kafka_runs_in_kraft_mode(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    env = dict(_env_items(kafka))
    assert kafka["image"].startswith("apache/kafka:")
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]


def test_ledger_serves_metrics_where_prometheus_scrapes(compose: dict[str, Any]) -> None:
    ledger = compose["services"]["ledger"]
    assert ledger["command"] == [
        "ledger", "serve", "--kafka", "kafka:9092",
        "--metrics-host", "0.0.0.0", "--metrics-port", "9108",
    ]  # fmt: skip
    assert ledger["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (ROOT / ledger["build"]["context"] / ledger["build"]["dockerfile"]).is_file()
    assert "http://127.0.0.1:9108/ready" in " ".join(ledger["healthcheck"]["test"])
    assert dict(_env_items(ledger))["LEDGER_STORE"].startswith("${LEDGER_STORE")


def test_ledger_starts_after_its_dependencies_are_ready(compose: dict[str, Any]) -> None:
    conditions = {
        name: spec["condition"]
        for name, spec in compose["services"]["ledger"]["depends_on"].items()
    }
    assert conditions["postgres"] == "service_healthy"
    assert conditions["kafka"] == "service_healthy"
    assert conditions["kafka-init"] == "service_completed_successfully"


def test_postgres_creates_the_ledger_database_and_checks_readiness(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["image"] == "postgres:16"
    assert dict(_env_items(postgres))["POSTGRES_DB"] == "ledger"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])


def test_state_lives_in_named_volumes_and_bind_mounts_exist(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    named_used = set()
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name}: {source}"
            else:
                named_used.add(source)
    assert named_used == declared
    for service in ("postgres", "kafka", "prometheus", "grafana"):
        sources = {v.split(":")[0] for v in compose["services"][service]["volumes"]}
        assert sources & declared, f"{service} keeps its data in no named volume"


def test_host_ports_are_bound_to_loopback_only(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port}"


def test_ib_gateway_is_optional(compose: dict[str, Any]) -> None:
    assert compose["services"]["ib-gateway"]["profiles"] == ["broker"]
    for name in README_SERVICES:
        assert "profiles" not in compose["services"][name]
