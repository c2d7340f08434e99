"""The chain's link in C agrees byte for byte with its Python definition, for any row."""

from __future__ import annotations

import hashlib
import importlib
import struct
from collections.abc import Iterator
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.store import chain
from adapters.store.chain import GENESIS, py_link, py_link_rows
from tests.support.services import unavailable


def _extension() -> ModuleType | None:
    try:
        return importlib.import_module("adapters.store._chainlink")
    except ImportError:
        return None


_c = _extension()
c_link = getattr(_c, "link", None)
c_link_rows = getattr(_c, "link_rows", None)


@pytest.fixture(autouse=True, scope="module")
def _built() -> Iterator[None]:
    """The extension is built by `pip install` (make venv): in CI its absence fails."""
    if _c is None:
        unavailable("the chain's C extension", "make venv (needs gcc and libssl-dev)")
    yield


INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
HASHES = st.one_of(st.just(GENESIS), st.binary(min_size=32, max_size=32))


def test_the_store_uses_the_c_link_where_it_was_built() -> None:
    assert chain.LINK is c_link
    assert chain.LINK_ROWS is c_link_rows


@given(
    HASHES, st.binary(max_size=40), INT64, st.binary(max_size=80), st.binary(max_size=5000), INT64
)
def test_c_and_python_links_agree(
    prev: bytes, oid: bytes, version: int, topic: bytes, state: bytes, recorded_at: int
) -> None:
    expected = hashlib.sha256(
        prev
        + oid
        + struct.pack(">qIqI", version, len(topic), recorded_at, len(state))
        + topic
        + state
    ).digest()
    assert py_link(prev, oid, version, topic, state, recorded_at) == expected
    assert c_link(prev, oid, version, topic, state, recorded_at) == expected


@given(HASHES, st.text(max_size=40), INT64, st.text(max_size=80), st.binary(max_size=2000), INT64)
def test_text_ids_and_topics_are_hashed_as_their_utf8(
    prev: bytes, oid: str, version: int, topic: str, state: bytes, recorded_at: int
) -> None:
    expected = py_link(prev, oid.encode(), version, topic.encode(), state, recorded_at)
    assert py_link(prev, oid, version, topic, state, recorded_at) == expected
    assert c_link(prev, oid, version, topic, state, recorded_at) == expected


@pytest.mark.parametrize(
    "args",
    [
        ("prev", b"o", 1, b"t", b"s", 1),
        (GENESIS, 7, 1, b"t", b"s", 1),
        (GENESIS, b"o", 1, b"t", "state", 1),  # a state is bytes, never text
        (GENESIS, b"o", "1", b"t", b"s", 1),  # a version read back as text
        (GENESIS, b"o", 1, b"t", b"s", 1.5),
        (GENESIS, b"o", 1, b"t", None, 1),
    ],
)
def test_a_value_of_another_type_is_a_type_error(args: tuple[object, ...]) -> None:
    with pytest.raises(TypeError):
        c_link(*args)


def test_an_integer_beyond_64_bits_is_an_overflow() -> None:
    with pytest.raises(OverflowError):
        c_link(GENESIS, b"o", 2**63, b"t", b"s", 1)
    with pytest.raises(TypeError):
        c_link(GENESIS, b"o", 1, b"t", b"s")


ROWS = st.lists(
    st.tuples(st.text(max_size=34), INT64, st.text(max_size=40), st.binary(max_size=600), INT64),
    max_size=12,
)


@given(HASHES, ROWS)
def test_a_batch_linked_in_c_equals_the_rows_linked_one_by_one(
    prev: bytes, rows: list[tuple[str, int, str, bytes, int]]
) -> None:
    linked = c_link_rows(prev, rows)
    assert linked == py_link_rows(prev, rows)
    for row, out in zip(rows, linked, strict=True):
        assert out == (*row, py_link(prev, *row))
        prev = out[5]


def test_a_bad_row_in_a_batch_is_an_error_not_a_partial_result() -> None:
    good = ("a" * 32, 1, "t", b"s", 1)
    with pytest.raises(TypeError):
        c_link_rows(GENESIS, [good, ("a" * 32, 1, "t", "text state", 1)])
    with pytest.raises(TypeError):
        c_link_rows(GENESIS, [good, good[:4]])
    assert c_link_rows(GENESIS, []) == []
