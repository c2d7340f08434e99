"""Killing `ledger ingest` with SIGKILL at seeded random points, and comparing stores.

The ingest runs in a subprocess exactly as the command runs (the click command
`replay.commands.ingest.ingest`, started on its own so that the process does not
spend its time importing every other command). Each kill waits until the log has
reached a seeded random size, then a random few milliseconds more, so kills land
inside batches, inside commits and, when the log is already past the target, during
start-up and catch-up.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from adapters.store import open_recorder, parse_store_url

ROOT = Path(__file__).resolve().parents[2]
INGEST = (
    "import sys; from replay.commands.ingest import ingest; "
    "ingest.main(sys.argv[1:], prog_name='ledger ingest')"
)

# One event row as compared between stores: originator id, version, topic, and the
# state without its recorded time (the wall clock's, different in every run).
Row = tuple[str, int, str, str]


def ingest_command(url: str, path: Path, batch_size: int) -> list[str]:
    return [
        sys.executable,
        "-c",
        INGEST,
        "--store",
        url,
        "--batch-size",
        str(batch_size),
        str(path),
    ]


class LogSize:
    """The log's last position, read directly over one kept connection (polled often:
    a new PostgreSQL connection each time would cost a backend process each time)."""

    def __init__(self, url: str) -> None:
        location = parse_store_url(url)
        self._sqlite = location.sqlite_path
        self._schema = location.env.get("POSTGRES_SCHEMA", "")
        self._pg = None if self._sqlite else psycopg.connect(url.split("?")[0], autocommit=True)
        self._lite: sqlite3.Connection | None = None

    def __call__(self) -> int:
        try:
            if self._pg is not None:
                row = self._pg.execute(
                    f'SELECT max(notification_id) FROM "{self._schema}".ledger_events'
                ).fetchone()
                return int(row[0] or 0) if row else 0
            if self._lite is None:
                if self._sqlite is None or not self._sqlite.exists():
                    return 0
                self._lite = sqlite3.connect(self._sqlite, timeout=30)
            return int(
                self._lite.execute("SELECT max(rowid) FROM ledger_events").fetchone()[0] or 0
            )
        except (sqlite3.OperationalError, psycopg.errors.UndefinedTable):
            return 0  # the table is not there yet

    def close(self) -> None:
        for conn in (self._pg, self._lite):
            if conn is not None:
                conn.close()


@dataclass
class CrashRun:
    kills: int = 0
    completed_early: int = 0


def crash_repeatedly(
    url: str,
    path: Path,
    *,
    kills: int,
    expected_events: int,
    seed: int,
    batch_size: int,
    timeout: float = 120.0,
) -> CrashRun:
    """Start the ingest `kills` times, SIGKILL each at a seeded random point, then let one
    last run finish. Targets spread over the log in order, so each run gets further."""
    rng = random.Random(seed)
    targets = sorted(rng.randrange(1, int(expected_events * 0.95)) for _ in range(kills))
    command = ingest_command(url, path, batch_size)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    run = CrashRun()
    size = LogSize(url)
    try:
        for target in targets:
            proc = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            deadline = time.monotonic() + timeout
            while proc.poll() is None and size() < target:
                if time.monotonic() > deadline:
                    proc.kill()
                    raise TimeoutError(f"ingest did not reach {target} events in {timeout} s")
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.05))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                run.kills += 1
            else:
                run.completed_early += 1
            _, err = proc.communicate(timeout=timeout)
            if proc.returncode not in (0, -signal.SIGKILL):
                raise RuntimeError(f"ingest failed ({proc.returncode}): {err.decode()[-2000:]}")
    finally:
        size.close()
    final = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, timeout=timeout, check=False
    )
    if final.returncode != 0:
        raise RuntimeError(f"final ingest failed: {final.stderr.decode()[-2000:]}")
    return run


def log_rows(url: str) -> list[Row]:
    """The whole log in order, without positions (PostgreSQL's may have gaps), hashes and
    recorded times."""
    rows: list[Row] = []
    with open_recorder(url, create=False) as rec:
        start = 1
        while True:
            page = rec.chain_rows(start, 10_000)
            for _pos, oid, version, topic, state, _rec, _hash in page:
                doc = json.loads(state)
                doc.pop("recorded_at", None)
                rows.append((oid, version, topic, json.dumps(doc, sort_keys=True)))
            if len(page) < 10_000:
                return rows
            start = page[-1][0] + 1


def source_positions(url: str) -> dict[str, int]:
    with open_recorder(url, create=False) as rec:
        return rec.source_positions()
