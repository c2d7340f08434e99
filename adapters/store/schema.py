"""The version of the ledger's own tables, recorded in `ledger_meta` (key `schema_version`).

1: events with recorded time and hash chain, source positions, append-only triggers.
2: PostgreSQL: the events table is locked through a SECURITY DEFINER function, so that
   the writer role needs no UPDATE/DELETE/TRUNCATE privilege to take the writers' lock.

`ledger_snapshots` (adapters/store/snapshots.py) is not part of this version: it is
optional (replay falls back to the log without it), made by `ledger db init` and, on the
embedded store, by `ledger serve`'s snapshot writer; so stores of version 2 need no
migration to gain it.
"""

from __future__ import annotations

SCHEMA_VERSION = 2
