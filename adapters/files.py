"""Files of contract messages (JSONL: one JSON object a line) as sourced messages.

The source is `file:<absolute path>` and the position the 1-based line number,
so a rerun of the same file resumes after the last committed line. Blank lines
carry no message and are passed over (their numbers are still counted).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from contracts import SourcedMessage


class InputFileError(Exception):
    """An input file cannot be read."""


def file_source(path: Path) -> str:
    return f"file:{path.resolve()}"


def read_jsonl(path: Path) -> Iterator[SourcedMessage]:
    source = file_source(path)
    try:
        with path.open("rb") as f:
            for number, line in enumerate(f, start=1):
                payload = line.rstrip(b"\r\n")
                if payload.strip():
                    yield SourcedMessage(source, number, payload)
    except OSError as e:
        raise InputFileError(f"cannot read {path}: {e.strerror or e}") from e


def count_lines(path: Path) -> int:
    try:
        with path.open("rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    except OSError as e:
        raise InputFileError(f"cannot read {path}: {e.strerror or e}") from e
