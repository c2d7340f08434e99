"""Kafka settings from the environment (`LEDGER_KAFKA_*`, pydantic-settings).

Nothing here connects: `client_options()` only builds the keyword arguments that
aiokafka's consumer, producer and admin client share. The SASL password is a
`SecretStr`, so neither `repr()`, `describe()` nor a validation error ever shows it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSettings(BaseSettings):
    # hide_input_in_errors: a validation error would otherwise print every input,
    # the SASL password included.
    model_config = SettingsConfigDict(
        env_prefix="LEDGER_KAFKA_", extra="ignore", hide_input_in_errors=True
    )

    # "host:port[,host:port...]"; empty means Kafka is off (`ledger serve --kafka` sets it).
    bootstrap_servers: str = ""
    client_id: str = "tradeledger"
    group_id: str = "tradeledger-ledger"

    topic_order_intents: str = "order_intents"
    topic_exec_reports: str = "exec_reports"
    topic_market_events: str = "market_events"
    topic_ledger_events: str = "ledger_events"
    topic_dlq: str = "dlq"
    topic_risk_state: str = "risk_state"

    # One ledger transaction holds at most `batch_size` messages; after the first
    # message arrives the consumer waits up to `linger_ms` for more (group commit).
    batch_size: int = Field(default=5000, ge=1)
    linger_ms: int = Field(default=5, ge=0)
    poll_timeout_ms: int = Field(default=200, ge=1)
    # How long the broker may hold a fetch that has no data. Apache Kafka answers as soon
    # as data arrives, but some brokers (Tansu) hold the fetch for up to this long anyway,
    # which then bounds the latency from below: measured on Tansu, 50 ms gave a p50 of
    # 35-40 ms at 2,000 messages/s and 20 ms gave 24-27 ms. 20 ms costs ~50 idle fetches/s
    # per broker, and a little CPU per message when the load is light.
    fetch_max_wait_ms: int = Field(default=20, ge=0)

    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None

    session_timeout_ms: int = Field(default=10_000, ge=1)
    heartbeat_interval_ms: int = Field(default=3_000, ge=1)
    rebalance_timeout_ms: int = Field(default=30_000, ge=1)
    metadata_max_age_ms: int = Field(default=30_000, ge=1)
    request_timeout_ms: int = Field(default=30_000, ge=1)

    # /ready is false above this many messages behind, or without a fetch for this long.
    ready_max_lag: int = Field(default=10_000, ge=0)
    ready_max_silence_s: float = Field(default=30.0, gt=0)

    reconnect_backoff_initial_s: float = Field(default=0.5, gt=0)
    reconnect_backoff_max_s: float = Field(default=30.0, gt=0)

    # Publish ledger_events, dlq and risk_state from the log after each batch.
    publish: bool = True
    # How often the publishers write down how far they have got (and on a clean stop):
    # a crash re-sends at most this much (at-least-once; consumers deduplicate).
    publish_checkpoint_interval_ms: int = Field(default=1000, ge=0)

    @model_validator(mode="after")
    def _sasl_complete(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL_"):
            missing = [
                name
                for name, value in (
                    ("sasl_mechanism", self.sasl_mechanism),
                    ("sasl_username", self.sasl_username),
                    ("sasl_password", self.sasl_password),
                )
                if not value
            ]
            if missing:
                raise ValueError(
                    f"security_protocol {self.security_protocol} needs "
                    f"LEDGER_KAFKA_{', LEDGER_KAFKA_'.join(missing).upper()}"
                )
        if self.reconnect_backoff_max_s < self.reconnect_backoff_initial_s:
            raise ValueError("reconnect_backoff_max_s is below reconnect_backoff_initial_s")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.bootstrap_servers.strip())

    @property
    def input_topics(self) -> tuple[str, str, str]:
        return (self.topic_order_intents, self.topic_exec_reports, self.topic_market_events)

    @property
    def output_topics(self) -> tuple[str, str, str]:
        return (self.topic_ledger_events, self.topic_dlq, self.topic_risk_state)

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments every aiokafka client takes (connection and security)."""
        options: dict[str, Any] = {
            "bootstrap_servers": [
                s.strip() for s in self.bootstrap_servers.split(",") if s.strip()
            ],
            "client_id": self.client_id,
            "security_protocol": self.security_protocol,
            "request_timeout_ms": self.request_timeout_ms,
            "metadata_max_age_ms": self.metadata_max_age_ms,
        }
        if self.security_protocol in ("SSL", "SASL_SSL"):
            from aiokafka.helpers import create_ssl_context

            options["ssl_context"] = create_ssl_context(
                cafile=str(self.ssl_cafile) if self.ssl_cafile else None
            )
        if self.security_protocol.startswith("SASL_"):
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            options["sasl_plain_password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password else None
            )
        return options

    def describe(self) -> dict[str, Any]:
        """What is safe to log: everything but the password."""
        doc = self.model_dump(exclude={"sasl_password"})
        doc["sasl_password"] = "***" if self.sasl_password else None
        doc["ssl_cafile"] = str(self.ssl_cafile) if self.ssl_cafile else None
        return doc
