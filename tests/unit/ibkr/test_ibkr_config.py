"""Settings, the paper/live port check and the managed-account check."""

from __future__ import annotations

import pytest

from adapters.broker.port import BrokerConfigError
from adapters.ibkr.config import (
    IbkrSettings,
    account_kind,
    check_port_account,
    resolve_account,
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HOST", "PORT", "CLIENT_ID", "ACCOUNT"):
        monkeypatch.delenv(f"LEDGER_IBKR_{name}", raising=False)


def test_defaults() -> None:
    s = IbkrSettings.load()
    assert (s.host, s.port, s.client_id, s.account) == ("127.0.0.1", 4002, 1, None)


def test_environment_then_explicit_values_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_IBKR_HOST", "gw.internal")
    monkeypatch.setenv("LEDGER_IBKR_PORT", "4001")
    monkeypatch.setenv("LEDGER_IBKR_CLIENT_ID", "17")
    monkeypatch.setenv("LEDGER_IBKR_ACCOUNT", "U1234567")
    s = IbkrSettings.load()
    assert (s.host, s.port, s.client_id, s.account) == ("gw.internal", 4001, 17, "U1234567")
    s = IbkrSettings.load(port=7497, account="DU1234567", host=None)
    assert (s.host, s.port, s.client_id, s.account) == ("gw.internal", 7497, 17, "DU1234567")


def test_invalid_port_is_refused() -> None:
    with pytest.raises(ValueError, match="port"):
        IbkrSettings.load(port=70000)


@pytest.mark.parametrize(
    ("account", "kind"),
    [("DU1234567", "paper"), ("DF1234", "paper"), ("U1234567", "live"), ("F123", "live"),
     ("X99", "unknown")],
)  # fmt: skip
def test_account_kind(account: str, kind: str) -> None:
    assert account_kind(account) == kind


@pytest.mark.parametrize("port", [7496, 4001])
def test_paper_account_on_live_port_is_refused(port: int) -> None:
    with pytest.raises(BrokerConfigError, match="paper account DU1234567 on live port"):
        check_port_account(port, "DU1234567")


@pytest.mark.parametrize("port", [7497, 4002])
def test_live_account_on_paper_port_is_refused(port: int) -> None:
    with pytest.raises(BrokerConfigError, match="live account U1234567 on paper port"):
        check_port_account(port, "U1234567")


@pytest.mark.parametrize(
    ("port", "account"), [(7496, "U1234567"), (4001, "U1"), (7497, "DU1"), (4002, "DU1")]
)
def test_matching_pairs_pass_without_warning(port: int, account: str) -> None:
    assert check_port_account(port, account) == []


def test_other_ports_are_allowed_with_a_warning() -> None:
    for account in ("DU1234567", "U1234567", None):
        (warning,) = check_port_account(5555, account)
        assert "port 5555 is not a standard" in warning


def test_unknown_account_kind_warns() -> None:
    (warning,) = check_port_account(4002, "X99")
    assert "X99" in warning


def test_account_must_be_managed() -> None:
    assert resolve_account("DU2", ["DU1", "DU2"]) == "DU2"
    with pytest.raises(BrokerConfigError, match=r"DU9 is not managed .* DU1, DU2"):
        resolve_account("DU9", ["DU1", "DU2"])


def test_single_managed_account_is_used_when_none_configured() -> None:
    assert resolve_account(None, ["DU1"]) == "DU1"
    with pytest.raises(BrokerConfigError, match="manages 2 accounts"):
        resolve_account(None, ["DU1", "DU2"])
