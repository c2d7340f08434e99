"""Property: the account projection's figures are the ledger's, event by event, exactly.

The account projection does not run `Ledger.apply`: it repeats the account's arithmetic
on the stored fields (`projections.equity`). Over random valid histories (partial
fills, corrections, cancels, bars and ticks, UTC days crossed, instruments with
multipliers, kill-switch trips and their flatten orders), after every event of the log
the projection's Account equals the ledger's field for field as exact text (Decimal
exponents included), its last fills are the positions' last fill prices, and resuming
from its stored state at any point changes nothing.
"""

from __future__ import annotations

from decimal import Decimal

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import ContractMessage
from domain.account import Account
from domain.codec import EventCodec
from domain.instruments import Instrument, Instruments
from domain.ledger import Ledger, LedgerConfig
from projections.account import AccountProjection
from projections.account_state import _encode, dump_state, load_state
from projections.log import LogEvent
from tests.support.messages import feed, sessions


def _exact(account: Account) -> bytes:
    return orjson.dumps(_encode(account, Account))


@st.composite
def configs(draw: st.DrawFn) -> LedgerConfig:
    multipliers = {
        s: Instrument(
            s, multiplier=draw(st.sampled_from([Decimal(1), Decimal(50), Decimal("0.1")]))
        )
        for s in draw(st.sets(st.sampled_from(["AAPL", "MSFT", "S1"])))
    }
    equity = draw(st.sampled_from([Decimal(1_000_000), Decimal("25000.00"), Decimal("3E+4")]))
    return LedgerConfig(starting_equity=equity, instruments=Instruments(multipliers))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    configs(),
    sessions(max_orders=5, spacing=(1, 9000)),
    st.lists(st.integers(0, 60), max_size=4),
)
def test_the_account_projection_s_figures_are_the_ledger_s(
    config: LedgerConfig, messages: list[ContractMessage], restarts: list[int]
) -> None:
    events = feed(Ledger(config), messages).events
    codec = EventCodec()
    mirror = Ledger(config)  # the ledger's own account, applied event by event
    projection = AccountProjection(1, codec)
    for position, e in enumerate(events, 1):
        mirror.apply(e)
        topic, state = codec.encode(e)
        if topic not in AccountProjection.topics:
            continue
        projection.apply(
            LogEvent(position, str(e.originator_id), e.originator_version, topic, state, 0)
        )
        book = projection.book
        assert book is not None
        assert _exact(book.account) == _exact(mirror.account), (position, type(e).__name__)
        for key, (_, price) in book.last_fill.items():
            assert price == mirror.positions[key].last_fill_price
        if position in restarts:  # a later process resumes from the stored state
            restored = load_state(dump_state(book))
            assert restored == book and _exact(restored.account) == _exact(book.account)
            projection = AccountProjection(1, codec)
            projection._book = restored
