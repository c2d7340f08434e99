"""Bar files -> validated, compact columns: one OHLCV file per symbol, named after it.

CSV with the header `timestamp,open,high,low,close,volume` (ISO-8601 times with
a zone; decimal numbers), or Parquet with the same columns (decimal, integer,
float or string numbers; timestamp or string times; a timestamp without a zone
is taken as UTC). The rules are the contract's for a BarEvent (non-negative
finite decimals, low <= high, a zone on every time) plus the file's own:
timestamps strictly increasing. A bad file raises `DataFileError` naming the
file and line (CSV: the line number, header = 1; Parquet: the row number).

Validating here, once, is what lets the engine build its BarEvents without
pydantic in the hot path (see `feed.py`). Numbers are kept exactly, as an
int64 mantissa and an int8 exponent per value (`181.70` -> 18170, -2), so a
stored bar says `181.70` when the file did, and a million bars cost ~45 MB.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from domain.codec import micros

HEADER = ("timestamp", "open", "high", "low", "close", "volume")
FIELDS = HEADER[1:]
SUFFIXES = (".csv", ".parquet")
# The contract's decimal text (contracts/fields.py), without a sign: bars are non-negative.
_DECIMAL_TEXT = re.compile(r"\+?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_INT64_DIGITS = 18

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


class DataFileError(Exception):
    """A bar file that cannot be used: says which file, which line, and what is wrong."""

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path, self.line = path, line


@dataclass(frozen=True, slots=True, eq=False)
class DecimalColumn:
    """Exact decimals as mantissa x 10**exponent."""

    mantissa: IntArray
    exponent: npt.NDArray[np.int8]

    def floats(self) -> FloatArray:
        return self.mantissa.astype(np.float64) * np.power(10.0, self.exponent.astype(np.float64))


@dataclass(frozen=True, slots=True, eq=False)
class BarSeries:
    symbol: str
    source: str  # "backtest:<file name>": never the path, so results do not depend on it
    times: IntArray  # UTC microseconds since the epoch, strictly increasing
    lines: IntArray  # where each bar is in its file (the ledger tracks it as the position)
    columns: dict[str, DecimalColumn]  # open, high, low, close, volume

    def __len__(self) -> int:
        return int(self.times.shape[0])


def discover(paths: list[Path]) -> list[Path]:
    """Files named by --data: a file as given, a directory's *.csv and *.parquet files."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in SUFFIXES)
            if not inside:
                raise DataFileError(path, None, "no .csv or .parquet bar files in this directory")
            found.extend(inside)
        elif path.is_file():
            if path.suffix not in SUFFIXES:
                raise DataFileError(path, None, "bar files must end in .csv or .parquet")
            found.append(path)
        else:
            raise DataFileError(path, None, "no such file or directory")
    symbols: dict[str, Path] = {}
    for p in found:
        if p.stem in symbols:
            raise DataFileError(p, None, f"a second file for symbol {p.stem} ({symbols[p.stem]})")
        symbols[p.stem] = p
    return found


def load(paths: list[Path]) -> list[BarSeries]:
    """Every series, ordered by symbol."""
    series = [load_file(p) for p in discover(paths)]
    return sorted(series, key=lambda s: s.symbol)


def load_file(path: Path) -> BarSeries:
    rows = _read_parquet(path) if path.suffix == ".parquet" else _read_csv(path)
    return _build(path, rows)


def _read_csv(path: Path) -> list[tuple[int, list[Any]]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or tuple(h.strip() for h in header) != HEADER:
                raise DataFileError(
                    path, 1, f"header must be {','.join(HEADER)}, got {','.join(header or [])!r}"
                )
            return [(reader.line_num, row) for row in reader if row]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataFileError(path, None, f"cannot read: {e}") from e


def _read_parquet(path: Path) -> list[tuple[int, list[Any]]]:
    import pyarrow as pa  # only Parquet needs it
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as e:
        raise DataFileError(path, None, f"cannot read Parquet: {e}") from e
    if tuple(table.column_names) != HEADER:
        raise DataFileError(
            path, None, f"columns must be {','.join(HEADER)}, got {','.join(table.column_names)}"
        )
    columns = [table.column(name).to_pylist() for name in HEADER]
    return [(i + 1, list(values)) for i, values in enumerate(zip(*columns, strict=True))]


def _build(path: Path, rows: list[tuple[int, list[Any]]]) -> BarSeries:
    if not rows:
        raise DataFileError(path, None, "no bars")
    n = len(rows)
    times = np.empty(n, dtype=np.int64)
    lines = np.empty(n, dtype=np.int64)
    mant = np.empty((len(FIELDS), n), dtype=np.int64)
    expo = np.empty((len(FIELDS), n), dtype=np.int8)
    previous: int | None = None
    for i, (line, row) in enumerate(rows):
        if len(row) != len(HEADER):
            raise DataFileError(path, line, f"expected {len(HEADER)} fields, got {len(row)}")
        at = _time(path, line, row[0])
        if previous is not None and at <= previous:
            what = "a repeated timestamp" if at == previous else "timestamps out of order"
            raise DataFileError(
                path, line, f"{what}: bars must be sorted by time, strictly increasing ({row[0]})"
            )
        previous = at
        values = [_decimal(path, line, name, v) for name, v in zip(FIELDS, row[1:], strict=True)]
        if values[2] > values[1]:
            raise DataFileError(path, line, f"low ({values[2]}) exceeds high ({values[1]})")
        times[i], lines[i] = at, line
        for j, value in enumerate(values):
            mant[j, i], expo[j, i] = _split(path, line, FIELDS[j], value)
    columns = {name: DecimalColumn(mant[j], expo[j]) for j, name in enumerate(FIELDS)}
    return BarSeries(path.stem, f"backtest:{path.name}", times, lines, columns)


def _time(path: Path, line: int, value: Any) -> int:
    if isinstance(value, datetime):
        at = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return micros(at.astimezone(UTC))
    if not isinstance(value, str):
        raise DataFileError(path, line, f"timestamp: expected ISO-8601 text, got {value!r}")
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        raise DataFileError(path, line, f"timestamp: not an ISO-8601 time: {value!r}") from None
    if at.tzinfo is None:
        raise DataFileError(path, line, f"timestamp: needs a zone (e.g. Z): {value!r}")
    return micros(at.astimezone(UTC))


def _decimal(path: Path, line: int, name: str, value: Any) -> Decimal:
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int) and not isinstance(value, bool):
        d = Decimal(value)
    elif isinstance(value, float):
        d = Decimal(repr(value))  # the shortest text that reads back as this float
    elif isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value.strip()):
        try:
            d = Decimal(value.strip())
        except InvalidOperation:
            d = Decimal("NaN")
    else:
        raise DataFileError(path, line, f"{name}: not a non-negative decimal number: {value!r}")
    if not d.is_finite() or d < 0:
        raise DataFileError(path, line, f"{name}: not a non-negative decimal number: {value!r}")
    return d


def _split(path: Path, line: int, name: str, d: Decimal) -> tuple[int, int]:
    sign, digits, exponent = d.as_tuple()
    if not isinstance(exponent, int) or len(digits) > _INT64_DIGITS or not -128 <= exponent < 128:
        raise DataFileError(path, line, f"{name}: {d} has too many digits for a bar value")
    mantissa = int("".join(map(str, digits)))
    return (-mantissa if sign else mantissa), exponent
