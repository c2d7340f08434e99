"""The Ledger: decides what each input means, as events, and applies them.

One object holds every aggregate (orders, positions, the account, the kill
switch, held reports, market marks), so one message's effects are decided
together and persisted together. Every state change goes through `apply`, both
when deciding live and when rebuilding from the log, so the two cannot drift.

`handle` returns an `Outcome` for each input: APPLIED (events recorded),
DUPLICATE (nothing new), ANOMALY (a refusal recorded as an event), HELD (a report
waiting for its intent) or QUARANTINED (failed validation, recorded whole).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, localcontext
from enum import StrEnum
from typing import Any
from uuid import UUID

from contracts import (
    ContractMessage,
    ExecutionReport,
    OrderIntent,
    message_to_json,
    parse_message,
)
from domain import events as ev
from domain import ids
from domain.account import Account
from domain.exposure import reduces, to_flatten, working_exposure
from domain.instruments import Instruments
from domain.killswitch import (
    Breach,
    KillSwitch,
    KillSwitchCommand,
    KillSwitchState,
    RiskLimits,
    check_equity,
    check_psr,
)
from domain.market import EVENTS as MARKET_EVENTS
from domain.market import MarketData, MarketInput, event_fields
from domain.money import CTX, ZERO
from domain.order import Order, Proposal, Refusal
from domain.order_table import OrderTransition
from domain.position import Position, PositionFill


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    ANOMALY = "anomaly"
    HELD = "held"
    QUARANTINED = "quarantined"


@dataclass(frozen=True, slots=True)
class LedgerConfig:
    account: str = "SIM"
    currency: str = "USD"
    starting_equity: Decimal = Decimal(1_000_000)
    limits: RiskLimits = field(default_factory=RiskLimits)
    instruments: Instruments = field(default_factory=Instruments)


@dataclass(frozen=True, slots=True)
class Operator:
    """Who issued a command: the name given with --by, the database role, the OS user."""

    by: str
    db_role: str = ""
    os_user: str = ""


_RISK_POLICY = Operator("risk-policy")


class Ledger:
    def __init__(self, config: LedgerConfig) -> None:
        self.config = config
        self.orders: dict[UUID, Order] = {}
        self.positions: dict[tuple[str, str], Position] = {}
        self.account = Account(config.account, config.currency, config.starting_equity)
        self.killswitch = KillSwitch()
        self.held: dict[UUID, list[tuple[str, ExecutionReport]]] = {}
        self.quarantined: set[UUID] = set()
        self.versions: dict[UUID, int] = {}
        self.market = MarketData()
        self.last_recorded_at: datetime | None = None
        self.pending: list[ev.LedgerEvent] = []
        self._now: datetime | None = None
        self._account_id = ids.account_id(config.account)

    # ================================================================== inputs

    def handle(
        self, msg: ContractMessage, source: str, now: datetime, origin: str = "intent"
    ) -> Outcome:
        """Decide one valid input. `origin` marks intents not from the strategy: "broker" for
        an order first seen at the broker (booked by reconciliation)."""
        with localcontext(CTX):
            return self._handle(msg, source, now, origin)

    def _handle(self, msg: ContractMessage, source: str, now: datetime, origin: str) -> Outcome:
        self._now = now
        self._roll_day(msg.timestamp, source)
        if isinstance(msg, ExecutionReport):
            return self._on_report(msg, None, source)
        if isinstance(msg, OrderIntent):
            return self._on_intent(msg, source, origin)
        return self._on_market(msg, source)

    def quarantine(
        self, source: str, position: int, raw: bytes, errors_json: str, now: datetime
    ) -> Outcome:
        qid = ids.quarantine_id(source, position)
        if qid in self.quarantined:
            return Outcome.DUPLICATE
        self._now = now
        try:
            text, raw_hex = raw.decode("utf-8"), ""
        except UnicodeDecodeError:
            text, raw_hex = raw.decode("utf-8", "backslashreplace"), raw.hex()
        self._emit(
            ev.MessageQuarantined,
            qid,
            now,
            "",
            message_source=source,
            message_position=position,
            raw=text,
            raw_hex=raw_hex,
            errors=errors_json,
        )
        return Outcome.QUARANTINED

    def command_killswitch(
        self, command: KillSwitchCommand, reason: str, operator: Operator, now: datetime
    ) -> None:
        """An operator's trip or reset. Raises KillSwitchCommandRefused when it does not fit."""
        self._now = now
        target = self.killswitch.target(command)
        with localcontext(CTX):
            self._command_killswitch(command, target, reason, operator, now)

    def _command_killswitch(
        self,
        command: KillSwitchCommand,
        target: KillSwitchState,
        reason: str,
        operator: Operator,
        now: datetime,
    ) -> None:
        if command == KillSwitchCommand.TRIP:
            self._trip(Breach("manual", "HALT", ZERO, ZERO, reason), now, "cli", operator)
            return
        self._emit(
            ev.KillSwitchReset,
            ids.KILL_SWITCH_ID,
            now,
            "cli",
            state=target.value,
            reason=reason,
            by=operator.by,
            db_role=operator.db_role,
            os_user=operator.os_user,
            previous_state=self.killswitch.state.value,
        )

    def request_cancel(self, intent_id: UUID, reason: str, source: str, now: datetime) -> Outcome:
        """The ledger's own decision to cancel a working order (kill switch, operator)."""
        self._now = now
        order = self.orders.get(intent_id)
        if order is None:
            return Outcome.DUPLICATE
        return self._status(order, OrderTransition.REQUEST_CANCEL, reason, now, source)

    def correct_order_status(
        self, intent_id: UUID, status: str, reason: str, run_id: str, source: str, now: datetime
    ) -> Outcome:
        """Book a status the broker proves (reconciliation --apply), outside the table."""
        self._now = now
        order = self.orders.get(intent_id)
        if order is None or order.status.value == status:
            return Outcome.DUPLICATE
        self._emit(
            ev.OrderStatusCorrected,
            intent_id,
            now,
            source,
            status=status,
            previous_status=order.status.value,
            reason=reason,
            run_id=run_id,
        )
        return Outcome.APPLIED

    def record_reconciliation(
        self,
        run_id: str,
        broker: str,
        result: str,
        counts_json: str,
        breaks_json: str,
        applied: bool,
        now: datetime,
    ) -> None:
        self._now = now
        self._emit(
            ev.ReconciliationRecorded,
            ids.reconciliation_id(run_id),
            now,
            f"broker:{broker}",
            run_id=run_id,
            broker=broker,
            result=result,
            counts=counts_json,
            breaks=breaks_json,
            applied=applied,
        )

    def drain(self) -> list[ev.LedgerEvent]:
        out, self.pending = self.pending, []
        return out

    # ================================================================== apply

    def apply(self, event: ev.LedgerEvent) -> None:
        """Mutate state by one event: the only way state changes, live or on rebuild.

        All arithmetic runs in the ledger's own decimal context (`money.CTX`), whatever
        context the caller has set."""
        with localcontext(CTX):
            self._apply(event)

    def _apply(self, event: ev.LedgerEvent) -> None:
        self.versions[event.originator_id] = event.originator_version
        self.last_recorded_at = event.recorded_at
        # One dict lookup on the event's class instead of an isinstance chain: this runs
        # for every event, live and on every rebuild.
        _APPLIERS[type(event)](self, event)

    def _apply_intent(self, event: ev.OrderIntentRecorded) -> None:
        self.held.pop(event.originator_id, None)
        order = self.orders[event.originator_id] = Order(
            event.originator_id,
            event.symbol,
            event.side,
            event.quantity,
            event.order_type,
            event.limit_price,
            event.stop_price,
            event.account,
            event.origin,
        )
        order.apply(event)

    def _apply_order(self, event: ev.OrderEvent) -> None:
        self.orders[event.originator_id].apply(event)

    def _apply_position(self, event: ev.PositionEvent) -> None:
        pos = self._position(event.account, event.symbol)
        pos.apply(event)
        account = self.account
        account.apply_fill(event, pos.last_fill_price)
        account.note_equity(account.equity())

    def _apply_killswitch(self, event: ev.KillSwitchEvent) -> None:
        self.killswitch.apply(event)

    def _apply_held(self, event: ev.ExecutionReportHeld) -> None:
        report = parse_message(event.report)
        if isinstance(report, ExecutionReport):
            self.held.setdefault(event.intent_id, []).append((event.report, report))

    def _apply_quarantined(self, event: ev.MessageQuarantined) -> None:
        self.quarantined.add(event.originator_id)

    def _apply_account(self, event: ev.LedgerEvent) -> None:
        self.account.apply(event)

    def _apply_market(self, event: ev.MarketEvent) -> None:
        price = self.market.apply(event)
        if price is not None:
            self.account.mark(event.symbol, price)
            self.account.note_equity(self.account.equity())

    # ================================================================== decisions

    def _emit(
        self,
        cls: type[ev.LedgerEvent],
        originator_id: UUID,
        occurred_at: datetime,
        source: str,
        **fields: Any,
    ) -> ev.LedgerEvent:
        now = self._now if self._now is not None else occurred_at
        if self.last_recorded_at is not None and now < self.last_recorded_at:
            now = self.last_recorded_at  # recorded time never decreases along the log
        event = cls(
            originator_id=originator_id,
            originator_version=self.versions.get(originator_id, 0) + 1,
            occurred_at=occurred_at,
            recorded_at=now,
            source=source,
            **fields,
        )
        self._apply(event)
        self.pending.append(event)
        return event

    def _roll_day(self, at: datetime, source: str) -> None:
        day = at.date()
        account = self.account
        if not account.opened:
            self._emit(
                ev.AccountOpened,
                self._account_id,
                at,
                source,
                account=account.name,
                currency=account.currency,
                starting_equity=account.starting_equity,
                day=day,
            )
            return
        if account.day is not None and day > account.day:
            self._emit(
                ev.AccountDayRolled, self._account_id, at, source, **account.day_roll_fields(day)
            )
            if self.killswitch.state != KillSwitchState.TRIPPED:
                breach = check_psr(self.config.limits, account.active_returns)
                if breach is not None:
                    self._trip(breach, at, source, _RISK_POLICY)

    def _on_intent(self, m: OrderIntent, source: str, origin: str = "intent") -> Outcome:
        account = m.account or self.config.account
        existing = self.orders.get(m.intent_id)
        if existing is not None:
            same = (
                existing.symbol,
                existing.side,
                existing.quantity,
                existing.order_type,
                existing.limit_price,
                existing.stop_price,
                existing.account,
            ) == (
                m.symbol,
                m.direction.value,
                m.quantity,
                m.order_type.value,
                m.limit_price,
                m.stop_price,
                account,
            )
            if same:
                return Outcome.DUPLICATE
            text = message_to_json(m).decode()
            if text in existing.refused:
                return Outcome.DUPLICATE
            self._emit(
                ev.OrderMessageRefused,
                m.intent_id,
                m.timestamp,
                source,
                status=existing.status,
                kind="conflicting_intent",
                reason="an intent with this id and different terms exists",
                message=text,
            )
            return Outcome.ANOMALY
        held = self.held.get(m.intent_id, [])
        self._emit(
            ev.OrderIntentRecorded,
            m.intent_id,
            m.timestamp,
            source,
            status="NEW",
            symbol=m.symbol,
            side=m.direction.value,
            quantity=m.quantity,
            order_type=m.order_type.value,
            limit_price=m.limit_price,
            stop_price=m.stop_price,
            account=account,
            origin=origin,
        )
        order = self.orders[m.intent_id]
        denial = self._denial(order)
        if denial:
            self._status(order, OrderTransition.DENY, denial, m.timestamp, source)
        for text, report in held:
            self._on_report(report, text, source)
        return Outcome.APPLIED

    def _denial(self, order: Order) -> str:
        state = self.killswitch.state
        if state == KillSwitchState.ARMED or order.origin in ("killswitch", "broker"):
            return ""
        if state == KillSwitchState.TRIPPED:
            return "kill switch TRIPPED: trading halted"
        pos = self.positions.get((order.account, order.symbol))
        q = pos.quantity if pos is not None else ZERO
        pending = working_exposure(self.orders.values(), order.account, order.symbol, exclude=order)
        if reduces(q, pending, order.signed_quantity):
            return ""
        return "kill switch REDUCING: only exposure-reducing orders pass"

    def _status(
        self, order: Order, t: OrderTransition, reason: str, occurred_at: datetime, source: str
    ) -> Outcome:
        decision = order.decide_status(t, reason)
        if isinstance(decision, Refusal):
            return Outcome.DUPLICATE
        self._emit(decision.cls, order.intent_id, occurred_at, source, **decision.fields)
        return Outcome.APPLIED

    def _on_report(self, r: ExecutionReport, text: str | None, source: str) -> Outcome:
        """`text` is the report's canonical JSON when the caller has it (held reports)."""
        order = self.orders.get(r.intent_id)
        if text is None and (order is None or order.refused):
            text = message_to_json(r).decode()
        if order is None:
            held_text = text or message_to_json(r).decode()
            if any(t == held_text for t, _ in self.held.get(r.intent_id, ())):
                return Outcome.DUPLICATE
            self._emit(
                ev.ExecutionReportHeld,
                ids.held_reports_id(r.intent_id),
                r.timestamp,
                source,
                intent_id=r.intent_id,
                report=held_text,
            )
            return Outcome.HELD
        decision = order.decide_report(r, text)
        if decision is None:
            return Outcome.DUPLICATE
        if isinstance(decision, Refusal):
            self._emit(
                ev.OrderMessageRefused,
                order.intent_id,
                r.timestamp,
                source,
                status=order.status,
                kind=decision.kind,
                reason=decision.reason,
                message=text or message_to_json(r).decode(),
            )
            return Outcome.ANOMALY
        proposals, effects = decision
        for p in proposals:
            self._propose(order, p, r.timestamp, source)
        for eff in effects:
            self._position_effect(
                order,
                eff.fill.exec_id,
                eff.replaced,
                eff.fill.quantity,
                eff.fill.price,
                eff.fill.commission,
                r.timestamp,
                source,
            )
        if effects:
            self._check_risk(r.timestamp, source)
        return Outcome.APPLIED

    def _propose(self, order: Order, p: Proposal, at: datetime, source: str) -> None:
        self._emit(p.cls, order.intent_id, at, source, **p.fields)

    def _position_effect(
        self,
        order: Order,
        exec_id: str,
        replaced: Any,
        qty: Decimal,
        price: Decimal,
        commission: Decimal,
        at: datetime,
        source: str,
    ) -> None:
        pos = self._position(order.account, order.symbol)
        mult = pos.multiplier
        signed = qty if order.side == "BUY" else -qty
        common = {
            "account": order.account,
            "symbol": order.symbol,
            "exec_id": exec_id,
            "intent_id": order.intent_id,
            "multiplier": mult,
            "side": order.side,
            "fill_quantity": qty,
            "fill_price": price,
            "fill_commission": commission,
        }
        cls: type[ev.PositionEvent]
        if replaced is None:
            cls = ev.PositionFillApplied
            figs = pos.figures_after_fill(signed, price, commission)
            cash_delta = -signed * price * mult - commission
        else:
            cls = ev.PositionFillCorrected
            old_signed = replaced.quantity if order.side == "BUY" else -replaced.quantity
            figs = pos.figures_after_correction(
                replaced.exec_id, PositionFill(exec_id, signed, price, commission)
            )
            cash_delta = -(signed * price - old_signed * replaced.price) * mult - (
                commission - replaced.commission
            )
            common["replaced_exec_id"] = replaced.exec_id
        self._emit(
            cls,
            pos.id,
            at,
            source,
            quantity=figs.quantity,
            cost=figs.cost,
            avg_price=figs.avg_price,
            realized_pnl=figs.realized_pnl,
            commission=figs.commission,
            cash_delta=cash_delta,
            **common,
        )

    def _position(self, account: str, symbol: str) -> Position:
        key = (account, symbol)
        pos = self.positions.get(key)
        if pos is None:
            pos = Position(
                ids.position_id(account, symbol),
                account,
                symbol,
                self.config.instruments.multiplier(symbol),
            )
            self.positions[key] = pos
        return pos

    def _on_market(self, m: MarketInput, source: str) -> Outcome:
        """Market data is recorded as it came; bars and TRADE/LAST ticks are marks, so
        they re-value the book (domain/market.py)."""
        if self.market.is_duplicate(m):
            return Outcome.DUPLICATE
        cls, _, marks = MARKET_EVENTS[type(m)]
        self._emit(
            cls, ids.market_id(m.symbol), m.timestamp, source, symbol=m.symbol, **event_fields(m)
        )
        if marks:
            self._check_risk(m.timestamp, source)
        return Outcome.APPLIED

    # ================================================================== risk

    def _check_risk(self, at: datetime, source: str) -> None:
        if self.killswitch.state == KillSwitchState.TRIPPED:
            return
        account = self.account
        breach = check_equity(
            self.config.limits, account.equity(), account.opening_equity, account.high_water_mark
        )
        if breach is not None:
            self._trip(breach, at, source, _RISK_POLICY)

    def _trip(self, breach: Breach, at: datetime, source: str, who: Operator) -> None:
        account = self.account
        trip = self._emit(
            ev.KillSwitchTripped,
            ids.KILL_SWITCH_ID,
            at,
            source,
            state=KillSwitchState.TRIPPED.value,
            reason=breach.reason,
            by=who.by,
            db_role=who.db_role,
            os_user=who.os_user,
            trigger=breach.trigger,
            action=breach.action,
            equity=account.equity(),
            high_water_mark=account.high_water_mark,
            measure=breach.measure,
            threshold=breach.threshold,
        )
        why = f"kill switch tripped ({breach.trigger})"
        for order in [o for o in self.orders.values() if o.is_working and o.origin != "killswitch"]:
            self._status(order, OrderTransition.REQUEST_CANCEL, why, at, source)
        if breach.action != "HALT_AND_FLATTEN":
            return
        for acct, symbol, left in to_flatten(self.positions, self.orders.values()):
            self._emit(
                ev.OrderIntentRecorded,
                ids.flatten_intent_id(trip.originator_version, acct, symbol),
                at,
                source,
                status="NEW",
                symbol=symbol,
                side="SELL" if left > 0 else "BUY",
                quantity=abs(left),
                order_type="MARKET",
                limit_price=None,
                stop_price=None,
                account=acct,
                origin="killswitch",
            )

    # ================================================================== views

    # The latest bar per (symbol, bar size) and tick per symbol: what marks the book.
    # (Read and restored by the account projection's resume state.)
    @property
    def last_bar(self) -> dict[tuple[str, str | None], datetime]:
        return self.market.last_bar

    @last_bar.setter
    def last_bar(self, value: dict[tuple[str, str | None], datetime]) -> None:
        self.market.last_bar = value

    @property
    def last_tick(self) -> dict[str, tuple[datetime, Decimal, Decimal, str]]:
        return self.market.last_tick

    @last_tick.setter
    def last_tick(self, value: dict[str, tuple[datetime, Decimal, Decimal, str]]) -> None:
        self.market.last_tick = value

    @property
    def current_day(self) -> date | None:
        return self.account.day


def _applier(cls: type[ev.LedgerEvent]) -> Callable[[Ledger, Any], None]:
    """How the ledger applies an event of this class (by its family)."""
    if issubclass(cls, ev.OrderIntentRecorded):
        return Ledger._apply_intent
    if issubclass(cls, ev.OrderEvent):
        return Ledger._apply_order
    if issubclass(cls, ev.PositionEvent):
        return Ledger._apply_position
    if issubclass(cls, ev.MarketEvent):
        return Ledger._apply_market
    if issubclass(cls, ev.KillSwitchEvent):
        return Ledger._apply_killswitch
    if issubclass(cls, ev.ExecutionReportHeld):
        return Ledger._apply_held
    if issubclass(cls, ev.MessageQuarantined):
        return Ledger._apply_quarantined
    return Ledger._apply_account


_APPLIERS: dict[type[ev.LedgerEvent], Callable[[Ledger, Any], None]] = {
    cls: _applier(cls) for cls in ev.EVENT_CLASSES
}
