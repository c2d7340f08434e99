"""Interactive Brokers adapter on ib_async (see /work/shared/IBKR_NOTES.md).

ib_async objects never leave this package: `IbkrBroker` implements the broker
port with the port's dataclasses and contract ExecutionReports.
"""

from adapters.ibkr.client import IbkrBroker
from adapters.ibkr.config import IbkrSettings, check_port_account, resolve_account
from adapters.ibkr.resync import MissedFills, missed_fills

__all__ = [
    "IbkrBroker",
    "IbkrSettings",
    "MissedFills",
    "check_port_account",
    "missed_fills",
    "resolve_account",
]
