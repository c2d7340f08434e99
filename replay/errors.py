"""Exit codes (DESIGN.md §7) and the errors that carry them."""

from __future__ import annotations

import click

OK = 0
USAGE = 2
DATA = 3  # a data problem or disagreement: strict ingest, reconcile breaks, replay --check
UNAVAILABLE = 4  # a required service is unreachable: store, broker, Kafka
INTEGRITY = 5  # `verify` found the chain broken


class CliError(click.ClickException):
    """An error with its exit code and a one-line message for stderr."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        # click declares `exit_code` on the class; each error carries its own.
        vars(self)["exit_code"] = exit_code

    def show(self, file: object = None) -> None:
        click.echo(f"ledger: error: {self.format_message()}", err=True)
