"""Encoders for the server → client messages the fake TWS sends.

Field layouts follow ib_async 2.1's own decoder (`ib_async/decoder.py`) for
server versions 176-178: OPEN_ORDER and COMPLETED_ORDER drop faProfile from
177 on, EXECUTION_DATA gains pendingPriceRevision at 178. Every encoder here
is round-tripped through that decoder in tests/unit/ibkr/test_fake_tws_messages.py.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from tests.fakes import tws_protocol as p
from tests.fakes.tws_protocol import Field
from tests.fakes.tws_state import TwsCommission, TwsContract, TwsExecution, TwsOrder, TwsPosition

Fields = list[Field]


# fmt: off
def _contract(c: TwsContract) -> Fields:
    # conId, symbol, secType, lastTradeDateOrContractMonth, strike, right,
    # multiplier, exchange, currency, localSymbol, tradingClass
    return [c.con_id, c.symbol, c.sec_type, "", 0, "", "", c.exchange, c.currency,
            c.local_symbol, c.symbol]


def ib_time(moment: datetime, zone: str) -> str:
    """TWS's execution time text: local wall time followed by the zone name."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y%m%d %H:%M:%S ") + zone


def next_valid_id(order_id: int) -> Fields:
    return [p.NEXT_VALID_ID, 1, order_id]


def managed_accounts(accounts: list[str]) -> Fields:
    return [p.MANAGED_ACCTS, 1, ",".join(accounts)]


def error(req_id: int, code: int, text: str, version: int) -> Fields:
    fields: Fields = [p.ERR_MSG, 2, req_id, code, text]
    if version >= 166:
        fields.append("")  # advancedOrderRejectJson
    return fields


def current_time(epoch_seconds: int) -> Fields:
    return [p.CURRENT_TIME, 1, epoch_seconds]


def position(pos: TwsPosition) -> Fields:
    return [p.POSITION_DATA, 3, pos.account, *_contract(pos.contract), pos.quantity, pos.avg_cost]


def position_end() -> Fields:
    return [p.POSITION_END, 1]


def order_status(o: TwsOrder) -> Fields:
    # orderId, status, filled, remaining, avgFillPrice, permId, parentId,
    # lastFillPrice, clientId, whyHeld, mktCapPrice
    return [p.ORDER_STATUS, o.order_id, o.status, o.filled, o.remaining, o.avg_fill_price,
            o.perm_id, 0, o.last_fill_price, o.client_id, o.why_held, 0]


def open_order(o: TwsOrder, version: int) -> Fields:
    f: Fields = [p.OPEN_ORDER, o.order_id, *_contract(o.contract)]
    f += [o.action, o.quantity, o.order_type, o.lmt_price, o.aux_price, o.tif,
          "",  # ocaGroup
          o.account, "O", 0,  # openClose, origin (customer)
          o.order_ref, o.client_id, o.perm_id,
          False, False, 0, "",  # outsideRth, hidden, discretionaryAmt, goodAfterTime
          "",  # sharesAllocation (deprecated)
          "", "", ""]  # faGroup, faMethod, faPercentage
    if version < 177:
        f.append("")  # faProfile
    f += ["", "", "", "", "",  # modelCode, goodTillDate, rule80A, percentOffset, settlingFirm
          0, "", "",  # shortSaleSlot, designatedLocation, exemptCode
          0, "", "", "", "", "",  # auctionStrategy, startingPrice, stockRefPrice, delta, ranges
          "", False, False, False, "",  # displaySize, blockOrder, sweepToFill, allOrNone, minQty
          0, False, False, "",  # ocaType, eTradeOnly, firmQuoteOnly, nbboPriceCap
          0, 0,  # parentId, triggerMethod
          "", 0, "", ""]  # volatility, volatilityType, deltaNeutral type/aux
    f += [False, 0, "", "", "", "", ""]  # continuousUpdate … comboLegsDescrip
    f += [0, 0, 0]  # combo legs, order combo legs, smart combo routing params
    f += ["", "", ""]  # scaleInitLevelSize, scaleSubsLevelSize, scalePriceIncrement
    f += [""]  # hedgeType
    f += [False, "", "", False, False]  # optOutSmartRouting … notHeld, no delta-neutral
    f += [""]  # algoStrategy
    f += [False, False, o.status,  # solicited, whatIf, orderState.status
          "", "", "", "", "", "", "", "", "",  # margin before/change/after
          "", "", "", "", "",  # commission, min, max, commissionCurrency, warningText
          False, False]  # randomizeSize, randomizePrice
    f += [0]  # conditions
    f += ["", "", "", "", "", "", "", 0,  # adjusted order type … adjustableTrailingUnit
          "", "", "",  # softDollarTier name, value, displayName
          "", False, False, False, ""]  # cashQty … usePriceMgmtAlgo
    f += ["", False, False]  # duration, postToAts, autoCancelParent
    f += ["", "", "", "", ""]  # minTradeQty … midOffsetAtHalf
    return f


def open_order_end() -> Fields:
    return [p.OPEN_ORDER_END, 1]


def completed_order(o: TwsOrder, version: int) -> Fields:
    f: Fields = [p.COMPLETED_ORDER, *_contract(o.contract)]
    f += [o.action, o.quantity, o.order_type, o.lmt_price, o.aux_price, o.tif,
          "", o.account, "O", 0, o.order_ref, o.perm_id,
          False, False, 0, "",  # outsideRth, hidden, discretionaryAmt, goodAfterTime
          "", "", ""]  # faGroup, faMethod, faPercentage
    if version < 177:
        f.append("")  # faProfile
    f += ["", "", "", "", "",  # modelCode, goodTillDate, rule80A, percentOffset, settlingFirm
          0, "", "",  # shortSaleSlot, designatedLocation, exemptCode
          "", "", "", "", "",  # startingPrice, stockRefPrice, delta, stockRange lower/upper
          "", False, False, "", 0, 0,  # displaySize … minQty, ocaType, triggerMethod
          "", 0, "", ""]  # volatility, volatilityType, deltaNeutral type/aux
    f += [False, 0, "", "", ""]  # continuousUpdate … comboLegsDescrip
    f += [0, 0, 0]  # combo legs, order combo legs, smart combo routing params
    f += ["", "", ""]  # scale sizes and increment
    f += [""]  # hedgeType
    f += ["", "", False, False]  # clearingAccount, clearingIntent, notHeld, no delta-neutral
    f += [""]  # algoStrategy
    f += [False, o.status, False, False]  # solicited, status, randomizeSize, randomizePrice
    f += [0]  # conditions
    f += ["", "", "", False, False,  # trailStopPrice … isOmsContainer
          "", o.filled, 0, False, "", False, False, 0,  # autoCancelDate … parentPermId
          o.completed_time, o.status]  # completedTime, completedStatus
    f += ["", "", "", "", ""]  # minTradeQty … midOffsetAtHalf
    return f


# fmt: on


def completed_orders_end() -> Fields:
    return [p.COMPLETED_ORDERS_END]


# fmt: off
def execution(req_id: int, e: TwsExecution, version: int, zone: str) -> Fields:
    f: Fields = [p.EXECUTION_DATA, req_id, e.order_id, *_contract(e.contract)]
    f += [e.exec_id, ib_time(e.time, zone), e.account, e.exchange, e.side, e.shares, e.price,
          e.perm_id, e.client_id, e.liquidation, e.cum_qty, e.avg_price, e.order_ref,
          "", "", "", e.last_liquidity]  # evRule, evMultiplier, modelCode
    if version >= 178:
        f.append(False)  # pendingPriceRevision
    return f


# fmt: on


def execution_end(req_id: int) -> Fields:
    return [p.EXECUTION_DATA_END, 1, req_id]


def commission_report(c: TwsCommission) -> Fields:
    # realizedPNL and yield are 'unset' (max double) unless a position closed.
    unset = "1.7976931348623157E308"
    pnl: Field = c.realized_pnl if c.realized_pnl is not None else unset
    return [p.COMMISSION_REPORT, 1, c.exec_id, c.commission, c.currency, pnl, unset, ""]


def account_value(tag: str, value: str, currency: str, account: str) -> Fields:
    return [p.ACCT_VALUE, 2, tag, value, currency, account]


# fmt: off
def portfolio_value(pos: TwsPosition, market_price: Decimal) -> Fields:
    c = pos.contract
    value = pos.quantity * market_price
    return [p.PORTFOLIO_VALUE, 8, c.con_id, c.symbol, c.sec_type, "", 0, "", "",
            c.primary_exchange, c.currency, c.local_symbol, c.symbol, pos.quantity, market_price,
            value, pos.avg_cost, value - pos.quantity * pos.avg_cost, 0, pos.account]


# fmt: on


def account_time(hh_mm: str) -> Fields:
    return [p.ACCT_UPDATE_TIME, 1, hh_mm]


def account_download_end(account: str) -> Fields:
    return [p.ACCT_DOWNLOAD_END, 1, account]


def account_update_multi(req_id: int, account: str, tag: str, value: str, currency: str) -> Fields:
    return [p.ACCOUNT_UPDATE_MULTI, 1, req_id, account, "", tag, value, currency]


def account_update_multi_end(req_id: int) -> Fields:
    return [p.ACCOUNT_UPDATE_MULTI_END, 1, req_id]
