"""The version of the ledger's own tables, recorded in `ledger_meta` (key `schema_version`).

1: events with recorded time and hash chain, source positions, append-only triggers.
2: PostgreSQL: the events table is locked through a SECURITY DEFINER function, so that
   the writer role needs no UPDATE/DELETE/TRUNCATE privilege to take the writers' lock.
"""

from __future__ import annotations

SCHEMA_VERSION = 2
