"""Crash consistency: `ledger ingest` killed with SIGKILL at 20 seeded random points and
restarted each time ends with the same store as one clean run: the same events in the
same order (compared without recorded time and hash, which follow the wall clock), the
same source positions, no duplicate, and a chain that verifies. On both stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.files import read_jsonl
from adapters.store.verify import verify_store
from bench.workload import write
from tests.conftest import make_app
from tests.support.crash import crash_repeatedly, log_rows, source_positions

pytestmark = pytest.mark.slow

MESSAGES = 20_000
KILLS = 20
BATCH = 1_000
SEED = 20251117


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("crash") / "workload.jsonl"
    write(str(path), MESSAGES)
    return path


def test_sigkill_at_random_points_then_restart_equals_one_clean_run(
    store_url: str, workload: Path, tmp_path: Path
) -> None:
    clean_url = f"sqlite:///{tmp_path / 'clean.db'}"
    clean = make_app(clean_url)
    clean.ingest(read_jsonl(workload), batch_size=5_000)  # other batches than the crashed run
    clean.close()
    expected = log_rows(clean_url)

    run = crash_repeatedly(
        store_url, workload, kills=KILLS, expected_events=len(expected), seed=SEED, batch_size=BATCH
    )

    assert run.kills == KILLS, run
    crashed = log_rows(store_url)
    assert len(crashed) == len(expected)
    assert len(set((o, v) for o, v, _, _ in crashed)) == len(crashed)  # no duplicate
    assert crashed == expected
    assert source_positions(store_url) == source_positions(clean_url)
    report = verify_store(store_url)
    assert report.ok and report.events == len(expected)
