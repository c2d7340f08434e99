"""Bar files: what loads, exactly, and every way a file is refused (file and line named)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adapters.backtest.data import DataFileError, discover, load, load_file
from adapters.backtest.feed import _CTX
from tests.unit.backtest.bars_support import HEADER, write_bars


def decimals(series_column: object, i: int) -> Decimal:
    m = series_column.mantissa[i]  # type: ignore[attr-defined]
    e = series_column.exponent[i]  # type: ignore[attr-defined]
    return _CTX.scaleb(Decimal(int(m)), int(e))


def write(tmp_path: Path, text: str, name: str = "AAPL.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_values_are_kept_exactly(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER + "2024-01-02T21:00:00Z,181.70,183.1,1e2,0.00005,60586826\n"
        "2024-01-03T16:00:00-05:00,1,2,0.5,1.50,0\n",
    )
    s = load_file(path)
    assert (s.symbol, s.source, len(s)) == ("AAPL", "backtest:AAPL.csv", 2)
    assert [str(decimals(s.columns[f], 0)) for f in ("open", "high", "low", "close", "volume")] == [
        "181.70",
        "183.1",
        "1E+2",
        "0.00005",
        "60586826",
    ]
    assert s.lines.tolist() == [2, 3]
    # -05:00 is read as the instant it names, held in UTC
    assert s.times[1] - s.times[0] == 24 * 3600 * 1_000_000


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ("timestamp,open,high,low,close\n", 1, "header must be"),
        (
            HEADER + "2024-01-02T21:00:00Z,1,2,0.5,1,10\n2024-01-01T21:00:00Z,1,2,0.5,1,10\n",
            3,
            "out of order",
        ),
        (
            HEADER + "2024-01-02T21:00:00Z,1,2,0.5,1,10\n2024-01-02T21:00:00Z,1,2,0.5,1,10\n",
            3,
            "repeated timestamp",
        ),
        (HEADER + "2024-01-02T21:00:00Z,1,abc,0.5,1,10\n", 2, "high: not a non-negative decimal"),
        (HEADER + "2024-01-02T21:00:00Z,1,2,0.5,NaN,10\n", 2, "close: not a non-negative decimal"),
        (HEADER + "2024-01-02T21:00:00Z,-1,2,0.5,1,10\n", 2, "open: not a non-negative decimal"),
        (HEADER + "2024-01-02T21:00:00Z,1,2,0.5,1,1_000\n", 2, "volume: not a non-negative"),
        (HEADER + "2024-01-02T21:00:00,1,2,0.5,1,10\n", 2, "needs a zone"),
        (HEADER + "yesterday,1,2,0.5,1,10\n", 2, "not an ISO-8601 time"),
        (HEADER + "2024-01-02T21:00:00Z,1,2,3,1,10\n", 2, "low (3) exceeds high (2)"),
        (HEADER + "2024-01-02T21:00:00Z,1,2,0.5,1\n", 2, "expected 6 fields, got 5"),
    ],
)
def test_bad_csv_names_file_and_line(tmp_path: Path, body: str, line: int, words: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(DataFileError) as caught:
        load_file(path)
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert words in str(caught.value)
    assert caught.value.line == line


def test_header_only_file_has_no_bars(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER)
    with pytest.raises(DataFileError, match="no bars"):
        load_file(path)


def test_discover_reads_directories_and_refuses_two_files_per_symbol(tmp_path: Path) -> None:
    rows = [("1", "1", "1", "1")]
    a = write_bars(tmp_path / "a", "SPY", rows)
    write_bars(tmp_path / "a", "TLT", rows)
    (tmp_path / "a" / "README.md").write_text("not data")
    assert [p.name for p in discover([tmp_path / "a"])] == ["SPY.csv", "TLT.csv"]
    b = write_bars(tmp_path / "b", "SPY", rows)
    with pytest.raises(DataFileError, match="a second file for symbol SPY"):
        discover([a, b])
    with pytest.raises(DataFileError, match="no such file"):
        discover([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFileError, match=r"no \.csv or \.parquet"):
        discover([tmp_path / "empty"])


def test_load_orders_series_by_symbol(tmp_path: Path) -> None:
    rows = [("1", "1", "1", "1")]
    write_bars(tmp_path, "TLT", rows)
    write_bars(tmp_path, "AAPL", rows)
    assert [s.symbol for s in load([tmp_path])] == ["AAPL", "TLT"]


def test_parquet_with_decimal_float_and_timestamp_columns(tmp_path: Path) -> None:
    table = pa.table(
        {
            "timestamp": pa.array(
                [datetime(2024, 1, 2, 21, tzinfo=UTC), datetime(2024, 1, 3, 21, tzinfo=UTC)],
                pa.timestamp("us", "UTC"),
            ),
            "open": pa.array([Decimal("1.10"), Decimal("1.20")], pa.decimal128(10, 2)),
            "high": pa.array([1.25, 1.3]),
            "low": pa.array(["1.05", "1.1"]),
            "close": pa.array([Decimal("1.20"), Decimal("1.25")], pa.decimal128(10, 2)),
            "volume": pa.array([10, 20], pa.int64()),
        }
    )
    pq.write_table(table, tmp_path / "EURUSD.parquet")
    s = load_file(tmp_path / "EURUSD.parquet")
    assert [str(decimals(s.columns["high"], i)) for i in (0, 1)] == ["1.25", "1.3"]
    assert str(decimals(s.columns["open"], 0)) == "1.10"
    assert s.lines.tolist() == [1, 2]


def test_parquet_with_other_columns_is_refused(tmp_path: Path) -> None:
    pq.write_table(pa.table({"ts": [1], "price": [1.0]}), tmp_path / "X.parquet")
    with pytest.raises(DataFileError, match="columns must be timestamp,open,high,low,close,volume"):
        load_file(tmp_path / "X.parquet")


def test_parquet_null_names_the_row(tmp_path: Path) -> None:
    table = pa.table(
        {
            "timestamp": ["2024-01-02T21:00:00Z", "2024-01-03T21:00:00Z"],
            "open": [1.0, None],
            "high": [1.0, 1.0],
            "low": [1.0, 1.0],
            "close": [1.0, 1.0],
            "volume": [1, 1],
        }
    )
    pq.write_table(table, tmp_path / "X.parquet")
    with pytest.raises(DataFileError, match=r"X.parquet:2: open: not a non-negative"):
        load_file(tmp_path / "X.parquet")
