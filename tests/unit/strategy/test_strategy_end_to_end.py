"""`Strategy` on the bundled sample data, the way the backtest engine will call it."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from domain.strategy import (
    REGIME_LIMITS,
    MarketHistory,
    Regime,
    Strategy,
    StrategyConfig,
    StrategyConfigError,
    StrategyInputError,
    TargetWeights,
)

SAMPLE = Path(__file__).resolve().parents[3] / "data" / "sample"
SYMBOLS = ("AAPL", "GLD", "MSFT", "SPY", "TLT")
TOL = 1e-6
# A rebalance every 20 bars keeps the run to ~40 calls; refits every 126 bars.
CONFIG = StrategyConfig(rebalance_interval=20, regime_refit_interval=126, seed=11)


def load_closes() -> np.ndarray:
    columns = []
    for symbol in SYMBOLS:
        with (SAMPLE / f"{symbol}.csv").open(newline="") as handle:
            columns.append([float(row["close"]) for row in csv.DictReader(handle)])
    return np.array(columns).T


CLOSES = load_closes()


def run(config: StrategyConfig, closes: np.ndarray = CLOSES) -> list[tuple[int, TargetWeights]]:
    strategy = Strategy(config)
    return [
        (t, strategy.target_weights(MarketHistory(SYMBOLS, closes[: t + 1])))
        for t in range(closes.shape[0])
        if strategy.is_rebalance_bar(t)
    ]


RUN = run(CONFIG)


def test_rebalances_happen_every_interval_after_warm_up() -> None:
    bars = [t for t, _ in RUN]

    assert bars[0] == CONFIG.warm_up_bars - 1
    assert set(np.diff(bars)) == {CONFIG.rebalance_interval}


def test_every_target_respects_the_limits_of_its_regime() -> None:
    for t, (weights, regime, diagnostics) in RUN:
        w = np.array([weights[s] for s in SYMBOLS])
        limits = REGIME_LIMITS[regime]
        assert list(weights) == list(SYMBOLS), t
        assert not diagnostics.fell_back, (t, diagnostics.reason)
        assert np.all(np.abs(w) <= CONFIG.box + TOL), t
        assert np.abs(w).sum() <= limits.gross + TOL, t
        assert abs(w.sum()) <= limits.net + TOL, t
        assert diagnostics.annual_vol <= CONFIG.vol_target + 1e-4, t
        assert diagnostics.gross == pytest.approx(np.abs(w).sum())


def test_the_run_trades_and_sees_more_than_one_regime() -> None:
    regimes = {regime for _, (_, regime, _) in RUN}
    gross = [d.gross for _, (_, _, d) in RUN]

    assert len(regimes) >= 2
    assert regimes <= set(Regime)
    assert max(gross) > 0.5
    assert any(d.regime_refitted for _, (_, _, d) in RUN)


def test_signal_weights_form_a_distribution() -> None:
    for _, (_, _, diagnostics) in RUN:
        assert set(diagnostics.signal_weights) == {"momentum", "mean_reversion"}
        assert sum(diagnostics.signal_weights.values()) == pytest.approx(1.0)
        assert all(w >= 0.0 for w in diagnostics.signal_weights.values())


def test_same_seed_and_inputs_give_identical_results() -> None:
    again = run(CONFIG)

    # repr: the IC dicts may hold NaN, which is never == itself.
    assert repr(again) == repr(RUN)


def test_warm_up_holds_the_current_book() -> None:
    strategy = Strategy(CONFIG)
    history = MarketHistory(SYMBOLS, CLOSES[:10])

    weights, regime, diagnostics = strategy.target_weights(history, previous={"SPY": 0.3})

    assert weights == {"AAPL": 0.0, "GLD": 0.0, "MSFT": 0.0, "SPY": 0.3, "TLT": 0.0}
    assert regime == Regime.NORMAL
    assert diagnostics.warming_up
    assert diagnostics.reason is not None and "warming up" in diagnostics.reason


def test_order_flow_signal_joins_when_ofi_is_present() -> None:
    bars = 200
    ofi = np.full((bars, len(SYMBOLS)), np.nan)
    ofi[-30:] = np.random.default_rng(0).normal(size=(30, len(SYMBOLS)))
    history = MarketHistory(SYMBOLS, CLOSES[:bars], ofi=ofi)

    _, _, diagnostics = Strategy(CONFIG).target_weights(history)

    assert set(diagnostics.signal_weights) == {"momentum", "mean_reversion", "order_flow"}


def test_history_shape_is_checked() -> None:
    with pytest.raises(StrategyInputError):
        MarketHistory(SYMBOLS, CLOSES[:, :3])
    with pytest.raises(StrategyInputError):
        MarketHistory(("A", "A"), CLOSES[:, :2])


@pytest.mark.parametrize(
    "bad",
    [
        {"momentum_lookback": 0},
        {"cov_window": 1},
        {"cov_shrinkage": 1.5},
        {"vol_target": float("nan")},
        {"box": -0.1},
        {"regime_history": 10},
    ],
)
def test_config_rejects_impossible_settings(bad: dict[str, float]) -> None:
    with pytest.raises(StrategyConfigError):
        StrategyConfig(**bad)  # type: ignore[arg-type]
