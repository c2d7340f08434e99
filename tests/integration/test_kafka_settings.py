"""`LEDGER_KAFKA_*` settings: defaults, environment, SASL completeness, no secret leaks.

No broker needed: nothing in the settings connects.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from adapters.kafka.settings import KafkaSettings

SECRET = "s3cr3t-pa55"


def test_defaults_name_the_design_topics_and_leave_kafka_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for var in ("LEDGER_KAFKA_BOOTSTRAP_SERVERS", "LEDGER_KAFKA_TOPIC_DLQ"):
        monkeypatch.delenv(var, raising=False)
    s = KafkaSettings()
    assert not s.enabled
    assert s.input_topics == ("order_intents", "exec_reports", "market_events")
    assert s.output_topics == ("ledger_events", "dlq", "risk_state")


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_KAFKA_BOOTSTRAP_SERVERS", "k1:9092, k2:9092")
    monkeypatch.setenv("LEDGER_KAFKA_TOPIC_DLQ", "dead_letters")
    monkeypatch.setenv("LEDGER_KAFKA_BATCH_SIZE", "250")
    monkeypatch.setenv("LEDGER_KAFKA_LINGER_MS", "20")
    s = KafkaSettings()
    assert s.enabled
    assert s.client_options()["bootstrap_servers"] == ["k1:9092", "k2:9092"]
    assert (s.topic_dlq, s.batch_size, s.linger_ms) == ("dead_letters", 250, 20)


def test_sasl_needs_mechanism_user_and_password_and_never_shows_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEDGER_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("LEDGER_KAFKA_SASL_PASSWORD", SECRET)
    with pytest.raises(ValidationError) as refused:
        KafkaSettings()
    assert "LEDGER_KAFKA_SASL_MECHANISM" in str(refused.value)
    assert SECRET not in str(refused.value)
    monkeypatch.setenv("LEDGER_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("LEDGER_KAFKA_SASL_USERNAME", "ledger")
    s = KafkaSettings()
    options = s.client_options()
    assert (
        options["sasl_mechanism"],
        options["sasl_plain_username"],
        options["sasl_plain_password"],
    ) == ("SCRAM-SHA-512", "ledger", SECRET)
    assert SECRET not in repr(s)
    assert SECRET not in str(s.describe())
    assert s.describe()["sasl_password"] == "***"


def test_unknown_security_protocol_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_KAFKA_SECURITY_PROTOCOL", "TLS_PLEASE")
    with pytest.raises(ValidationError):
        KafkaSettings()
