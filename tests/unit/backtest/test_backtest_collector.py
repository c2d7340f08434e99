"""The collector pause around a backtest run: restores what it found, collects cycles."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from adapters.backtest import collector


@pytest.fixture
def collector_state() -> Iterator[None]:
    was = gc.isenabled()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


@pytest.mark.usefixtures("collector_state")
def test_pauses_collects_young_cycles_and_restores() -> None:
    gc.enable()
    with collector.paused() as collect:
        assert not gc.isenabled()
        node = Node()
        ref = weakref.ref(node)
        del node
        assert ref() is not None  # nothing collects it automatically
        collect()
        assert ref() is None  # the per-batch call does
    assert gc.isenabled()


@pytest.mark.usefixtures("collector_state")
def test_a_disabled_collector_stays_off_and_untouched() -> None:
    gc.disable()
    with collector.paused() as collect:
        node = Node()
        ref = weakref.ref(node)
        del node
        collect()
        assert ref() is not None  # the caller turned collection off: it stays off
    assert not gc.isenabled()
    gc.collect()


@pytest.mark.usefixtures("collector_state")
def test_restores_on_error() -> None:
    gc.enable()
    with pytest.raises(RuntimeError), collector.paused():
        raise RuntimeError("stop")
    assert gc.isenabled()
