"""Property: a rebuilt projection equals the incrementally built one, row for row.

Random valid histories (orders with partial fills, corrections, cancels and rejections,
bars and ticks, sometimes across UTC days, an invalid line now and then, operator
kill-switch commands) are ingested in random batch splits; after each ingest a fresh
runner (a new process, as far as state goes) catches every projection up in random
batch sizes. Then `rebuild --all` from the log (batches under the write lock, or read
and applied outside it, in one process or two) must produce exactly the same rows in
every table, and the read models must equal the in-memory ledger's views.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.projections import open_projection_store
from contracts import ContractMessage
from domain.killswitch import KillSwitchCommand
from domain.ledger import Operator
from projections.readers import read
from projections.rebuild import rebuild
from projections.registry import ALL
from projections.views import killswitch_row, order_rows, position_rows
from tests.conftest import make_app
from tests.support.messages import sessions
from tests.unit.projections.helpers import catch_up, dump, ingest

INVALID = b'{"event_type": "order_intent", "intent_id": "nope"}'


@st.composite
def histories(draw: st.DrawFn) -> list[list[ContractMessage | bytes | str]]:
    """Messages in random ingest batches; "TRIP"/"ARM" entries are kill-switch commands."""
    messages: list[ContractMessage | bytes | str] = list(
        draw(sessions(max_orders=5, spacing=(1, 9000)))
    )
    for _ in range(draw(st.integers(0, 2))):
        messages.insert(draw(st.integers(0, len(messages))), INVALID)
    if draw(st.booleans()):
        i = draw(st.integers(0, len(messages)))
        messages[i:i] = ["TRIP", "ARM"] if draw(st.booleans()) else ["TRIP"]
    cuts = sorted(draw(st.lists(st.integers(1, max(1, len(messages) - 1)), max_size=4)))
    bounds = [0, *cuts, len(messages)]
    return [messages[a:b] for a, b in itertools.pairwise(bounds) if b > a]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    histories(),
    st.lists(st.integers(1, 9), min_size=1, max_size=6),
    st.sampled_from(["locked", "detached", "two processes"]),
)
def test_rebuilt_projections_equal_incrementally_built_ones(
    batches: list[list[ContractMessage | bytes | str]], sizes: list[int], mode: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'ledger.db'}"
        app = make_app(url)
        store = open_projection_store(url)
        try:
            line = 0
            for k, batch in enumerate(batches):
                size = sizes[k % len(sizes)]
                pending: list[ContractMessage | bytes] = []
                for item in [*batch, "END"]:
                    if isinstance(item, str):  # a command: ingest what came before it first
                        ingest(app, pending, start=line + 1, batch_size=size)
                        line += len(pending)
                        pending = []
                        if item != "END":
                            command = (
                                KillSwitchCommand.TRIP
                                if item == "TRIP"
                                else (KillSwitchCommand.ARM)
                            )
                            app.command_killswitch(command, "test", Operator("qa"))
                    else:
                        pending.append(item)
                catch_up(store, batch_size=size)
            incremental = dump(store)

            how = {} if mode == "locked" else {"read_engine": store.read_engine}
            jobs = 2 if mode == "two processes" else 1
            rebuild(store.engine, store.source, ALL, batch_size=sizes[0] * 3, jobs=jobs, **how)

            assert dump(store) == incremental
            ledger = app.ledger
            assert read(store.read_engine, lambda m: m.positions()) == position_rows(ledger)
            assert read(store.read_engine, lambda m: m.orders()) == order_rows(ledger)
            assert read(store.read_engine, lambda m: m.killswitch()) == killswitch_row(ledger)
            [account] = read(store.read_engine, lambda m: m.accounts())
            assert account.equity == ledger.account.equity()
            assert account.high_water_mark == ledger.account.high_water_mark
        finally:
            store.close()
