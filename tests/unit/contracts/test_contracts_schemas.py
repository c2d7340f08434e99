"""The checked-in JSON Schema files match the models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from contracts import MESSAGE_TYPES
from contracts.schemas import SCHEMA_DIR, render_all, render_schema, write_all

REGENERATE = "run `python -m contracts.schemas` and commit the result"


@pytest.mark.parametrize("name", sorted(render_all()))
def test_checked_in_schema_matches_the_model(name: str) -> None:
    path = SCHEMA_DIR / name
    assert path.is_file(), f"{path} is missing: {REGENERATE}"
    assert path.read_text(encoding="utf-8") == render_all()[name], (
        f"{path} has drifted from the model: {REGENERATE}"
    )


def test_no_stray_schema_files() -> None:
    on_disk = {p.name for p in SCHEMA_DIR.glob("*.json")}
    assert on_disk == {f"{t}.json" for t in MESSAGE_TYPES}


def test_rendering_is_deterministic_sorted_and_newline_terminated() -> None:
    text = render_schema("order_intent")
    assert text == render_schema("order_intent")
    assert text.endswith("}\n")
    assert not text.endswith("\n\n")
    doc = json.loads(text)
    assert list(doc) == sorted(doc)


@pytest.mark.parametrize("event_type", list(MESSAGE_TYPES))
def test_schema_states_the_wire_rules(event_type: str) -> None:
    doc = json.loads(render_schema(event_type))
    assert doc["required"][0] == "event_type"
    assert doc["properties"]["event_type"]["const"] == event_type
    assert doc["additionalProperties"] is False
    assert doc["properties"]["timestamp"] == {
        "format": "date-time",
        "title": "Timestamp",
        "type": "string",
    }


def test_schema_states_the_cross_field_rules() -> None:
    intent = json.loads(render_schema("order_intent"))
    needs = {
        tuple(rule["if"]["properties"]["order_type"]["enum"]): rule["then"]["required"]
        for rule in intent["allOf"]
    }
    assert needs == {
        ("LIMIT", "STOP_LIMIT"): ["limit_price"],
        ("STOP", "STOP_LIMIT"): ["stop_price"],
    }
    report = json.loads(render_schema("execution_report"))
    assert report["if"]["required"] == ["exec_id"]
    fills = [rule["required"] for rule in report["then"]["allOf"]]
    assert fills == [["last_quantity"], ["last_price"]]
    assert report["properties"]["order_id"]["anyOf"][1] == {"type": "integer"}


def test_decimal_fields_take_a_number_or_a_decimal_string() -> None:
    quantity = json.loads(render_schema("order_intent"))["properties"]["quantity"]
    number, text = quantity["anyOf"]
    assert number == {"exclusiveMinimum": 0, "type": "number"}
    assert text["type"] == "string"
    assert "pattern" in text


def test_write_all_writes_what_render_all_renders(tmp_path: Path) -> None:
    written = write_all(tmp_path)
    rendered = render_all()
    assert sorted(p.name for p in written) == sorted(rendered)
    for path in written:
        assert path.read_text(encoding="utf-8") == rendered[path.name]


def test_the_module_entry_point_writes_every_schema(tmp_path: Path) -> None:
    # Into a scratch folder: writing the real one could hide drift from the
    # test above when tests run in parallel.
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-m", "contracts.schemas", str(tmp_path)],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == len(MESSAGE_TYPES)
    rendered = render_all()
    assert {p.name: p.read_text(encoding="utf-8") for p in tmp_path.iterdir()} == rendered
