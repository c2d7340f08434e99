"""Kafka -> ledger -> Kafka through the real component and a real broker (Tansu).

Every test has topics and a consumer group of its own on the session's broker.
Waits have generous upper bounds (a hang fails the test); nothing asserts on time.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from adapters.kafka.checkpoints import SqlCheckpoints
from adapters.kafka.component import KafkaComponent, Readiness
from adapters.kafka.ingest import BatchReport
from adapters.kafka.settings import KafkaSettings
from adapters.projections import open_projection_store
from adapters.store import open_ledger
from domain import events as ev
from domain.application import LedgerApplication
from domain.clock import SteppingClock
from domain.ledger import LedgerConfig
from tests.support.tansu import (
    INVALID,
    T0,
    Sent,
    TansuBroker,
    clean_run,
    create_topics,
    effects,
    end_positions,
    kafka_settings,
    produce,
    read_topic,
    tansu_fixture,  # noqa: F401  (the `tansu` session fixture)
    trading_stream,
)

pytestmark = pytest.mark.kafka

WAIT = 60.0
PARTITIONS = 2


def open_app(url: str) -> LedgerApplication:
    return open_ledger(url, clock=SteppingClock(T0), config=LedgerConfig())


async def setup_topics(broker: TansuBroker, settings: KafkaSettings) -> None:
    await create_topics(
        broker.bootstrap, [*settings.input_topics, *settings.output_topics], PARTITIONS
    )


class Harness:
    """The component on an app, with what its hooks saw."""

    def __init__(self, app: LedgerApplication, url: str, settings: KafkaSettings) -> None:
        self.checkpoints = SqlCheckpoints(open_projection_store(url))
        self.reports: list[BatchReport] = []
        self.readiness: list[Readiness] = []
        self.done: dict[TopicPartition, int] = {}  # next offsets once a batch is all done
        self.component = KafkaComponent(
            app,
            settings,
            checkpoints=self.checkpoints,
            rng=random.Random(7),
            after_batch=[self._seen],
        )

    async def _seen(self, report: BatchReport) -> None:
        self.reports.append(report)
        self.readiness.append(self.component.readiness())
        self.done = dict(report.next_offsets)

    async def wait_for(self, done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT
        task = self.component._task
        while not done():
            if task is not None and task.done():
                await self.component.run_until_stopped()
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}")
            await asyncio.sleep(0.05)

    def consumed(self, sent: Sequence[Sent]) -> bool:
        """Every sent message committed, published, and seen by the hooks."""
        nxt = self.done
        return all(
            nxt.get(TopicPartition(src.split(":")[1], int(src.split(":")[2])), 0) > off
            for src, off in end_positions(sent).items()
        )

    async def close(self) -> None:
        await self.component.stop()
        self.checkpoints.close()


async def consume(
    app: LedgerApplication, url: str, settings: KafkaSettings, sent: Sequence[Sent]
) -> Harness:
    """Run the component until every sent message is in the ledger, then stop it."""
    h = Harness(app, url, settings)
    await h.component.start()
    try:
        await h.wait_for(lambda: h.consumed(sent), "every message to be consumed")
        await h.wait_for(lambda: h.component.readiness().ready, "readiness")
    finally:
        await h.close()
    return h


def header(record: Any, name: str) -> bytes:
    return bytes(dict(record.headers)[name])


def test_messages_on_three_topics_end_as_orders_fills_and_positions(
    tansu: TansuBroker, store_url: str, tmp_path: Path
) -> None:
    settings = kafka_settings(tansu)
    stream = trading_stream(60, seed=1)

    async def scenario() -> None:
        await setup_topics(tansu, settings)
        sent = await produce(tansu.bootstrap, settings, stream, PARTITIONS)
        app = open_app(store_url)
        h = await consume(app, store_url, settings, sent)
        assert effects(app) == clean_run(f"sqlite:///{tmp_path / 'clean.db'}", sent)
        assert {s: p for s, p in app.store.source_positions().items()} == end_positions(sent)
        assert not h.component.readiness().ready  # stopped
        # ledger_events: every event once, keyed by aggregate, position and id in headers.
        out = await read_topic(tansu.bootstrap, settings.topic_ledger_events, app.position)
        positions = sorted(int(header(r, "ledger-position")) for r in out)
        assert positions == list(range(1, app.position + 1))
        for r in out:
            doc = orjson.loads(r.value)
            assert doc["position"] == int(header(r, "ledger-position"))
            assert doc["event_id"] == header(r, "ledger-event-id").decode()
            assert doc["event_id"] == f"{doc['originator_id']}:{doc['originator_version']}"
            assert r.key == doc["originator_id"].encode()
            assert doc["event_type"] == header(r, "ledger-event-type").decode()

    asyncio.run(scenario())


def test_report_before_its_intent_is_held_then_applied(tansu: TansuBroker, sqlite_url: str) -> None:
    settings = kafka_settings(tansu)
    reports = [
        report(1, "ACKNOWLEDGED", 0, "0"),
        report(1, "PARTIAL_FILL", 4, "101", "a", 4),
        report(1, "PARTIAL_FILL", 4, "101", "a", 4),  # delivered twice
        report(1, "FILLED", 10, "101", "b", 6),
    ]

    async def scenario() -> None:
        await setup_topics(tansu, settings)
        app = open_app(sqlite_url)
        h = Harness(app, sqlite_url, settings)
        await h.component.start()
        try:
            sent = await produce(tansu.bootstrap, settings, reports, PARTITIONS)
            await h.wait_for(lambda: h.consumed(sent), "the reports")
            assert sum(r.summary.held for r in h.reports) == 3
            assert sum(r.summary.duplicates for r in h.reports) == 1
            sent += await produce(tansu.bootstrap, settings, [intent(1, 10)], PARTITIONS)
            await h.wait_for(lambda: h.consumed(sent), "the intent")
        finally:
            await h.close()
        [order] = app.ledger.orders.values()
        assert (order.status.value, order.filled) == ("FILLED", Decimal(10))
        [position] = app.ledger.positions.values()
        assert position.quantity == 10
        assert not app.ledger.held

    asyncio.run(scenario())


def test_invalid_messages_are_quarantined_and_dead_lettered_without_blocking(
    tansu: TansuBroker, sqlite_url: str
) -> None:
    settings = kafka_settings(tansu)
    # One key, so one partition: the poison sits between the two intents.
    stream = [
        ("intents", b"k", intent(1, 5)[2]),
        *[("intents", b"k", raw) for raw in INVALID],
        ("intents", b"k", intent(2, 5)[2]),
    ]

    async def scenario() -> None:
        await setup_topics(tansu, settings)
        sent = await produce(tansu.bootstrap, settings, stream, PARTITIONS)
        app = open_app(sqlite_url)
        await consume(app, sqlite_url, settings, sent)
        assert len(app.ledger.orders) == 2  # the intent after the poison got through
        quarantined = [e for _, e in app.read_events() if isinstance(e, ev.MessageQuarantined)]
        poison = sent[1:-1]
        assert [(q.message_source, q.message_position) for q in quarantined] == [
            (s.source, s.offset) for s in poison
        ]
        dlq = await read_topic(tansu.bootstrap, settings.topic_dlq, len(poison))
        dlq.sort(key=lambda r: int(header(r, "dlq-position")))
        assert [r.value for r in dlq] == list(INVALID)  # the exact bytes, even non-UTF-8
        for r, s in zip(dlq, poison, strict=True):
            assert header(r, "dlq-source").decode() == s.source
            assert r.key == f"{s.source}@{s.offset}".encode()
            errors = orjson.loads(header(r, "dlq-errors"))
            assert errors and all({"loc", "msg"} <= set(e) for e in errors)

    asyncio.run(scenario())


def bar(symbol: str, close: str, minute: int) -> tuple[str, bytes, bytes]:
    return (
        "market",
        symbol.encode(),
        (
            f'{{"event_type":"bar_event","symbol":"{symbol}","timestamp":"2025-11-17T15:{minute:02d}'
            f':00Z","open":{close},"high":{close},"low":{close},"close":{close},"volume":1}}'
        ).encode(),
    )


def intent(n: int, qty: int) -> tuple[str, bytes, bytes]:
    iid = f"00000000-0000-0000-0000-{n:012d}"
    return (
        "intents",
        iid.encode(),
        (
            f'{{"event_type":"order_intent","intent_id":"{iid}","symbol":"AAPL","direction":"BUY",'
            f'"quantity":{qty},"order_type":"MARKET","timestamp":"2025-11-17T15:00:0{n}Z"}}'
        ).encode(),
    )


def report(
    n: int, status: str, cumulative: int, price: str, exec_id: str | None = None, last: int = 0
) -> tuple[str, bytes, bytes]:
    iid = f"00000000-0000-0000-0000-{n:012d}"
    fill = f',"exec_id":"{exec_id}","last_quantity":{last},"last_price":{price}' if exec_id else ""
    return (
        "reports",
        iid.encode(),
        (
            f'{{"event_type":"execution_report","intent_id":"{iid}","order_id":"{n}",'
            f'"symbol":"AAPL","status":"{status}","filled_quantity":{cumulative},'
            f'"avg_fill_price":{price},"timestamp":"2025-11-17T15:00:0{n}Z"{fill}}}'
        ).encode(),
    )


def test_kill_switch_trip_goes_out_on_ledger_events_and_risk_state_and_denies_new_intents(
    tansu: TansuBroker, sqlite_url: str
) -> None:
    settings = kafka_settings(tansu)
    # 5,000 AAPL at 100 on 1,000,000 of equity, then a mark at 80: -10 % on the day.
    stream = [intent(1, 5000), report(1, "FILLED", 5000, "100", "e1", 5000), bar("AAPL", "80", 1)]

    async def scenario() -> None:
        await setup_topics(tansu, settings)
        app = open_app(sqlite_url)
        h = Harness(app, sqlite_url, settings)
        await h.component.start()
        try:
            sent = await produce(tansu.bootstrap, settings, stream, PARTITIONS)
            await h.wait_for(lambda: h.consumed(sent), "the losing trade")
            risk = await read_topic(tansu.bootstrap, settings.topic_risk_state, 1)
            sent += await produce(tansu.bootstrap, settings, [intent(2, 10)], PARTITIONS)
            await h.wait_for(lambda: h.consumed(sent), "the intent after the trip")
        finally:
            await h.close()
        [state] = [orjson.loads(r.value) for r in risk]
        assert risk[0].key == b"killswitch"
        assert (state["state"], state["trigger"]) == ("TRIPPED", "daily_loss")
        events = await read_topic(tansu.bootstrap, settings.topic_ledger_events, app.position)
        types = [orjson.loads(r.value)["event_type"] for r in events]
        assert "KillSwitchTripped" in types
        assert [o.status.value for o in app.ledger.orders.values()][-1] == "DENIED"

    asyncio.run(scenario())


async def set_kafka_offsets(bootstrap: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    """Commit offsets for the group as a member of it (Tansu refuses commits from outside)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        rebalance_timeout_ms=1000,
        auto_offset_reset="earliest",
    )
    consumer.subscribe(topics=sorted({tp.topic for tp in offsets}))
    await consumer.start()
    try:
        deadline = time.monotonic() + WAIT
        while consumer.assignment() != set(offsets) and time.monotonic() < deadline:
            await consumer.getmany(timeout_ms=100)
        await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
    finally:
        await consumer.stop()


async def kafka_offsets(
    bootstrap: str, group: str, tps: Sequence[TopicPartition]
) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(tps))
        return {tp: await consumer.committed(tp) for tp in tps}
    finally:
        await consumer.stop()


def test_restart_resumes_at_the_ledger_offsets_whatever_kafka_has_committed(
    tansu: TansuBroker, sqlite_url: str, tmp_path: Path
) -> None:
    settings = kafka_settings(tansu, batch_size=50)
    stream = trading_stream(40, seed=4)
    half = len(stream) // 2

    async def scenario() -> None:
        await setup_topics(tansu, settings)
        sent = await produce(tansu.bootstrap, settings, stream[:half], PARTITIONS)
        app = open_app(sqlite_url)
        await consume(app, sqlite_url, settings, sent)
        first_position = app.position
        app.close()
        # Kafka's committed offsets are for monitoring only: rewind some to 0 (would
        # duplicate) and move the others far ahead (would skip).
        tps = sorted(TopicPartition(t, p) for t in settings.input_topics for p in range(PARTITIONS))
        bogus = {tp: 0 if i % 2 else 10**6 for i, tp in enumerate(tps)}
        await set_kafka_offsets(tansu.bootstrap, settings.group_id, bogus)
        assert await kafka_offsets(tansu.bootstrap, settings.group_id, tps) == bogus
        sent += await produce(tansu.bootstrap, settings, stream[half:], PARTITIONS)
        app = open_app(sqlite_url)
        assert app.position == first_position
        await consume(app, sqlite_url, settings, sent)
        assert effects(app) == clean_run(f"sqlite:///{tmp_path / 'clean.db'}", sent)
        # ... and are committed afterwards, at the ledger's positions.
        ends = {
            TopicPartition(src.split(":")[1], int(src.split(":")[2])): off + 1
            for src, off in end_positions(sent).items()
        }
        assert await kafka_offsets(tansu.bootstrap, settings.group_id, list(ends)) == ends
        # The publisher resumed from its checkpoint: each event went out exactly once.
        out = await read_topic(tansu.bootstrap, settings.topic_ledger_events, app.position)
        assert sorted(int(header(r, "ledger-position")) for r in out) == list(
            range(1, app.position + 1)
        )

    asyncio.run(scenario())


def test_not_ready_while_lagging_then_ready_when_caught_up(
    tansu: TansuBroker, sqlite_url: str
) -> None:
    settings = kafka_settings(tansu, batch_size=10, linger_ms=0, ready_max_lag=20)
    stream = trading_stream(50, seed=5)

    async def scenario() -> None:
        await setup_topics(tansu, settings)
        sent = await produce(tansu.bootstrap, settings, stream, PARTITIONS)
        app = open_app(sqlite_url)
        h = await consume(app, sqlite_url, settings, sent)
        assert not h.readiness[0].ready
        assert h.readiness[-1].ready

    asyncio.run(scenario())
