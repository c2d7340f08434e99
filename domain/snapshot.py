"""Snapshots of the whole ledger state: restore(snapshot(L)) then the tail == the full replay.

A snapshot is canonical JSON of every aggregate's state (Decimals as strings),
never pickle: a snapshot read back from a database must not be able to run code.

Layout (FORMAT 2). A long-lived ledger keeps every order it ever saw, and every fill of
every position, so the state grows with history while what changes stays small. The
snapshot is therefore cut into sections, each readable on its own, so that a reader
pays for what it needs rather than for history:

    MAGIC | header length (4 bytes, big-endian) | header (JSON) | body

- `hot`: the account, the kill switch, the positions without their fills, the marks,
  held reports, quarantined ids (zlib JSON);
- `orders`: every order in the ledger's order, in chunks of CHUNK (zlib JSON each), with
  `ids`, the orders' 16-byte ids in the same order, to find one without decompressing
  the others;
- `fills` (one part per position), `versions`, `recent` (zlib JSON): what only deciding
  or a correction needs;
- `rows` (optional): each order's row pre-rendered by the caller (`RowRenderer`), each
  followed by the separator, in blocks of ROW_BLOCK rows, each block LZ4-compressed
  (about a tenth of the size, decompressed at gigabytes a second), with where each row
  starts in the uncompressed whole (4-byte little-endian integers, read only when rows
  must be cut out), so that a state document can be written out without building an
  Order per historical order, and without holding every row in memory at once
  (`RowRun.pieces`: one block at a time).

`restore_ledger` rebuilds everything; `Snapshot.restore_partial` only the hot part and
the orders and position fills asked for: enough to apply a known tail of events and
render a state document, never to decide or to be snapshotted again.
"""

from __future__ import annotations

import sys
import zlib
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import lz4.block
import orjson

from contracts import ExecutionReport, parse_message
from domain.account import Holding
from domain.killswitch import KillSwitchState
from domain.ledger import Ledger, LedgerConfig
from domain.order import Fill, Order
from domain.order_table import OrderStatus, OrderTransition
from domain.position import Position, PositionFill
from domain.recent import Recent

FORMAT = 3
MAGIC = b"LEDGER-SNAPSHOT\n"
CHUNK = 512  # orders per compressed chunk: a lookup decompresses one
# Pre-rendered rows per LZ4 block: ~0.5 MB uncompressed, so that writing a document
# reuses a few cache-sized buffers instead of faulting in one the size of every row.
ROW_BLOCK = 2048


class SnapshotFormatError(ValueError):
    """The bytes are not a snapshot this code can read (another format, or damaged)."""


@dataclass(frozen=True, slots=True)
class RowRenderer:
    """How the caller renders one order's document row, and what separates two rows."""

    render: Callable[[Order], bytes]
    sep: bytes


def _d(x: Decimal | None) -> str | None:
    return None if x is None else str(x)


def _D(x: str | None) -> Decimal | None:
    return None if x is None else Decimal(x)


def _t(x: datetime | None) -> str | None:
    return None if x is None else x.isoformat()


def _T(x: str | None) -> datetime | None:
    return None if x is None else datetime.fromisoformat(x)


# ============================================================================ writing


def snapshot_ledger(ledger: Ledger, rows: RowRenderer | None = None) -> bytes:
    body = bytearray()

    def put(data: bytes, compress: bool = True) -> list[int]:
        part = zlib.compress(data, 1) if compress else data
        body.extend(part)
        return [len(body) - len(part), len(part)]

    orders = list(ledger.orders.values())
    positions = list(ledger.positions.values())
    # In the order a state document reads them: a database reads a large value from its
    # start (SQLite follows a chain of pages), so what is read often comes first.
    header: dict[str, Any] = {
        "format": FORMAT,
        "chunk": CHUNK,
        "hot": put(orjson.dumps(_hot(ledger, positions))),
        "ids": put(b"".join(o.intent_id.bytes for o in orders), compress=False),
        "rows": None,
    }
    if rows is not None:
        # Each row followed by the separator: the rows of any run of orders are one
        # stretch of the uncompressed whole (less the last separator).
        rendered = [rows.render(o) + rows.sep for o in orders]
        offsets, at = array("I"), 0
        for r in rendered:
            offsets.append(at)
            at += len(r)
        if sys.byteorder == "big":  # stored little-endian
            offsets.byteswap()
        blocks = [b"".join(rendered[i : i + ROW_BLOCK]) for i in range(0, len(rendered), ROW_BLOCK)]
        header["rows"] = {
            "sep": len(rows.sep),
            "offsets": put(offsets.tobytes(), compress=False),
            # [offset, length, uncompressed length] of each block
            "blocks": [
                [*put(lz4.block.compress(b, store_size=False), compress=False), len(b)]
                for b in blocks
            ],
        }
    header["orders"] = [
        put(orjson.dumps([_order(o) for o in orders[i : i + CHUNK]]))
        for i in range(0, len(orders), CHUNK)
    ]
    header["fills"] = [put(orjson.dumps(_position_fills(p))) for p in positions]
    header["versions"] = put(orjson.dumps({str(k): v for k, v in ledger.versions.items()}))
    header["recent"] = put(orjson.dumps(_recent(ledger)))
    head = orjson.dumps(header)
    return MAGIC + len(head).to_bytes(4, "big") + head + bytes(body)


def _hot(ledger: Ledger, positions: list[Position]) -> dict[str, Any]:
    a, ks = ledger.account, ledger.killswitch
    return {
        "positions": [
            [
                str(p.id),
                p.account,
                p.symbol,
                _d(p.multiplier),
                p.version,
                _d(p.quantity),
                _d(p.avg_price),
                _d(p.realized_pnl),
                _d(p.commission),
                _d(p.last_fill_price),
                _d(p.cost),
            ]
            for p in positions
        ],
        "account": {
            "version": a.version,
            "opened": a.opened,
            "cash": _d(a.cash),
            "day": a.day.isoformat() if a.day else None,
            "opening_equity": _d(a.opening_equity),
            "high_water_mark": _d(a.high_water_mark),
            "daily_returns": [_d(r) for r in a.daily_returns],
            "active_returns": [_d(r) for r in a.active_returns],
            "traded_today": a.traded_today,
            "marks": {k: _d(v) for k, v in a.marks.items()},
            "market_marked": sorted(a.market_marked),
            "holdings": [
                [k[0], k[1], _d(h.quantity), _d(h.multiplier)] for k, h in a.holdings.items()
            ],
            "exposure": {k: _d(v) for k, v in a.exposure.items()},
            "market_value": _d(a.market_value),
        },
        "killswitch": [ks.state.value, ks.version, _t(ks.since), ks.reason, ks.by, ks.trigger],
        "held": {str(k): [t for t, _ in v] for k, v in ledger.held.items()},
        "quarantined": sorted(str(q) for q in ledger.quarantined),
        "last_bar": [[s, b, _t(t)] for (s, b), t in ledger.market.last_bar.items()],
        "last_tick": {
            s: [_t(t[0]), _d(t[1]), _d(t[2]), t[3]] for s, t in ledger.market.last_tick.items()
        },
        "last_ofi": {s: _t(t) for s, t in ledger.market.last_ofi.items()},
        "last_recorded_at": _t(ledger.last_recorded_at),
    }


def _recent(ledger: Ledger) -> list[Any]:
    return [
        [list(stream), [_key(k) for k in memory.items()]]
        for stream, memory in ledger.market.recent.items()
    ]


def _position_fills(p: Position) -> list[Any]:
    return [
        [f.exec_id, _d(f.signed_quantity), _d(f.price), _d(f.commission)] for f in p.fills.values()
    ]


def _key(k: object) -> Any:
    if isinstance(k, tuple):  # a tick: (time, price, size, type)
        return [_t(k[0]), _d(k[1]), _d(k[2]), k[3]]
    return _t(k)  # type: ignore[arg-type]


def _unkey(k: Any) -> object:
    if isinstance(k, list):
        return (_T(k[0]), Decimal(k[1]), Decimal(k[2]), k[3])
    return _T(k)


def _order(o: Order) -> list[Any]:
    return [
        str(o.intent_id),
        o.symbol,
        o.side,
        _d(o.quantity),
        o.order_type,
        _d(o.limit_price),
        _d(o.stop_price),
        o.account,
        o.origin,
        o.status.value,
        o.version,
        o.status_before_cancel.value,
        o.broker_order_id,
        _d(o.filled),
        _d(o.avg_fill_price),
        _d(o.commission),
        [[f.exec_id, _d(f.quantity), _d(f.price), _d(f.commission)] for f in o.fills.values()],
        sorted(o.refused),
        sorted(t.value for t in o.seen),
        {k: sorted(str(c) for c in v) for k, v in o.commissions_seen.items()},
        _d(o.high_filled),
    ]


# ============================================================================ reading


def _order_from(o: list[Any]) -> Order:
    (iid, sym, side, qty, otype, limit, stop, acct, origin, status, version, before, broker) = o[
        :13
    ]
    filled, avg, commission, fills, refused, seen, commissions, high = o[13:]
    order = Order(
        UUID(iid),
        sym,
        side,
        Decimal(qty),
        otype,
        _D(limit),
        _D(stop),
        acct,
        origin,
        OrderStatus(status),
        version,
        OrderStatus(before),
        broker,
        Decimal(filled),
        Decimal(avg),
        Decimal(commission),
    )
    for exec_id, q, p, c in fills:
        order.fills[exec_id] = Fill(exec_id, Decimal(q), Decimal(p), Decimal(c))
        order.exec_by_base[exec_id.rpartition(".")[0] or exec_id] = exec_id
    order.refused = set(refused)
    order.seen = {OrderTransition(t) for t in seen}
    order.commissions_seen = {k: {Decimal(c) for c in v} for k, v in commissions.items()}
    order.high_filled = Decimal(high)
    return order


Reader = Callable[[int, int], bytes]  # (offset, length) -> those bytes of a snapshot


class Snapshot:
    """The sections of a snapshot, each read and decoded when first asked for: from the
    bytes, or through a reader of byte ranges (a snapshot in a database is read only as
    far as it is used)."""

    def __init__(self, source: bytes | Reader) -> None:
        self._read: Reader = (
            (lambda at, n: source[at : at + n]) if isinstance(source, bytes) else source
        )
        start = self._read(0, len(MAGIC) + 4)
        if not start.startswith(MAGIC) or len(start) < len(MAGIC) + 4:
            raise SnapshotFormatError("not a ledger snapshot (or an older format)")
        size = int.from_bytes(start[len(MAGIC) :], "big")
        try:
            self.header: dict[str, Any] = orjson.loads(self._read(len(start), size))
        except orjson.JSONDecodeError as e:
            raise SnapshotFormatError(f"damaged snapshot header: {e}") from e
        if self.header.get("format") != FORMAT:
            raise SnapshotFormatError(f"snapshot format {self.header.get('format')!r}")
        self._base = len(start) + size
        self.chunk: int = self.header["chunk"]  # orders per chunk
        self._chunks: dict[int, list[Any]] = {}
        self._ids: bytes | None = None
        self._blocks: bytes | None = None  # the compressed row blocks, read at once
        self._block: tuple[int, bytes] = (-1, b"")  # the block last decompressed
        self._starts: list[int] = []

    def _raw(self, part: list[int], skip: int = 0, less: int = 0) -> bytes:
        return self._read(self._base + part[0] + skip, part[1] - skip - less)

    def _json(self, part: list[int]) -> Any:
        return orjson.loads(zlib.decompress(self._raw(part)))

    def load(self) -> None:
        """Read the whole snapshot at once (before using most of it)."""
        end = max(p[0] + p[1] for p in self._parts())
        body = self._raw([0, end])
        self._base, self._read = 0, lambda at, n: body[at : at + n]

    def _parts(self) -> list[list[int]]:
        h = self.header
        out = [h["hot"], h["recent"], h["versions"], h["ids"], *h["fills"], *h["orders"]]
        if h["rows"] is not None:
            out += [h["rows"]["offsets"], *(b[:2] for b in h["rows"]["blocks"])]
        return out

    @property
    def order_count(self) -> int:
        return int(self.header["ids"][1]) // 16

    def order_index(self, intent_id: UUID) -> int | None:
        """Where the order is in the ledger's order; None when the snapshot has none."""
        if self._ids is None:
            self._ids = self._raw(self.header["ids"])
        key, at = intent_id.bytes, 0
        while (at := self._ids.find(key, at)) >= 0:
            if at % 16 == 0:
                return at // 16
            at += 1
        return None

    def order(self, index: int) -> Order:
        n = index // self.chunk
        chunk = self._chunks.get(n)
        if chunk is None:
            chunk = self._chunks[n] = self._json(self.header["orders"][n])
        return _order_from(chunk[index % self.chunk])

    @property
    def has_rows(self) -> bool:
        return self.header["rows"] is not None

    def rows_around(self, indexes: Iterable[int]) -> list[RowRun | int]:
        """Every order's pre-rendered row, in the ledger's order, as runs of rows (joined
        by the separator) with the orders at `indexes` left out, each as its index in
        the place of its row. Nothing is decompressed until a run's pieces are asked
        for."""
        rows = self.header["rows"]
        if rows is None:
            raise SnapshotFormatError("this snapshot was taken without rows")
        sep, count, size = rows["sep"], self.order_count, self._row_starts()[-1]
        cut = sorted({i for i in indexes if 0 <= i < count})
        if not count:
            return []
        if not cut:
            return [RowRun(self, 0, size - sep)]
        offsets = array("I", self._raw(rows["offsets"]))
        if sys.byteorder == "big":
            offsets.byteswap()
        first = offsets[cut[0]]
        out: list[RowRun | int] = [RowRun(self, 0, first - sep)] if first else []
        bounds = [*(offsets[i] for i in cut), size]
        for k, i in enumerate(cut):
            out.append(i)
            start = offsets[i + 1] if i + 1 < count else size
            if start < bounds[k + 1]:
                out.append(RowRun(self, start, bounds[k + 1] - sep))
        return out

    def _row_starts(self) -> list[int]:
        """Where each block starts in the uncompressed rows, and their end."""
        if not self._starts:
            self._starts.append(0)
            for block in self.header["rows"]["blocks"]:
                self._starts.append(self._starts[-1] + block[2])
        return self._starts

    def row_pieces(self, start: int, end: int) -> Iterator[memoryview]:
        """The uncompressed rows from byte `start` to `end`, one block's stretch at a
        time: a view of that block, decompressed when first reached."""
        blocks = self.header["rows"]["blocks"]
        if self._blocks is None:  # one read: every block of a document is used
            first = blocks[0][0]
            self._blocks = self._raw([first, blocks[-1][0] + blocks[-1][1] - first])
        starts = self._row_starts()
        n = bisect_right(starts, start) - 1
        while start < end:
            if self._block[0] != n:  # runs meet inside a block: keep the last one
                at, length, size = blocks[n]
                at -= blocks[0][0]
                data = memoryview(self._blocks)[at : at + length]
                try:
                    block = lz4.block.decompress(data, uncompressed_size=size)
                except lz4.block.LZ4BlockError as e:
                    raise SnapshotFormatError(f"damaged row block {n}: {e}") from e
                if len(block) != size:
                    raise SnapshotFormatError(f"row block {n}: {len(block)} bytes, not {size}")
                self._block = (n, block)
            stop = min(end, starts[n + 1])
            yield memoryview(self._block[1])[start - starts[n] : stop - starts[n]]
            start, n = stop, n + 1

    # ------------------------------------------------------------------ restoring

    def restore(self, config: LedgerConfig) -> Ledger:
        """The whole ledger, as it was."""
        self.load()
        ledger = self._restore_hot(config, fills_for=None)
        for n, part in enumerate(self.header["orders"]):
            chunk = self._chunks.pop(n, None) or self._json(part)
            for o in chunk:
                order = _order_from(o)
                ledger.orders[order.intent_id] = order
        ledger.versions = {UUID(k): v for k, v in self._json(self.header["versions"]).items()}
        for (kind, symbol, bar_size), keys in self._json(self.header["recent"]):
            memory = ledger.market.recent[(kind, symbol, bar_size)] = Recent()
            for k in keys:
                memory.add(_unkey(k))
        return ledger

    def restore_partial(
        self,
        config: LedgerConfig,
        orders: Iterable[UUID] = (),
        fills_for: Iterable[tuple[str, str]] = (),
    ) -> Ledger:
        """A ledger with the hot state, only the `orders` named (those the snapshot has)
        and only the positions in `fills_for` with their fills: apply events that touch
        nothing else to it, render documents from it; never decide with it."""
        ledger = self._restore_hot(config, fills_for=set(fills_for))
        for intent_id in orders:
            index = self.order_index(intent_id)
            if index is not None:
                ledger.orders[intent_id] = self.order(index)
        return ledger

    def _restore_hot(self, config: LedgerConfig, fills_for: set[tuple[str, str]] | None) -> Ledger:
        s = self._json(self.header["hot"])
        ledger = Ledger(config)
        for n, p in enumerate(s["positions"]):
            q, avg, realized, commission, last_price, cost = map(Decimal, p[5:])
            pos = Position(
                UUID(p[0]),
                p[1],
                p[2],
                Decimal(p[3]),
                p[4],
                q,
                avg,
                realized,
                commission,
                last_price,
                cost,
            )
            if fills_for is None or (pos.account, pos.symbol) in fills_for:
                for exec_id, q, price, c in self._json(self.header["fills"][n]):
                    pos.fills[exec_id] = PositionFill(
                        exec_id, Decimal(q), Decimal(price), Decimal(c)
                    )
            ledger.positions[(pos.account, pos.symbol)] = pos
        a, sa = ledger.account, s["account"]
        a.version, a.opened, a.cash = sa["version"], sa["opened"], Decimal(sa["cash"])
        a.day = date.fromisoformat(sa["day"]) if sa["day"] else None
        a.opening_equity = Decimal(sa["opening_equity"])
        a.high_water_mark = Decimal(sa["high_water_mark"])
        a.daily_returns = [Decimal(r) for r in sa["daily_returns"]]
        a.active_returns = [Decimal(r) for r in sa["active_returns"]]
        a.traded_today = sa["traded_today"]
        a.marks = {k: Decimal(v) for k, v in sa["marks"].items()}
        a.market_marked = set(sa["market_marked"])
        a.holdings = {
            (acct, sym): Holding(Decimal(q), Decimal(m)) for acct, sym, q, m in sa["holdings"]
        }
        a.exposure = {k: Decimal(v) for k, v in sa["exposure"].items()}
        a.market_value = Decimal(sa["market_value"])
        ks = ledger.killswitch
        state, ks.version, since, ks.reason, ks.by, ks.trigger = s["killswitch"]
        ks.state, ks.since = KillSwitchState(state), _T(since)
        for intent, texts in s["held"].items():
            reports = [(t, parse_message(t)) for t in texts]
            ledger.held[UUID(intent)] = [
                (t, r) for t, r in reports if isinstance(r, ExecutionReport)
            ]
        ledger.quarantined = {UUID(q) for q in s["quarantined"]}
        ledger.market.last_bar = {(sym, bar): _T(t) for sym, bar, t in s["last_bar"]}  # type: ignore[misc]
        ledger.market.last_tick = {
            sym: (_T(t[0]), Decimal(t[1]), Decimal(t[2]), t[3])  # type: ignore[misc]
            for sym, t in s["last_tick"].items()
        }
        ledger.market.last_ofi = {sym: _T(t) for sym, t in s["last_ofi"].items()}  # type: ignore[misc]
        ledger.last_recorded_at = _T(s["last_recorded_at"])
        return ledger


@dataclass(frozen=True, slots=True)
class RowRun:
    """Consecutive pre-rendered rows of a snapshot, from byte `start` to `end` of its
    uncompressed rows: written out piece by piece, never joined unless asked."""

    snapshot: Snapshot
    start: int
    end: int

    def pieces(self) -> Iterator[memoryview]:
        return self.snapshot.row_pieces(self.start, self.end)

    def join(self) -> bytes:
        return b"".join(self.pieces())


def restore_ledger(data: bytes | Snapshot, config: LedgerConfig) -> Ledger:
    return (data if isinstance(data, Snapshot) else Snapshot(data)).restore(config)
