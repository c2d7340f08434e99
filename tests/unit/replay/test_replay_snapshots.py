"""Persisted snapshots (`ledger_snapshots`) and the state document from a snapshot: the
same document as a replay from the start, byte for byte in JSON; a snapshot that does
not fit the log, the code or the configuration is not used."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal

import orjson
import pytest

from adapters.store import open_recorder
from adapters.store.snapshots import AS_OF_ROWS, SnapshotRecord, SnapshotTable
from domain.ledger import Ledger, LedgerConfig
from domain.snapshot import RowRenderer, RowRun, Snapshot, SnapshotFormatError, snapshot_ledger
from projections.views import order_rows
from replay.render import to_json, write_json
from replay.report.window import state_at
from replay.snapshots import StoreSnapshots, expand_rows, snapshot_document
from replay.state import (
    EVERYTHING,
    EventLog,
    Filter,
    Rebuilder,
    open_event_log,
    order_row,
    state_document,
)
from tests.unit.replay.replay_history import demo_store

CONFIG = LedgerConfig()


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('snapshots') / 'ledger.db'}"
    demo_store(url)
    return url


@pytest.fixture
def log(url: str) -> Iterator[EventLog]:
    with open_event_log(url) as opened:
        yield opened


def _ledger_at(log: EventLog, position: int) -> Ledger:
    return Rebuilder(log, CONFIG).state_at(position)


def _expected(log: EventLog, position: int, flt: Filter = EVERYTHING) -> dict[str, object]:
    return state_document(_ledger_at(log, position), flt)


class Given:
    """A snapshot source handing out one snapshot."""

    def __init__(self, position: int, data: bytes) -> None:
        self.position, self.data = position, data

    def nearest(self, position: int) -> tuple[int, bytes] | None:
        return (self.position, self.data) if self.position <= position else None

    def offer(self, position: int, ledger: Ledger) -> None:
        return None


def test_the_pre_rendered_rows_are_the_order_rows_as_to_json_prints_them(log: EventLog) -> None:
    ledger = _ledger_at(log, log.last_position())
    doc = state_document(ledger)
    [run] = Snapshot(snapshot_ledger(ledger, AS_OF_ROWS)).rows_around([])
    assert isinstance(run, RowRun)
    assert doc["orders"] == order_rows(ledger)
    assert to_json(doc).encode().count(run.join()) == 1


@pytest.mark.parametrize("chunk", [1, 2, 512])
def test_document_from_any_snapshot_equals_the_replay(
    log: EventLog, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("domain.snapshot.CHUNK", chunk)
    monkeypatch.setattr("domain.snapshot.ROW_BLOCK", chunk)  # rows cut across blocks too
    last = log.last_position()
    orders = list(_ledger_at(log, last).orders)
    for at in range(0, last + 1, 3):
        data = snapshot_ledger(_ledger_at(log, at), AS_OF_ROWS)
        for position in sorted({at, min(at + 1, last), min(at + 7, last), last}):
            want = _expected(log, position)
            doc = snapshot_document(log, CONFIG, (at, data), position)
            assert doc is not None
            assert to_json(doc) == to_json(want)  # byte for byte, rows pre-rendered
            out = io.BytesIO()
            write_json(doc, out)  # as the command writes it, a piece at a time
            assert out.getvalue() == to_json(want).encode() + b"\n"
            assert expand_rows(doc) == want
            for order in orders[:: max(1, len(orders) // 3)]:
                flt = Filter(order=order)
                assert snapshot_document(log, CONFIG, (at, data), position, flt) == _expected(
                    log, position, flt
                )


@pytest.mark.parametrize("block", [1, 3, 2048])
def test_rows_around_any_cut_are_the_rows_in_order(
    log: EventLog, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("domain.snapshot.ROW_BLOCK", block)
    ledger = _ledger_at(log, log.last_position())
    rows = [orjson.dumps(order_row(o)) for o in ledger.orders.values()]
    snap = Snapshot(
        snapshot_ledger(ledger, RowRenderer(lambda o: orjson.dumps(order_row(o)), b","))
    )
    n = len(rows)
    for cut in ([], [0], [n - 1], [0, 1], [1, 3], list(range(n)), [2, n - 2, n - 1]):
        out: list[bytes] = []
        parts = snap.rows_around(cut)
        for part in parts:
            if isinstance(part, int):
                out.append(rows[part])
            else:
                out += [orjson.dumps(r) for r in orjson.loads(b"[" + part.join() + b"]")]
        assert out == rows, cut
        assert [p for p in parts if isinstance(p, int)] == sorted(set(cut))


def test_snapshots_without_rows_or_filters_needing_every_order_fall_back(
    log: EventLog,
) -> None:
    last = log.last_position()
    plain = snapshot_ledger(_ledger_at(log, 10))
    assert snapshot_document(log, CONFIG, (10, plain), last) is None
    rendered = snapshot_ledger(_ledger_at(log, 10), AS_OF_ROWS)
    assert snapshot_document(log, CONFIG, (10, rendered), last, Filter(symbol="AAPL")) is None
    # ... and state_at then rebuilds from the snapshot, to the same document.
    for flt in (Filter(), Filter(symbol="AAPL")):
        got = state_at(log, CONFIG, last, flt, Given(10, plain))
        assert got == _expected(log, last, flt)
    assert state_at(log, CONFIG, last, Filter(symbol="AAPL"), Given(10, rendered)) == _expected(
        log, last, Filter(symbol="AAPL")
    )


# ============================================================================ the table


@pytest.fixture
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('table') / 'ledger.db'}"
    demo_store(url)
    return url


def test_table_is_append_only_and_keeps_one_snapshot_per_position(store: str) -> None:
    with open_recorder(store, create=False) as rec:
        table = SnapshotTable(rec)
        assert not table.exists()
        table.create()
        table.create()  # idempotent
        assert table.exists() and table.latest_position() == 0
        record = table.record_of(5, b"state", CONFIG, 1)
        assert table.append(record)
        assert not table.append(replace(record, state=b"other"))
        assert table.state(5) == b"state" and table.latest_position() == 5
        with rec.datastore.transaction(commit=True) as cur:
            for statement in (
                "UPDATE ledger_snapshots SET state = x'00'",
                "DELETE FROM ledger_snapshots",
            ):
                with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                    cur.execute(statement)
        assert table.state(5) == b"state"


def _write(url: str, position: int, config: LedgerConfig = CONFIG, **change: object) -> None:
    with open_recorder(url, create=False) as rec, open_event_log(url) as log:
        table = SnapshotTable(rec)
        table.create()
        data = snapshot_ledger(Rebuilder(log, config).state_at(position), AS_OF_ROWS)
        record: SnapshotRecord = replace(table.record_of(position, data, config, 0), **change)  # type: ignore[arg-type]
        table.append(record)


def test_replay_uses_only_snapshots_bound_to_this_log_code_and_config(store: str) -> None:
    with open_event_log(store) as log:
        last = log.last_position()
        want = _expected(log, last)
        source = StoreSnapshots(log, CONFIG)
        assert source.nearest(last) is None  # no table yet
    _write(store, 6, event_hash=b"\x00" * 32)  # another log's prefix
    _write(store, 8, code_version="other code")
    _write(store, 10, replace(CONFIG, starting_equity=Decimal(5)))  # another configuration
    with open_event_log(store) as log:
        source = StoreSnapshots(log, CONFIG)
        assert source.nearest(last) is None
        assert state_at(log, CONFIG, last, snapshots=source) == want
    _write(store, 4)
    _write(store, 12)
    with open_event_log(store) as log:
        source = StoreSnapshots(log, CONFIG)
        assert state_at(log, CONFIG, last, snapshots=source) == want
        assert source.used == 12
        assert state_at(log, CONFIG, 7, snapshots=source) == _expected(log, 7)
        assert source.used == 4  # 6 is another log's
        doc = state_at(log, CONFIG, last, snapshots=source, prerendered=True)
        assert to_json(doc) == to_json(want)


def test_a_damaged_row_block_is_a_format_error(log: EventLog) -> None:
    data = bytearray(snapshot_ledger(_ledger_at(log, log.last_position()), AS_OF_ROWS))
    snap = Snapshot(bytes(data))
    at, length, _ = snap.header["rows"]["blocks"][0]
    body = snap._base  # where the sections start
    data[body + at : body + at + length] = b"\xff" * length
    [run] = Snapshot(bytes(data)).rows_around([])
    assert isinstance(run, RowRun)
    with pytest.raises(SnapshotFormatError):
        run.join()
