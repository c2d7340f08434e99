"""`KafkaServeComponent` in the real `ledger serve` loop, next to the projections.

The loop is built exactly as replay/commands/serve.py builds it, with the Kafka
component first; it runs on a thread until every message is in, then stops.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from adapters.clock import SystemClock
from adapters.kafka.serve import KafkaServeComponent
from adapters.projections import make_waiter, open_projection_store
from adapters.projections.service import (
    ChainWatch,
    ProjectionFollower,
    ServeContext,
    ServeLoop,
)
from adapters.store import open_ledger
from domain.ledger import LedgerConfig
from projections.metrics import LedgerCollector, ServeMetrics
from tests.support.tansu import (
    TansuBroker,
    clean_run,
    create_topics,
    effects,
    end_positions,
    kafka_settings,
    produce,
    tansu_fixture,  # noqa: F401  (the `tansu` session fixture)
    trading_stream,
)

pytestmark = pytest.mark.kafka

WAIT = 60.0


def test_serve_loop_runs_the_kafka_component_next_to_the_projections(
    tansu: TansuBroker, sqlite_url: str, tmp_path: Path
) -> None:
    settings = kafka_settings(tansu)
    topics = [*settings.input_topics, *settings.output_topics]
    asyncio.run(create_topics(tansu.bootstrap, topics, 2))
    sent = asyncio.run(produce(tansu.bootstrap, settings, trading_stream(30, seed=9), 2))
    pstore = open_projection_store(sqlite_url)
    clock = SystemClock()
    metrics = ServeMetrics("test", LedgerCollector(pstore.read_engine, pstore.source, clock))
    stop = threading.Event()
    logs: list[str] = []
    ctx = ServeContext(
        pstore,
        metrics,
        clock,
        stop,
        logs.append,
        open_ledger=lambda: open_ledger(sqlite_url, clock=clock, config=LedgerConfig()),
    )
    kafka = KafkaServeComponent(settings, rng=random.Random(5))
    loop = ServeLoop(
        ctx, [kafka, ProjectionFollower(), ChainWatch()], make_waiter(pstore, stop), 0.05
    )
    lags = [
        f'ledger_kafka_consumer_lag{{partition="{p}",topic="{t}"}} 0.0'
        for t in settings.input_topics
        for p in (0, 1)
    ]
    runner = threading.Thread(target=loop.run, name="serve")
    runner.start()
    try:
        deadline = time.monotonic() + WAIT
        ends = end_positions(sent)
        exposition = ""
        while not (
            kafka.component is not None
            and kafka.component.app.store.source_positions() == ends
            and loop.ready()[0]
            and all(line in exposition for line in lags)
        ):
            assert runner.is_alive(), logs
            assert time.monotonic() < deadline, (kafka.readiness_reason(), loop.ready(), logs)
            time.sleep(0.05)
            if loop.ready()[0]:  # the projections are set up: a scrape can read them
                exposition = generate_latest(metrics.registry).decode()
    finally:
        stop.set()
        runner.join(timeout=WAIT)
        pstore.close()
    assert not runner.is_alive()
    assert kafka.fatal is None and kafka.problem() is None
    assert not kafka.is_ready()  # stopped
    assert "ledger_ready 1.0" in exposition
    assert kafka.component is not None
    app = kafka.component.app  # ctx.ledger_app(), as the component opened it
    assert app is ctx.ledger_app()
    assert effects(app) == clean_run(f"sqlite:///{tmp_path / 'clean.db'}", sent)
