"""Ingest throughput: `ledger ingest` end to end (process start included) vs an application
written the way eventsourcing's documentation shows, doing the same work in the same run.

    python bench/ingest.py [--messages 200000] [--baseline-messages 20000] [--no-postgres]

The baseline: one `Aggregate` per order with `@event` methods, the aggregate cache on,
one event and one `save()` (one transaction) per message, messages validated with the
same contracts. It runs on a smaller slice (it is slow) and is reported per message.
Results go to the `## ingest (issue 2)` section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.results import write_section
from bench.workload import write

PG = os.environ.get("LEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
LEDGER = str(Path(sys.executable).with_name("ledger"))


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_ledger(store: str, path: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one `ledger ingest` process."""
    env = dict(os.environ, LEDGER_STARTING_EQUITY="1000000000000")
    cpu = _children_cpu()
    t = time.perf_counter()
    subprocess.run(
        [LEDGER, "--store", store, "ingest", str(path), "--format", "json"],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - t, _children_cpu() - cpu


def _cpu(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds:.2f}"


def baseline(path: Path, n: int, db: str) -> float:
    """eventsourcing as its documentation shows it: an aggregate per order, one save a message."""
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event

    from contracts import ExecutionReport, OrderIntent, parse_message

    class Order(Aggregate):
        @event("Created")
        def __init__(self, intent_id: uuid.UUID, symbol: str, side: str, quantity: Decimal) -> None:
            self.symbol, self.side, self.quantity = symbol, side, quantity
            self.status, self.filled = "NEW", Decimal(0)

        @event("Reported")
        def report(self, status: str, filled: Decimal, price: Decimal) -> None:
            self.status, self.filled = status, filled

        @classmethod
        def create_id(cls, intent_id: uuid.UUID, **_: object) -> uuid.UUID:  # type: ignore[override]
            return intent_id

    class Orders(Application[uuid.UUID]):
        env = {
            "AGGREGATE_CACHE_MAXSIZE": "100000",
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": db,
        }

    lines = path.read_bytes().splitlines()[:n]
    t = time.perf_counter()
    app = Orders()
    for line in lines:
        msg = parse_message(line)
        if isinstance(msg, OrderIntent):
            order = Order(msg.intent_id, msg.symbol, msg.direction.value, msg.quantity)
        elif isinstance(msg, ExecutionReport):
            order = app.repository.get(msg.intent_id)
            order.report(msg.status.value, msg.filled_quantity, msg.avg_fill_price)
        else:
            continue
        app.save(order)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--baseline-messages", type=int, default=20_000)
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args()
    rows: list[tuple[str, int, float, float | None, float, float]] = []
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "workload.jsonl"
        write(str(data), args.messages)
        n = args.messages
        base_s = baseline(data, args.baseline_messages, str(Path(tmp) / "baseline.db"))
        base_rate = args.baseline_messages / base_s
        rows.append(
            (
                "eventsourcing as documented (SQLite, one save per message)",
                args.baseline_messages,
                base_s,
                None,
                base_rate,
                1.0,
            )
        )
        s, cpu = run_ledger(f"sqlite:///{Path(tmp) / 'ledger.db'}", data)
        rows.append(
            (
                "`ledger ingest` SQLite (process start included)",
                n,
                s,
                cpu,
                n / s,
                (n / s) / base_rate,
            )
        )
        if not args.no_postgres:
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(PG, autocommit=True) as c:
                c.execute(f'CREATE SCHEMA "{schema}"')
            try:
                s, cpu = run_ledger(f"{PG}?schema={schema}", data)
                rows.append(
                    (
                        "`ledger ingest` PostgreSQL (process start included)",
                        n,
                        s,
                        cpu,
                        n / s,
                        (n / s) / base_rate,
                    )
                )
            finally:
                with psycopg.connect(PG, autocommit=True) as c:
                    c.execute(f'DROP SCHEMA "{schema}" CASCADE')
    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; workload: "
        "`bench/workload.py` (per order: intent, ack, partial fill, fill; "
        f"6 events per 4 messages); load average {load_start:.1f} at start, "
        f"{os.getloadavg()[0]:.1f} at end.",
        "",
        "| run | messages | wall s | CPU s | messages/s | x baseline |",
        "|---|---:|---:|---:|---:|---:|",
        *[
            f"| {r[0]} | {r[1]:,} | {r[2]:.2f} | {_cpu(r[3])} | {r[4]:,.0f} | {r[5]:.1f} |"
            for r in rows
        ],
        "",
        "CPU s: user + system time of the `ledger ingest` process (PostgreSQL's own work runs",
        "in the server's processes and is not in it).",
    ]
    write_section("ingest (issue 2)", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
