"""The TWS API socket protocol, server side: framing and field formatting.

A message is a 4-byte big-endian length followed by ASCII fields, each ending
in NUL; field 0 is the message id. The connection opens with the client's
`API\\0` + framed `v<min>..<max>`, answered by one framed message of two
fields: the server version chosen and the connection time.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterable
from decimal import Decimal

# Incoming (client → server) message ids, as ib_async's client.py sends them.
PLACE_ORDER = 3
CANCEL_ORDER = 4
REQ_OPEN_ORDERS = 5
REQ_ACCOUNT_UPDATES = 6
REQ_EXECUTIONS = 7
REQ_IDS = 8
REQ_AUTO_OPEN_ORDERS = 15
REQ_ALL_OPEN_ORDERS = 16
REQ_MANAGED_ACCTS = 17
REQ_CURRENT_TIME = 49
REQ_GLOBAL_CANCEL = 58
REQ_POSITIONS = 61
START_API = 71
REQ_ACCOUNT_UPDATES_MULTI = 76
REQ_COMPLETED_ORDERS = 99

# Outgoing (server → client) message ids, as ib_async's decoder.py reads them.
ORDER_STATUS = 3
ERR_MSG = 4
OPEN_ORDER = 5
ACCT_VALUE = 6
PORTFOLIO_VALUE = 7
ACCT_UPDATE_TIME = 8
NEXT_VALID_ID = 9
EXECUTION_DATA = 11
MANAGED_ACCTS = 15
CURRENT_TIME = 49
OPEN_ORDER_END = 53
ACCT_DOWNLOAD_END = 54
EXECUTION_DATA_END = 55
COMMISSION_REPORT = 59
POSITION_DATA = 61
POSITION_END = 62
ACCOUNT_UPDATE_MULTI = 73
ACCOUNT_UPDATE_MULTI_END = 74
COMPLETED_ORDER = 101
COMPLETED_ORDERS_END = 102

Field = str | int | Decimal | bool | None


def fmt(value: Field) -> str:
    """One field as TWS writes it: empty for 'unset', 1/0 for booleans."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def frame(fields: Iterable[Field]) -> bytes:
    payload = "".join(fmt(f) + "\0" for f in fields).encode("ascii")
    return struct.pack(">I", len(payload)) + payload


def split_fields(payload: bytes) -> list[str]:
    fields = payload.decode("ascii", errors="backslashreplace").split("\0")
    return fields[:-1] if fields and fields[-1] == "" else fields


async def read_frame(reader: asyncio.StreamReader) -> list[str]:
    """Read one framed message; IncompleteReadError when the peer has gone."""
    (length,) = struct.unpack(">I", await reader.readexactly(4))
    return split_fields(await reader.readexactly(length))


class HandshakeError(Exception):
    """The peer did not open with a valid API handshake."""


async def read_handshake(reader: asyncio.StreamReader) -> tuple[int, int]:
    """(min, max) client versions from `API\\0` + framed `v<min>..<max>[ options]`."""
    if await reader.readexactly(4) != b"API\0":
        raise HandshakeError("missing API prefix")
    (length,) = struct.unpack(">I", await reader.readexactly(4))
    text = (await reader.readexactly(length)).decode("ascii")
    if not text.startswith("v") or ".." not in text:
        raise HandshakeError(f"bad version range {text!r}")
    low, high = text[1:].split(" ", 1)[0].split("..")
    return int(low), int(high)
