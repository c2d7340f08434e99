"""`ledger serve --kafka` as an operator runs it: a process consuming a real Kafka-protocol
broker (Tansu) into the store, stopped with SIGTERM (exit 0), every message applied once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adapters.store import open_ledger
from domain.clock import SteppingClock
from domain.ledger import LedgerConfig
from tests.support.tansu import (
    T0,
    TansuBroker,
    clean_run,
    create_topics,
    effects,
    end_positions,
    free_port,
    kafka_settings,
    produce,
    settings_env,
    tansu_fixture,  # noqa: F401  (the `tansu` session fixture)
    trading_stream,
)

pytestmark = pytest.mark.kafka

WAIT = 90.0


def test_ledger_serve_kafka_applies_every_message_once_and_stops_on_sigterm(
    tansu: TansuBroker, tmp_path: Path
) -> None:
    settings = kafka_settings(tansu)
    asyncio.run(
        create_topics(tansu.bootstrap, [*settings.input_topics, *settings.output_topics], 2)
    )
    sent = asyncio.run(produce(tansu.bootstrap, settings, trading_stream(20, seed=3), 2))
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    env = {**os.environ, **settings_env(settings)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "replay",
            "--store",
            url,
            "serve",
            "--kafka",
            tansu.bootstrap,
            "--metrics-port",
            str(free_port()),
            "--poll-interval",
            "0.05",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ends = end_positions(sent)
        deadline = time.monotonic() + WAIT
        while True:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "serve did not take in every message"
            if (tmp_path / "serve.db").exists():
                app = open_ledger(url, clock=SteppingClock(T0), config=LedgerConfig())
                if app.store.source_positions() == ends:
                    break
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == 0, err
    assert "ledger serve: stopped" in err
    app = open_ledger(url, clock=SteppingClock(T0), config=LedgerConfig())
    assert effects(app) == clean_run(f"sqlite:///{tmp_path / 'clean.db'}", sent)
