"""The post-mortem as Markdown: it opens with what the kill switch did and why, then the
account, positions, orders and event counts. Every number is copied from the data
document (`postmortem.json`) as its exact string, never recomputed or reformatted,
so the report and the JSON cannot disagree."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

CHARTS = {"equity": "equity_drawdown.png", "positions": "positions.png", "orders": "orders.png"}


def _cell(value: Any) -> str:
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def _where(bound: dict[str, Any]) -> str:
    spec, position = bound["spec"], f"@{bound['position']}"
    at = f"recorded {bound['recorded_at']}" if bound["recorded_at"] else ""
    if spec == position:
        return f"{spec} ({at})" if at else spec
    return f"{spec} ({position}{', ' + at if at else ''})"


def _ks_state(row: dict[str, Any]) -> str:
    text = str(row["state"])
    if row["since"]:
        text += f" since {row['since']}"
    if row["reason"]:
        text += f" ({row['reason']}"
        text += f", by {row['by']})" if row["by"] else ")"
    return text


def _transition_line(t: dict[str, Any]) -> str:
    line = f"- @{t['position']} ({t['recorded_at']}): {t['previous_state']} -> {t['state']}"
    line += f" by {t['by']}"
    if t["trigger"]:
        line += (
            f", trigger {t['trigger']} ({t['action']}): {t['reason']}; measure "
            f"{t['measure']} against threshold {t['threshold']}, equity {t['equity']}, "
            f"high-water mark {t['high_water_mark']}"
        )
    else:
        line += f": {t['reason']}"
    return line + f". Input: {t['source'] or '(derived)'}."


def kill_switch_section(data: dict[str, Any]) -> list[str]:
    ks = data["kill_switch"]
    lines = ["## What the kill switch did", ""]
    transitions = ks["transitions"]
    if not transitions:
        lines.append(
            f"Nothing: it was {_ks_state(ks['at_since'])} at the start of the "
            "window and did not change."
        )
        return [*lines, ""]
    lines.append(
        f"It changed state {len(transitions)} time(s) in the window "
        f"(at the start: {_ks_state(ks['at_since'])}):"
    )
    lines.append("")
    lines += [_transition_line(t) for t in transitions]
    after = ks["after_trip"]
    if any(t["event"] == "KillSwitchTripped" for t in transitions):
        lines += [
            "",
            f"After the first trip: {after['cancel_requests']} cancel request(s), "
            f"{after['flatten_orders']} flatten order(s), "
            f"{after['denied_intents']} intent(s) denied.",
        ]
    lines += ["", f"At the end of the window: {_ks_state(ks['at_until'])}.", ""]
    lines += md_table(
        [
            "position",
            "recorded_at",
            "occurred_at",
            "from",
            "to",
            "trigger",
            "action",
            "reason",
            "by",
            "equity",
            "high_water_mark",
            "measure",
            "threshold",
            "source",
        ],
        [
            [
                t["position"],
                t["recorded_at"],
                t["occurred_at"],
                t["previous_state"],
                t["state"],
                t["trigger"],
                t["action"],
                t["reason"],
                t["by"],
                t["equity"],
                t["high_water_mark"],
                t["measure"],
                t["threshold"],
                t["source"],
            ]
            for t in transitions
        ],
    )
    return lines


def account_section(data: dict[str, Any]) -> list[str]:
    a = data["account"]
    fields = ["cash", "equity", "high_water_mark", "drawdown", "day", "opening_equity"]
    lines = ["## Account", ""]
    lines += md_table(
        ["figure", "at start", "at end"], [[f, a["at_since"][f], a["at_until"][f]] for f in fields]
    )
    lines += [
        f"Lowest equity in the window: {a['lowest_equity']} (@{a['lowest_equity_at']}). "
        f"Largest drawdown: {a['max_drawdown']} (@{a['max_drawdown_at']}).",
        "",
        f"![Equity and drawdown]({CHARTS['equity']})",
        "",
    ]
    return lines


def positions_section(data: dict[str, Any]) -> list[str]:
    start = {f"{p['account']}:{p['symbol']}": p for p in data["state_at_since"]["positions"]}
    end = {f"{p['account']}:{p['symbol']}": p for p in data["state_at_until"]["positions"]}
    keys = list(dict.fromkeys([*start, *end]))
    lines = ["## Positions", ""]
    if not keys:
        return [*lines, "No positions.", ""]
    lines += md_table(
        [
            "position",
            "quantity at start",
            "quantity at end",
            "avg_price at end",
            "realized_pnl at end",
            "commission at end",
        ],
        [
            [
                k,
                start[k]["quantity"] if k in start else "0",
                end[k]["quantity"],
                end[k]["avg_price"],
                end[k]["realized_pnl"],
                end[k]["commission"],
            ]
            for k in keys
        ],
    )
    return [*lines, f"![Positions]({CHARTS['positions']})", ""]


def orders_section(data: dict[str, Any]) -> list[str]:
    orders = data["orders"]
    lines = ["## Orders", ""]
    if not orders:
        return [*lines, "No order events in the window.", ""]
    lines += md_table(
        ["intent_id", "symbol", "side", "quantity", "origin", "events", "final status", "filled"],
        [
            [
                o["intent_id"],
                o["symbol"],
                o["side"],
                o["quantity"],
                o["origin"],
                " > ".join(e["event"] for e in o["events"]),
                o["final_status"],
                o["filled_quantity"],
            ]
            for o in orders
        ],
    )
    return [*lines, f"![Order lifecycles]({CHARTS['orders']})", ""]


def render(data: dict[str, Any]) -> str:
    since, until = data["since"], data["until"]
    total = sum(data["event_counts"].values())
    lines = [
        f"# Post-mortem: {since['spec']} to {until['spec']}",
        "",
        f"Window: from {_where(since)} to {_where(until)}; {total} events, "
        f"by {data['by']} time. Rebuilt from the event log.",
        "",
    ]
    lines += kill_switch_section(data)
    lines += account_section(data)
    lines += positions_section(data)
    lines += orders_section(data)
    lines += ["## Events in the window", ""]
    lines += md_table(["event", "count"], list(data["event_counts"].items()))
    lines += [
        "Every number above is in `postmortem.json`, with the full equity curve, "
        "position series and order lifecycles.",
        "",
    ]
    return "\n".join(lines)
