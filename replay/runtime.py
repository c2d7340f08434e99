"""What every command shares: options that work before or after the command name,
settings from the environment, opening the ledger, and translating failures into
exit codes."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click
from pydantic import ValidationError

from adapters.clock import SystemClock
from adapters.config import LedgerSettings
from adapters.store import StoreUnavailable, StoreUrlError, open_ledger, parse_store_url
from adapters.store.errors import AppendOnlyViolation
from domain.application import LedgerApplication
from domain.errors import ConfigurationError, InstrumentsFileError, KillSwitchCommandRefused
from domain.ledger import Operator
from domain.ports import ConcurrentWriteError
from replay.errors import DATA, UNAVAILABLE, USAGE, CliError
from replay.render import FORMATS

F = TypeVar("F", bound=Callable[..., Any])


def common_options(f: F) -> F:
    """`--format` and `--store`, accepted on the group and on every command."""
    f = click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default=None,
        help="Output format (default: text).",
    )(f)
    f = click.option(
        "--store",
        default=None,
        metavar="URL",
        help="Store URL (env LEDGER_STORE; default sqlite:///var/ledger.db).",
    )(f)
    return f


@dataclass
class Runtime:
    fmt: str | None = None
    store: str | None = None
    _settings: LedgerSettings | None = field(default=None, repr=False)

    def merged(self, fmt: str | None, store: str | None) -> Runtime:
        """Command-level options win over group-level ones."""
        return Runtime(fmt or self.fmt, store or self.store, self._settings)

    @property
    def format(self) -> str:
        return self.fmt or "text"

    @property
    def settings(self) -> LedgerSettings:
        if self._settings is None:
            try:
                self._settings = LedgerSettings()
            except ValidationError as e:
                raise CliError(f"bad LEDGER_* setting: {e}", USAGE) from e
        return self._settings

    @property
    def store_url(self) -> str:
        return self.store or self.settings.store

    def open(self) -> LedgerApplication:
        with translate_errors():
            parse_store_url(self.store_url)
            return open_ledger(
                self.store_url, clock=SystemClock(), config=self.settings.ledger_config()
            )

    def operator(self, by: str, app: LedgerApplication) -> Operator:
        """The operator's name, the database role the command writes as (after any
        `LEDGER_DB_ROLE` switch, e.g. `postgres as ledger_writer`) and the OS user."""
        role = app.store.db_identity()
        try:
            os_user = getpass.getuser()
        except (KeyError, OSError):
            os_user = "unknown"
        return Operator(by=by, db_role=role, os_user=os_user)


def runtime(ctx: click.Context, fmt: str | None, store: str | None) -> Runtime:
    base = ctx.find_object(Runtime) or Runtime()
    return base.merged(fmt, store)


@contextmanager
def translate_errors() -> Iterator[None]:
    """Known failures become one clear line and an exit code, never a traceback."""
    try:
        yield
    except StoreUrlError as e:
        raise CliError(str(e), USAGE) from e
    except StoreUnavailable as e:
        raise CliError(str(e), UNAVAILABLE) from e
    except (InstrumentsFileError, ConfigurationError) as e:
        raise CliError(str(e), USAGE) from e
    except KillSwitchCommandRefused as e:
        raise CliError(str(e), DATA) from e
    except AppendOnlyViolation as e:
        raise CliError(f"the store refused a change: {e}", DATA) from e
    except ConcurrentWriteError as e:
        raise CliError(str(e), UNAVAILABLE) from e


def stderr_is_tty() -> bool:
    return sys.stderr.isatty()
