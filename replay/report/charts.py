"""The post-mortem's charts, drawn with matplotlib's Agg renderer (no display needed).

`Figure` objects are used directly, not pyplot: no global figure state, no backend
switch at import time, safe to call from any thread.

The x axis is the global log position: it is exact and monotonic, whereas several
events share a recorded time (one batch) and occurred times run backwards when reports
arrive late; the report's tables give the times. Decimal strings become floats here,
only to draw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from replay.report.markdown import CHARTS

MAX_ORDERS = 60  # more lifecycles than this are unreadable on one chart
_MARKERS = {
    "OrderIntentRecorded": ("o", "tab:blue"),
    "OrderSubmitted": (">", "tab:gray"),
    "OrderAcknowledged": (">", "tab:gray"),
    "OrderPartiallyFilled": ("D", "tab:green"),
    "OrderFilled": ("D", "darkgreen"),
    "OrderFillCorrected": ("*", "tab:olive"),
    "OrderCancelRequested": ("x", "tab:orange"),
    "OrderCanceled": ("X", "tab:orange"),
    "OrderCancelRejected": ("x", "tab:brown"),
    "OrderRejected": ("s", "tab:red"),
    "OrderDenied": ("s", "darkred"),
    "OrderExpired": ("s", "tab:purple"),
    "OrderMessageRefused": ("!", "red"),
    "OrderStatusCorrected": ("*", "tab:cyan"),
}
_STATE_COLOURS = {"TRIPPED": "red", "REDUCING": "orange", "ARMED": "green"}


def _mark_transitions(ax: Any, transitions: list[dict[str, Any]], label: bool) -> None:
    for t in transitions:
        colour = _STATE_COLOURS.get(t["state"], "black")
        ax.axvline(t["position"], color=colour, linestyle="--", linewidth=1)
        if label:
            text = t["state"] + (f" ({t['trigger']})" if t["trigger"] else "")
            ax.annotate(
                text,
                (t["position"], 1),
                xycoords=("data", "axes fraction"),
                rotation=90,
                va="top",
                ha="right",
                fontsize=7,
                color=colour,
            )


def equity_chart(data: dict[str, Any], path: Path) -> None:
    curve = list(data["equity_curve"])
    end = data["until"]["position"]
    if curve[-1]["position"] < end:  # the last values hold to the end of the window
        curve.append({**curve[-1], "position": end})
    xs = [p["position"] for p in curve]
    fig = Figure(figsize=(10, 6))
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    top.step(xs, [float(p["equity"]) for p in curve], where="post", label="equity")
    top.step(
        xs,
        [float(p["high_water_mark"]) for p in curve],
        where="post",
        label="high-water mark",
        linestyle=":",
    )
    top.set_ylabel("equity")
    top.legend(loc="lower left", fontsize=8)
    bottom.step(xs, [float(p["drawdown"]) * 100 for p in curve], where="post", color="tab:red")
    bottom.set_ylabel("drawdown (%)")
    bottom.set_xlabel("log position")
    transitions = data["kill_switch"]["transitions"]
    _mark_transitions(top, transitions, label=True)
    _mark_transitions(bottom, transitions, label=False)
    top.set_title("Equity and drawdown; kill-switch transitions dashed")
    _save(fig, path)


def positions_chart(data: dict[str, Any], path: Path) -> None:
    fig = Figure(figsize=(10, 4))
    ax = fig.subplots()
    start, end = data["since"]["position"], data["until"]["position"]
    for key, series in data["positions"].items():
        xs = [p["position"] for p in series] + [end]
        ys = [float(p["quantity"]) for p in series]
        if xs[0] > start:  # opened in the window: flat before
            xs, ys = [start, *xs], [0.0, *ys]
        ax.step(xs, [*ys, ys[-1]], where="post", label=key)
    if data["positions"]:
        ax.legend(loc="best", fontsize=8)
    _mark_transitions(ax, data["kill_switch"]["transitions"], label=False)
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xlabel("log position")
    ax.set_ylabel("quantity")
    ax.set_title("Position per symbol")
    _save(fig, path)


def orders_chart(data: dict[str, Any], path: Path) -> None:
    orders = data["orders"][:MAX_ORDERS]
    fig = Figure(figsize=(10, max(2.5, 0.3 * len(orders) + 1)))
    ax = fig.subplots()
    by_event: dict[str, tuple[list[int], list[int]]] = {}
    for y, order in enumerate(orders):
        xs = [e["position"] for e in order["events"]]
        ax.plot([min(xs), max(xs)], [y, y], color="lightgray", linewidth=2, zorder=1)
        for e in order["events"]:
            points = by_event.setdefault(e["event"], ([], []))
            points[0].append(e["position"])
            points[1].append(y)
    for name, (xs, ys) in by_event.items():  # one scatter per event type: one legend entry
        marker, colour = _MARKERS.get(name, ("o", "black"))
        ax.scatter(
            xs, ys, marker="$!$" if marker == "!" else marker, color=colour, zorder=2, label=name
        )
    ax.set_yticks(range(len(orders)))
    ax.set_yticklabels(
        [f"{o['symbol']} {o['side']} {o['quantity']} ..{o['intent_id'][-4:]}" for o in orders],
        fontsize=7,
    )
    ax.invert_yaxis()
    _mark_transitions(ax, data["kill_switch"]["transitions"], label=False)
    ax.set_xlabel("log position")
    shown = (
        f" (first {MAX_ORDERS} of {len(data['orders'])})"
        if len(data["orders"]) > MAX_ORDERS
        else ""
    )
    ax.set_title(f"Order lifecycles{shown}")
    if by_event:
        ax.legend(loc="center left", bbox_to_anchor=(1, 0.5), fontsize=7)
    _save(fig, path)


def _save(fig: Figure, path: Path) -> None:
    for ax in fig.axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    # No version in the metadata: the same window gives the same files.
    fig.savefig(path, dpi=100, metadata={"Software": None})


def render_charts(data: dict[str, Any], out: Path) -> list[Path]:
    paths = [out / CHARTS["equity"], out / CHARTS["positions"], out / CHARTS["orders"]]
    equity_chart(data, paths[0])
    positions_chart(data, paths[1])
    orders_chart(data, paths[2])
    return paths
