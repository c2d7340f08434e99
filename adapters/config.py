"""Settings from the environment (pydantic-settings), with the embedded defaults."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.errors import InstrumentsFileError
from domain.instruments import Instruments, parse_instruments_csv
from domain.killswitch import RiskLimits
from domain.ledger import LedgerConfig

DEFAULT_STORE = "sqlite:///var/ledger.db"


class LedgerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", extra="ignore")

    store: str = DEFAULT_STORE
    account: str = "SIM"
    currency: str = "USD"
    starting_equity: Decimal = Field(default=Decimal(1_000_000), gt=0)
    instruments: Path | None = None
    daily_loss_limit: Decimal = Field(default=Decimal("0.05"), gt=0, lt=1)
    drawdown_limit: Decimal = Field(default=Decimal("0.15"), gt=0, lt=1)
    psr_threshold: Decimal = Field(default=Decimal("0.20"), ge=0, le=1)
    psr_min_returns: int = Field(default=30, ge=3)
    batch_size: int = Field(default=5000, ge=1)

    def ledger_config(self) -> LedgerConfig:
        instruments = Instruments(currency=self.currency)
        if self.instruments is not None:
            try:
                text = self.instruments.read_text(encoding="utf-8")
            except OSError as e:
                raise InstrumentsFileError(f"cannot read {self.instruments}: {e}") from e
            instruments = parse_instruments_csv(text, self.currency)
        limits = RiskLimits(
            self.daily_loss_limit, self.drawdown_limit, self.psr_threshold, self.psr_min_returns
        )
        return LedgerConfig(self.account, self.currency, self.starting_equity, limits, instruments)
