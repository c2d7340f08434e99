def link(
    prev: bytes,
    oid: bytes | str,
    version: int,
    topic: bytes | str,
    state: bytes,
    recorded_at: int,
    /,
) -> bytes: ...
