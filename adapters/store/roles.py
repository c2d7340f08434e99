"""The PostgreSQL role model: names (configurable, since roles are cluster-wide) and the
role a connection runs as.

- owner: owns the ledger's tables; migrations (`ledger db init` creates them as it).
- writer: INSERT + SELECT on the event table and on `ledger_snapshots` (append-only
  both), upserts source positions (`serve`, `ingest`).
- projector: SELECT on the event tables, all rights on the read-model tables `proj_*`
  (projections, `rebuild`), never a change to the event tables.
- reader: SELECT only (`replay`, `verify`, `audit --from-log`).

`LEDGER_DB_ROLE` (or a command's `--db-role`) picks the role after connecting: one of
the kinds above (resolved through the configured names) or a literal role name. Empty
means the login role itself. The embedded SQLite store has no roles and ignores it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from adapters.store.errors import StoreUrlError

ROLE_ENV = "LEDGER_DB_ROLE"
KINDS = ("owner", "writer", "projector", "reader")
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class RoleNameError(StoreUrlError):
    """A role name PostgreSQL would need quoting for (we only accept plain identifiers)."""


def check_role_name(name: str) -> str:
    if not _NAME.match(name):
        raise RoleNameError(
            f"bad role name {name!r}: use lower-case letters, digits and _ (at most 63)"
        )
    return name


@dataclass(frozen=True)
class RoleNames:
    owner: str = "ledger_owner"
    writer: str = "ledger_writer"
    projector: str = "ledger_projector"
    reader: str = "ledger_reader"

    def __post_init__(self) -> None:
        for kind in KINDS:
            check_role_name(getattr(self, kind))
        if len({self.owner, self.writer, self.projector, self.reader}) != len(KINDS):
            raise RoleNameError("the four ledger roles need four different names")

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: str | None
    ) -> RoleNames:
        """Names from `LEDGER_DB_<KIND>_ROLE`, then explicit overrides (command flags)."""
        env = os.environ if environ is None else environ
        names = {k: env.get(f"LEDGER_DB_{k.upper()}_ROLE", "") for k in KINDS}
        names.update({k: v for k, v in overrides.items() if v})
        return cls(**{k: v for k, v in names.items() if v})

    def as_dict(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in KINDS}


def resolve_role(
    value: str | None, names: RoleNames | None = None, environ: Mapping[str, str] | None = None
) -> str:
    """The role name to switch to: `value`, else `LEDGER_DB_ROLE`; a kind maps through
    `names`; "" means stay the login role."""
    env = os.environ if environ is None else environ
    raw = (value if value is not None else env.get(ROLE_ENV, "")).strip()
    if not raw:
        return ""
    if raw in KINDS:
        return str(getattr(names or RoleNames.from_env(env), raw))
    return check_role_name(raw)


def connect_options(role: str) -> dict[str, str]:
    """libpq connection arguments that start a session as `role` (what the ledger's own
    connections do; e.g. SQLAlchemy's `connect_args` for the projections' engine)."""
    return {"options": f"-c role={check_role_name(role)}"} if role else {}
