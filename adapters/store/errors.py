"""The store's errors, in the ledger's words (driver errors are chained with `from`)."""

from __future__ import annotations


class StoreError(Exception):
    """Base of the store adapter's errors."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or opened (exit code 4)."""


class StoreUrlError(StoreError):
    """A store URL the ledger does not understand (exit code 2)."""


class AppendOnlyViolation(StoreError):
    """The database refused a change to an append-only table."""
