"""Named errors of the domain. Each one says what went wrong, never `ValueError`."""

from __future__ import annotations


class LedgerError(Exception):
    """Base class of every error the domain raises on purpose."""


class TransitionNotAllowed(LedgerError):
    """An event does not fit the current state of a state machine."""


class OverFill(LedgerError):
    """A fill would take an order's filled quantity past its quantity."""


class KillSwitchCommandRefused(LedgerError):
    """An operator command does not fit the kill switch's current state."""


class EventDecodingError(LedgerError):
    """A stored event could not be turned back into a domain event."""


class InstrumentsFileError(LedgerError):
    """The instruments file cannot be read or has a bad row."""


class ConfigurationError(LedgerError):
    """A setting has a value the ledger cannot use."""
