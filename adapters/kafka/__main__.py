"""`python -m adapters.kafka --store URL --kafka HOST:PORT`: the Kafka component alone.

A small runner for crash and rebalance tests and for the benchmark: it runs the
same `KafkaComponent` that `ledger serve --kafka` runs, until SIGTERM/SIGINT (a
graceful stop) or SIGKILL. Other settings come from `LEDGER_*` and
`LEDGER_KAFKA_*`. Exit codes: 0 stopped, 4 Kafka refused the client or the store
is unavailable.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import signal
import sys

from adapters.clock import SystemClock
from adapters.config import LedgerSettings
from adapters.kafka.checkpoints import SqlCheckpoints
from adapters.kafka.component import KafkaComponent
from adapters.kafka.errors import KafkaRefused
from adapters.kafka.settings import KafkaSettings
from adapters.process import tune_gc
from adapters.projections import open_projection_store
from adapters.store import StoreUnavailable, open_ledger

UNAVAILABLE = 4


async def run(store: str, settings: KafkaSettings, seed: int | None) -> None:
    tune_gc()
    ledger_settings = LedgerSettings()
    app = open_ledger(store, clock=SystemClock(), config=ledger_settings.ledger_config())
    pstore = open_projection_store(store)
    checkpoints = SqlCheckpoints(pstore)
    component = KafkaComponent(app, settings, checkpoints=checkpoints, rng=random.Random(seed))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, component.request_stop)
    await component.start()
    try:
        await component.run_until_stopped()
    finally:
        await component.stop()
        checkpoints.close()
        app.close()
        logging.getLogger("adapters.kafka").info(
            "stopped: %d batches, %d records, %d reconnects, ledger position %d",
            component.batches,
            component.records,
            component.reconnects,
            app.position,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adapters.kafka", description=__doc__)
    parser.add_argument("--store", required=True, help="ledger store URL")
    parser.add_argument("--kafka", default=None, help="bootstrap servers (HOST:PORT[,...])")
    parser.add_argument("--group", default=None, help="consumer group id")
    parser.add_argument("--seed", type=int, default=None, help="seed of the reconnect jitter")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s",
    )
    overrides = {
        k: v
        for k, v in (("bootstrap_servers", args.kafka), ("group_id", args.group))
        if v is not None
    }
    settings = KafkaSettings(**overrides)
    try:
        asyncio.run(run(args.store, settings, args.seed))
    except (KafkaRefused, StoreUnavailable) as e:
        logging.getLogger("adapters.kafka").error("%s", e)
        return UNAVAILABLE
    return 0


if __name__ == "__main__":
    sys.exit(main())
