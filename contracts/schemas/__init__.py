"""JSON Schema files for the bus messages, generated from the models.

The files in this folder are checked in so that producers in other languages
can validate against them; `python -m contracts.schemas` rewrites them, and a
test fails when they drift from the models. Output is deterministic: sorted
keys, two-space indent, one trailing newline.
"""

from __future__ import annotations

import json
from pathlib import Path

from contracts.messages import MESSAGE_TYPES

SCHEMA_DIR = Path(__file__).resolve().parent
_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def render_schema(event_type: str) -> str:
    """The schema text for one message type, exactly as it is stored."""
    schema = MESSAGE_TYPES[event_type].model_json_schema(mode="validation")
    schema["$schema"] = _DIALECT
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render_all() -> dict[str, str]:
    """File name → schema text, for every message type."""
    return {f"{event_type}.json": render_schema(event_type) for event_type in MESSAGE_TYPES}


def write_all(directory: Path = SCHEMA_DIR) -> list[Path]:
    """(Re)write every schema file in `directory`; return the paths written."""
    written = []
    for name, text in render_all().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
