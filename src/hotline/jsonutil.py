"""JSON encoding used everywhere: UTC instants end in ``Z``, UUIDs are strings."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=_OPTIONS)


def dumps_str(value: Any) -> str:
    return dumps(value).decode()


def plain(value: Any) -> Any:
    """The value as it would read back from JSON (for storing a response)."""
    return orjson.loads(dumps(value))


class JSONOut(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)
