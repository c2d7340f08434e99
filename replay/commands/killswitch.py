"""`ledger killswitch status|trip|reset`."""

from __future__ import annotations

import click

from domain.killswitch import KillSwitchCommand
from projections.views import killswitch_row
from replay.commands.views import killswitch_status
from replay.errors import USAGE, CliError
from replay.render import emit_doc
from replay.runtime import common_options, runtime, translate_errors


@click.group()
def killswitch() -> None:
    """The kill switch: ARMED, REDUCING (exits only) or TRIPPED (halted)."""


def _reason(value: str) -> str:
    if not value.strip():
        raise CliError("--reason must say why", USAGE)
    return value.strip()


@killswitch.command()
@click.option("--reason", required=True, help="Why (recorded on the event).")
@click.option("--by", "by", required=True, help="Operator name (recorded on the event).")
@common_options
@click.pass_context
def trip(ctx: click.Context, reason: str, by: str, fmt: str | None, store: str | None) -> None:
    """Halt trading now: working orders get cancel requests; new intents are denied."""
    rt = runtime(ctx, fmt, store)
    app = rt.open()
    with translate_errors():
        app.command_killswitch(KillSwitchCommand.TRIP, _reason(reason), rt.operator(by, app))
    emit_doc(killswitch_row(app.ledger), rt.format)


@killswitch.command()
@click.option(
    "--to",
    "to",
    type=click.Choice(["ARMED", "REDUCING"]),
    default="ARMED",
    show_default=True,
    help="ARMED resumes trading; REDUCING lets only exits through.",
)
@click.option("--reason", required=True, help="Why (recorded on the event).")
@click.option("--by", "by", required=True, help="Operator name (recorded on the event).")
@common_options
@click.pass_context
def reset(
    ctx: click.Context, to: str, reason: str, by: str, fmt: str | None, store: str | None
) -> None:
    """Move the switch back, as an operator, with a reason."""
    rt = runtime(ctx, fmt, store)
    app = rt.open()
    command = KillSwitchCommand.ARM if to == "ARMED" else KillSwitchCommand.REDUCE_ONLY
    with translate_errors():
        app.command_killswitch(command, _reason(reason), rt.operator(by, app))
    emit_doc(killswitch_row(app.ledger), rt.format)


# `status` reads the kill-switch projection (caught up first), like the other listings.
killswitch.add_command(killswitch_status)
