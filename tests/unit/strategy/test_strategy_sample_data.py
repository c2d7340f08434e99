"""The bundled sample bars: format the backtest reads, and reproducible from the generator."""

from __future__ import annotations

import csv
import importlib.util
import re
import sys
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest

DATA = Path(__file__).resolve().parents[3] / "data"
SAMPLE = DATA / "sample"
HEADER = ["timestamp", "open", "high", "low", "close", "volume"]
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
PRICE = re.compile(r"^\d+\.\d{2}$")
FILES = sorted(SAMPLE.iterdir())


def load_generator() -> ModuleType:
    name = "tradeledger_data_generate_sample"
    spec = importlib.util.spec_from_file_location(name, DATA / "generate_sample.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is built.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def read(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def test_sample_holds_only_symbol_csv_files() -> None:
    assert [p.name for p in FILES] == ["AAPL.csv", "GLD.csv", "MSFT.csv", "SPY.csv", "TLT.csv"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_bars_are_well_formed(path: Path) -> None:
    header, rows = read(path)

    assert header == HEADER
    assert 750 <= len(rows) <= 800  # about three years of daily bars
    stamps = [row[0] for row in rows]
    assert all(TIMESTAMP.match(s) for s in stamps)
    assert stamps == sorted(set(stamps))
    for stamp, *prices, volume in rows:
        assert all(PRICE.match(p) for p in prices), stamp
        o, h, low, c = (Decimal(p) for p in prices)
        assert h >= max(o, c) and low <= min(o, c) and low > 0, stamp
        assert volume.isdigit() and int(volume) > 0, stamp


def test_all_symbols_share_the_same_timestamps() -> None:
    stamps = {tuple(row[0] for row in read(path)[1]) for path in FILES}

    assert len(stamps) == 1


def test_sample_contains_a_sharp_drawdown() -> None:
    closes = [Decimal(row[4]) for row in read(SAMPLE / "SPY.csv")[1]]
    peak = closes[0]
    worst = Decimal(0)
    for close in closes:
        peak = max(peak, close)
        worst = min(worst, close / peak - 1)

    assert worst < Decimal("-0.15")


def test_generator_reproduces_the_bundled_files_byte_for_byte(tmp_path: Path) -> None:
    generator = load_generator()

    written = generator.generate(tmp_path)

    assert [p.name for p in written] == [f"{s}.csv" for s in ("AAPL", "MSFT", "SPY", "GLD", "TLT")]
    for path in written:
        assert path.read_bytes() == (SAMPLE / path.name).read_bytes(), path.name
