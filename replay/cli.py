"""The `ledger` command (also `python -m replay`)."""

from __future__ import annotations

import sys

import click

from replay.commands.ingest import ingest
from replay.commands.killswitch import killswitch
from replay.commands.views import orders, positions, quarantine
from replay.runtime import Runtime, common_options


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@common_options
@click.version_option(package_name="tradeledger", prog_name="ledger")
@click.pass_context
def cli(ctx: click.Context, fmt: str | None, store: str | None) -> None:
    """tradeledger: the event-sourced system of record for orders, positions and risk.

    --format and --store work before or after the command name.
    Exit codes: 0 ok, 2 usage, 3 data problem or disagreement, 4 service
    unreachable, 5 integrity failure.
    """
    ctx.obj = Runtime(fmt, store)


for command in (ingest, positions, orders, killswitch, quarantine):
    cli.add_command(command)


def main() -> None:
    sys.exit(cli.main(prog_name="ledger", standalone_mode=True))
