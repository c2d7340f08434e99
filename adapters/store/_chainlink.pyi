def link(
    prev: bytes,
    oid: bytes | str,
    version: int,
    topic: bytes | str,
    state: bytes,
    recorded_at: int,
    /,
) -> bytes: ...
def link_rows(
    prev: bytes, rows: list[tuple[str, int, str, bytes, int]], /
) -> list[tuple[str, int, str, bytes, int, bytes]]: ...
