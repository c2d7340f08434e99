"""`ledger db init`: create the store explicitly, with the PostgreSQL role model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from adapters.store.admin import init_store
from adapters.store.roles import RoleNames
from replay.render import emit_doc
from replay.runtime import common_options, runtime, translate_errors

F = TypeVar("F", bound=Callable[..., Any])


@click.group()
def db() -> None:
    """Store administration."""


_DEFAULTS = RoleNames()


def _role_option(kind: str) -> Callable[[F], F]:
    return click.option(
        f"--{kind}-role",
        envvar=f"LEDGER_DB_{kind.upper()}_ROLE",
        default=getattr(_DEFAULTS, kind),
        show_default=True,
        metavar="NAME",
        help=f"Name of the {kind} role (env LEDGER_DB_{kind.upper()}_ROLE).",
    )


@db.command("init")
@_role_option("owner")
@_role_option("writer")
@_role_option("projector")
@_role_option("reader")
@common_options
@click.pass_context
def init(
    ctx: click.Context,
    owner_role: str,
    writer_role: str,
    projector_role: str,
    reader_role: str,
    fmt: str | None,
    store: str | None,
) -> None:
    """Create the tables and record the schema version; on PostgreSQL also the roles.

    Idempotent: run it again after an upgrade or after adding read-model tables.
    SQLite needs no roles (and no set-up: the store is created on first use).

    On PostgreSQL it runs as the login (a superuser, or a role with CREATEROLE that
    owns the schema) and creates NOLOGIN group roles when absent, granted to the
    login when it is not a superuser. Which role each command should run as
    (LEDGER_DB_ROLE=<kind> or a command's --db-role):

    \b
      owner      db init (tables are created as it), migrations
      writer     serve, ingest, killswitch trip/reset: INSERT + SELECT on events
      projector  rebuild, reading commands that catch projections up: proj_* tables
      reader     replay, verify, audit --from-log: SELECT only
    """
    rt = runtime(ctx, fmt, store)
    with translate_errors():
        names = RoleNames(
            owner=owner_role, writer=writer_role, projector=projector_role, reader=reader_role
        )
        report = init_store(rt.store_url, names)
    emit_doc(report.as_dict(), rt.format)
