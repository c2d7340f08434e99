"""PNG charts of a run (matplotlib, Agg backend: no display needed).

- `equity.png`: equity over time, and below it the drawdown, with the
  strategy's regime shaded (Calm / Normal / Storm, as decided at each
  rebalance) and every kill-switch trip marked;
- `weights.png`: each symbol's target weight at each rebalance, and the weight
  the book held then (they part when the kill switch halts trading).
Long runs are thinned to at most MAX_POINTS points per line.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates  # after choosing the backend (Agg)
import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.patches import Patch

from adapters.backtest.engine import RunStats
from adapters.backtest.feed import Timeline
from adapters.backtest.metrics import drawdown_curve
from adapters.backtest.weights import Rebalance

MAX_POINTS = 5000
REGIME_COLOURS = {"Calm": "#d8f0d8", "Normal": "#f4f4f4", "Storm": "#f6d5d5"}
Times = npt.NDArray[np.datetime64]


def write_charts(
    out: Path, line: Timeline, stats: RunStats, rebalances: list[Rebalance]
) -> list[str]:
    """Write the charts into `out`; returns their file names."""
    keep = _thin(len(stats.equity))
    times: Times = line.times[: len(stats.equity)].astype("datetime64[us]")
    equity = np.asarray(stats.equity, dtype=np.float64)
    drawdown = drawdown_curve(stats.equity)
    end = times[-1] if times.size else None
    return [
        _equity_chart(
            out / "equity.png", times[keep], equity[keep], drawdown[keep], end, stats, rebalances
        ),
        _weights_chart(out / "weights.png", line.symbols, rebalances),
    ]


def _thin(n: int) -> npt.NDArray[np.int64]:
    if not n:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.linspace(0, n - 1, min(n, MAX_POINTS)).astype(np.int64))


def _when(at: object) -> np.datetime64:
    return np.datetime64(str(at).replace("+00:00", ""), "us")


def _equity_chart(
    path: Path,
    times: Times,
    equity: npt.NDArray[np.float64],
    drawdown: npt.NDArray[np.float64],
    end: np.datetime64 | None,
    stats: RunStats,
    rebalances: list[Rebalance],
) -> str:
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    for axis in (top, bottom):
        _shade_regimes(axis, rebalances, end)
    top.plot(times, equity, color="#1f4e79", linewidth=1.0, label="equity")
    top.set_ylabel("equity")
    top.set_title("Equity and drawdown (shading: regime at each rebalance)")
    bottom.fill_between(times, -drawdown * 100, 0, color="#b03a2e", alpha=0.6, linewidth=0)
    bottom.set_ylabel("drawdown %")
    for i, trip in enumerate(stats.trips):
        label = f"kill switch trip ({trip.trigger})" if i == 0 else None
        top.axvline(_when(trip.time), color="black", linestyle="--", linewidth=1.0, label=label)
        bottom.axvline(_when(trip.time), color="black", linestyle="--", linewidth=1.0)
    handles, labels = top.get_legend_handles_labels()
    regimes = [Patch(color=c, label=name) for name, c in REGIME_COLOURS.items()]
    top.legend(
        handles=[*handles, *regimes],
        labels=[*labels, *REGIME_COLOURS],
        loc="upper left",
        fontsize=8,
    )
    _date_axis(bottom)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path.name


def _shade_regimes(axis: Axes, rebalances: list[Rebalance], end: np.datetime64 | None) -> None:
    for this, nxt in zip(rebalances, [*rebalances[1:], None], strict=True):
        stop = _when(nxt.time) if nxt is not None else end
        if stop is not None:
            axis.axvspan(
                _num(_when(this.time)),
                _num(stop),
                color=REGIME_COLOURS.get(this.regime, "white"),
                linewidth=0,
                zorder=0,
            )


def _weights_chart(path: Path, symbols: tuple[str, ...], rebalances: list[Rebalance]) -> str:
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True)
    if rebalances:
        times = np.array([_when(r.time) for r in rebalances], dtype="datetime64[us]")
        for symbol in symbols:
            targets = np.array([r.weights.get(symbol, 0.0) for r in rebalances])
            held = np.array([r.held.get(symbol, 0.0) for r in rebalances])
            top.step(times, targets, where="post", linewidth=1.0, label=symbol)
            bottom.step(times, held, where="post", linewidth=1.0, label=symbol)
        top.legend(loc="upper left", fontsize=8, ncol=min(len(symbols), 6))
    for axis, what in ((top, "target weight"), (bottom, "held weight")):
        axis.axhline(0, color="grey", linewidth=0.5)
        axis.set_ylabel(what)
    top.set_title("Weights at each rebalance: the strategy's targets, and the book's")
    _date_axis(bottom)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path.name


def _num(at: np.datetime64) -> float:
    return float(mdates.date2num(at))  # type: ignore[no-untyped-call]


def _date_axis(axis: Axes) -> None:
    locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
    axis.xaxis.set_major_locator(locator)
    axis.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
