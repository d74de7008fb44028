"""Structured logging: JSON lines with the request id; phone numbers never reach a log."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

# A mainland mobile or a landline written anywhere in a log value is masked.
_PHONE = re.compile(
    r"(?<!\d)(?:\+?86)?(1[3-9]\d)\d{4}(\d{4})(?!\d)|(?<!\d)(0\d{2,3})-?\d{3,4}(\d{4})(?!\d)"
)


def _mask_match(m: re.Match[str]) -> str:
    head = m.group(1) or m.group(3)
    tail = m.group(2) or m.group(4)
    return f"{head}****{tail}"


def scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _PHONE.sub(_mask_match, value)
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    return value


def _scrub_processor(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> Mapping[str, Any]:
    return {k: scrub(v) for k, v in event.items()}


def configure(level: str = "INFO", *, json: bool = True) -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _scrub_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
