"""`ledger backtest` end to end: the CLI in-process, real SQLite stores, real bar files."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

from adapters.backtest.policy import AlternatingPolicy
from replay.cli import cli
from tests.unit.backtest.bars_support import (
    HEADER,
    flat_then_crash,
    run_engine,
    stamp,
    trimmed_sample,
    write_bars,
)

KEYS: dict[str, type | tuple[type, ...]] = {
    "events": int,
    "ledger_hash": str,
    "total_return": float,
    "sharpe": float,
    "max_drawdown": float,
    "psr": (float, type(None)),
    "turnover": float,
    "orders": int,
    "fills": int,
    "kill_switch_trips": int,
}


def ledger(*argv: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(argv), env=env or {})


def doc(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output + result.stderr
    body: dict[str, Any] = orjson.loads(result.stdout)
    return body


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trimmed_sample(tmp_path_factory.mktemp("bars"), ("SPY", "TLT"), 80)


def test_backtest_prints_and_writes_the_result_and_charts(sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = [
        "backtest",
        *("--data", str(sample), "--seed", "42", "--out", str(out), "--format", "json"),
        *("--rebalance", "3", "--slippage-bps", "2"),
    ]
    body = doc(ledger(*args))
    for key, kind in KEYS.items():
        assert isinstance(body[key], kind), key
    assert body["max_drawdown"] >= 0
    assert len(body["ledger_hash"]) == 64
    assert body["symbols"] == ["SPY", "TLT"] and body["bars"] == 160
    assert orjson.loads((out / "result.json").read_bytes()) == body
    for chart in ("equity.png", "weights.png"):
        assert (out / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert body["store"] == f"sqlite:///{(out / 'backtest.db').resolve()}"
    # a second run into the same directory replaces its store: same result
    again = doc(ledger(*args, "--no-charts"))
    assert again["ledger_hash"] == body["ledger_hash"]
    assert "charts" not in again


def test_store_before_the_command_and_text_output(sample: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mine.db'}"
    result = ledger(
        "--store",
        url,
        "backtest",
        "--data",
        str(sample / "SPY.csv"),
        "--out",
        str(tmp_path / "o"),
        "--no-charts",
    )
    assert result.exit_code == 0, result.stderr
    assert "ledger_hash" in result.stdout and "kill_switch_trips" in result.stdout
    assert (tmp_path / "mine.db").is_file() and not (tmp_path / "o" / "backtest.db").exists()
    # that store now holds a backtest: another one may not write into it
    refused = ledger(
        "--store", url, "backtest", "--data", str(sample), "--out", str(tmp_path / "o2")
    )
    assert refused.exit_code == 2
    assert "already holds" in refused.stderr


def test_bad_bar_file_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    (data / "AAPL.csv").write_text(HEADER + f"{stamp(1)},1,2,0.5,1,10\n{stamp(0)},1,2,0.5,1,10\n")
    result = ledger("backtest", "--data", str(data), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert f"{data / 'AAPL.csv'}:3: timestamps out of order" in result.stderr
    (data / "AAPL.csv").write_text(HEADER + f"{stamp(0)},1,x,0.5,1,10\n")
    result = ledger("backtest", "--data", str(data), "--out", str(tmp_path / "o"))
    assert (result.exit_code, "AAPL.csv:2: high: not a non-negative" in result.stderr) == (2, True)


def test_usage_errors(tmp_path: Path) -> None:
    out = str(tmp_path / "o")
    assert ledger("backtest", "--out", out).exit_code == 2
    assert (
        ledger("backtest", "--data", "x", "--from-ledger", "sqlite:///y.db", "--out", out).exit_code
        == 2
    )
    since = ledger("backtest", "--data", str(tmp_path), "--since", stamp(0), "--out", out)
    assert (since.exit_code, "--since and --until go with --from-ledger" in since.stderr) == (
        2,
        True,
    )
    missing = ledger("backtest", "--from-ledger", f"sqlite:///{tmp_path / 'none.db'}", "--out", out)
    assert (missing.exit_code, "no ledger at" in missing.stderr) == (2, True)
    naive = ledger(
        "backtest",
        "--from-ledger",
        "sqlite:///x.db",
        "--since",
        "2024-01-01T00:00:00",
        "--out",
        out,
    )
    assert naive.exit_code == 2 and "has no zone" in naive.stderr


def test_from_ledger_replays_a_window_and_lists_what_differs(tmp_path: Path) -> None:
    data = tmp_path / "crash"
    write_bars(data, "CRASH", flat_then_crash(days=40, crash_day=30))
    live_url = f"sqlite:///{tmp_path / 'live.db'}"
    # the "live" run: BUY 9,000 at day 0, the crash trips the kill switch on day 30 (daily
    # loss), the flatten order fills on day 31, the SELL of day 35 is denied
    run_engine(data, live_url, AlternatingPolicy("CRASH", Decimal(9000), every=35))
    same = doc(
        ledger(
            "backtest",
            "--from-ledger",
            live_url,
            "--out",
            str(tmp_path / "same"),
            "--format",
            "json",
            "--slippage-bps",
            "0",
            "--commission-bps",
            "0",
        )
    )
    assert same["inputs"] == {
        "bars": 40,
        "ticks": 0,
        "ofi": 0,
        "intents": 2,
        "operator_commands": 0,
    }
    assert same["differences"] == []
    assert [t["trigger"] for t in same["kill_switch"]["replay"]] == ["daily_loss"]
    assert same["kill_switch"]["live"] == same["kill_switch"]["replay"]
    # what if the risk limits had been far looser?
    loose = {
        "LEDGER_DAILY_LOSS_LIMIT": "0.5",
        "LEDGER_DRAWDOWN_LIMIT": "0.5",
        "LEDGER_PSR_THRESHOLD": "0",
    }
    relaxed = doc(
        ledger(
            "backtest",
            "--from-ledger",
            live_url,
            "--out",
            str(tmp_path / "what"),
            "--format",
            "json",
            env=loose,
        )
    )
    assert relaxed["kill_switch"]["replay"] == []
    (diff,) = relaxed["differences"]
    assert (diff["side"], diff["live_status"], diff["replay_status"]) == (
        "SELL",
        "DENIED",
        "FILLED",
    )
    assert relaxed["intents"] == {"live": {"DENIED": 1, "FILLED": 1}, "replay": {"FILLED": 2}}
    # a window: the inputs recorded from day 10 on
    window = doc(
        ledger(
            "backtest",
            "--from-ledger",
            live_url,
            "--since",
            stamp(10),
            "--until",
            stamp(20),
            "--out",
            str(tmp_path / "w"),
            "--format",
            "json",
        )
    )
    assert window["inputs"]["bars"] == 11 and window["inputs"]["intents"] == 0
    assert window["since"] == stamp(10)
