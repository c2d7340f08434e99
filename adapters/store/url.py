"""Store URLs -> eventsourcing environment, and URLs fit to print (password masked).

- `sqlite:///var/ledger.db` (relative path), `sqlite:////abs/path.db`
- `postgresql://user:pass@host:5432/db?schema=ledger` (`postgres://` also accepted)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from adapters.store.errors import StoreUrlError

SQLITE_RECORDER = "adapters.store.sqlite:LedgerSQLiteRecorder"
POSTGRES_RECORDER = "adapters.store.postgres:LedgerPostgresRecorder"
POSTGRES_FACTORY = "adapters.store.postgres:LedgerPostgresFactory"
ROLE_KEY = "POSTGRES_ROLE"  # the role PostgreSQL connections switch to (LedgerPostgresFactory)


@dataclass(frozen=True)
class StoreLocation:
    url: str
    backend: str  # "sqlite" | "postgresql"
    env: dict[str, str]
    sqlite_path: Path | None = None

    @property
    def masked(self) -> str:
        return mask_url(self.url)


def mask_url(url: str) -> str:
    """The URL with any password (in the authority or a `password=` query field) as ***."""
    parts = urlsplit(url)
    netloc, query = parts.netloc, parts.query
    if parts.password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{hostport}"
    if "password" in query.lower():
        query = "&".join(
            f"{k}=***" if k.lower() == "password" else f"{k}={v}" if sep else k
            for k, sep, v in (field.partition("=") for field in query.split("&"))
        )
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def parse_store_url(url: str) -> StoreLocation:
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        raw = url[len("sqlite://") :]
        if not raw.startswith("/") or raw == "/":
            raise StoreUrlError(
                f"bad SQLite URL {url!r}: use sqlite:///relative.db or sqlite:////absolute.db"
            )
        path = Path(raw[1:])  # "/rel.db" -> rel.db, "//abs.db" -> /abs.db
        return StoreLocation(
            url,
            "sqlite",
            {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "APPLICATION_RECORDER_TOPIC": SQLITE_RECORDER,
                "SQLITE_DBNAME": str(path),
                "SQLITE_LOCK_TIMEOUT": "30",
            },
            sqlite_path=path,
        )
    if parts.scheme in ("postgresql", "postgres"):
        if not parts.hostname or not parts.path.strip("/"):
            raise StoreUrlError(f"bad PostgreSQL URL {mask_url(url)!r}: need host and database")
        query = parse_qs(parts.query)
        try:
            port = parts.port or 5432
        except ValueError:
            raise StoreUrlError(f"bad port in PostgreSQL URL {mask_url(url)!r}") from None
        password = parts.password or query.get("password", [""])[0]
        env = {
            "PERSISTENCE_MODULE": POSTGRES_FACTORY,
            "APPLICATION_RECORDER_TOPIC": POSTGRES_RECORDER,
            "POSTGRES_DBNAME": unquote(parts.path.strip("/")),
            "POSTGRES_HOST": parts.hostname,
            "POSTGRES_PORT": str(port),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(password),
            "POSTGRES_SCHEMA": query.get("schema", ["public"])[0],
            "POSTGRES_CONNECT_TIMEOUT": query.get("connect_timeout", ["5"])[0],
            "POSTGRES_LOCK_TIMEOUT": "30",
            "POSTGRES_POOL_SIZE": "2",
            "POSTGRES_MAX_OVERFLOW": "2",
        }
        return StoreLocation(url, "postgresql", env)
    raise StoreUrlError(f"unsupported store URL {mask_url(url)!r}: use sqlite:/// or postgresql://")
