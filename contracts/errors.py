"""The one error a malformed bus message raises, whatever was wrong with it.

Its `errors` are plain strings so that a quarantine record or a dead-letter
message can store them as JSON without knowing anything about pydantic.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

# pydantic's wording for a few errors, said the way a producer needs to hear it.
_CLEARER_MESSAGES: dict[str, str] = {
    "extra_forbidden": "unknown field (not part of this message type)",
    "string_unicode": "text must be valid Unicode (a lone surrogate such as \\ud800 is refused)",
}


class ContractValidationError(Exception):
    """A payload that is not a valid contract message.

    `errors` is a list of ``{"loc": "field.path", "msg": "..."}``; ``loc`` is
    ``""`` when the whole payload is at fault (not UTF-8, not JSON, not an
    object). `event_type` is the message kind when it could be read.
    """

    def __init__(self, errors: list[dict[str, str]], event_type: str | None = None) -> None:
        super().__init__(errors, event_type)
        self.errors = errors
        self.event_type = event_type

    def __str__(self) -> str:
        kind = f"{self.event_type} message" if self.event_type else "message"
        count = len(self.errors)
        lines = [f"invalid {kind} ({count} error{'s' if count != 1 else ''}):"]
        lines += [f"  {e['loc'] or '<payload>'}: {e['msg']}" for e in self.errors]
        return "\n".join(lines)

    @classmethod
    def whole_payload(cls, msg: str, event_type: str | None = None) -> ContractValidationError:
        return cls([{"loc": "", "msg": msg}], event_type)

    @classmethod
    def from_pydantic(cls, exc: ValidationError, event_type: str) -> ContractValidationError:
        return cls([_plain(e) for e in exc.errors(include_url=False)], event_type)


def _plain(error: Any) -> dict[str, str]:
    loc = ".".join(str(part) for part in error["loc"])
    msg = _CLEARER_MESSAGES.get(error["type"], error["msg"])
    return {"loc": loc, "msg": str(msg)}
