"""The `ledger` command (also `python -m replay`).

Commands are imported when they are run, not at start-up: `ledger ingest` must not
pay for matplotlib, cvxpy or ib_async, which only other commands use.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from adapters.process import tune_gc
from replay.runtime import Runtime, common_options

COMMANDS: dict[str, str] = {
    "ingest": "replay.commands.ingest:ingest",
    "positions": "replay.commands.views:positions",
    "orders": "replay.commands.views:orders",
    "killswitch": "replay.commands.killswitch:killswitch",
    "quarantine": "replay.commands.views:quarantine",
    "verify": "replay.commands.verify:verify",
    "db": "replay.commands.db:db",
    "replay": "replay.commands.replay_cmd:replay",
    "audit": "replay.commands.audit:audit",
    "postmortem": "replay.commands.postmortem:postmortem",
    "rebuild": "replay.commands.rebuild:rebuild",
    "serve": "replay.commands.serve:serve",
    "reconcile": "replay.commands.reconcile:reconcile",
    "backtest": "replay.commands.backtest:backtest",
    "snapshot": "replay.commands.snapshot:snapshot",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attr = target.split(":")
        command: Any = getattr(importlib.import_module(module_name), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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


def main() -> None:
    tune_gc()
    sys.exit(cli.main(prog_name="ledger", standalone_mode=True))
