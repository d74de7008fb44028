"""Input hygiene before any route runs: body size (413), content type (415), and input
PostgreSQL cannot store or that is not text (NUL, unpaired surrogates, not UTF-8, not
JSON, nested past the parser's depth: 422).

The 422s are checked after 401, 404 and 403 (API.md's order), so under ``/v1/`` the
guard only marks them in the request's state: a query's is raised once the principal
is known (``deps.current_actor``), a body's where the route validates its body."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hotline import errors

_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


# NUL (PostgreSQL's text cannot hold it) and lone surrogates (not Unicode: a parsed JSON
# string holds one only when the body escaped it unpaired). One scan in C per string.
_BAD_CHAR = re.compile("[\x00\ud800-\udfff]")


BAD_TEXT = "text must not contain NUL characters or unpaired surrogates"


def bad_text(value: Any, loc: tuple[str | int, ...] = ("body",)) -> tuple[str | int, ...] | None:
    """Where a NUL or an unpaired surrogate sits in a parsed JSON body, if anywhere."""
    if isinstance(value, str):
        return loc if _BAD_CHAR.search(value) else None
    if isinstance(value, dict):
        for k, v in value.items():
            found = bad_text(k, loc) or bad_text(v, (*loc, k))
            if found:
                return found
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = bad_text(v, (*loc, i))
            if found:
                return found
    return None


def body_refusal(body: bytes) -> tuple[list[str | int], str] | None:
    """Where and why a JSON body cannot be taken (not UTF-8, not JSON, nested past the
    parser's depth, text PostgreSQL cannot store), or None."""
    try:
        parsed = json.loads(body)
    except UnicodeDecodeError:
        return ["body"], "is not UTF-8"
    except json.JSONDecodeError as exc:
        return ["body", exc.pos], "JSON decode error"
    except RecursionError:
        return ["body"], "nests too deeply"
    where = bad_text(parsed)
    return (list(where), BAD_TEXT) if where else None


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _defer_body(scope: Scope, loc: list[str | int], msg: str) -> None:
    """A body refused for its content is a 422, which API.md checks after 401, 404 and
    403. FastAPI decodes a JSON body before it runs a route's dependencies, so it would
    answer first: the request goes on with a content type FastAPI does not decode (the
    body's bytes then fail the route's body model, after the checks), and the state says
    what was wrong, for ``errors`` to answer it. Routes that read their body raw (actions)
    see the same bytes and refuse them themselves (``workflow.parse_body``)."""
    scope.setdefault("state", {})[errors.BODY_REFUSED] = {"loc": loc, "msg": msg}
    scope["headers"] = [
        (k, b"application/x-malformed-json" if k.lower() == b"content-type" else v)
        for k, v in scope["headers"]
    ]


class GuardMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        json_prefix: str = "/v1/",
        refusals: Mapping[str, errors.Refusal] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.json_prefix = json_prefix
        # Paths whose clients read another error format than problem+json (Open311).
        self.refusals = dict(refusals or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            try:
                self._check_query(scope)
            except errors.ValidationFailed as exc:
                if not scope["path"].startswith(self.json_prefix):
                    raise
                scope.setdefault("state", {})[errors.QUERY_REFUSED] = exc
            if scope["method"] in _WITH_BODY:
                receive = await self._checked_body(scope, receive)
        except errors.HotlineError as exc:
            path: str = scope["path"]
            refuse = next((r for p, r in self.refusals.items() if path.startswith(p)), None)
            response = refuse(path, exc) if refuse else errors.problem_response(exc)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _check_query(scope: Scope) -> None:
        raw: bytes = scope.get("query_string", b"")
        if not raw:
            return
        decoded = unquote_to_bytes(raw)
        if b"\x00" in decoded or b"%00" in raw:
            raise errors.ValidationFailed.field(["query"], "must not contain NUL characters")
        try:
            decoded.decode("utf-8")  # an encoded lone surrogate is no UTF-8 either
        except UnicodeDecodeError:
            raise errors.ValidationFailed.field(["query"], "is not UTF-8") from None

    async def _checked_body(self, scope: Scope, receive: Receive) -> Receive:
        headers = {k.lower(): v for k, v in scope["headers"]}
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise errors.PayloadTooLarge(f"The body is larger than {self.max_body_bytes} bytes.")
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise errors.PayloadTooLarge(
                    f"The body is larger than {self.max_body_bytes} bytes."
                )
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if body and scope["path"].startswith(self.json_prefix):
            content_type = headers.get(b"content-type", b"").decode("latin-1")
            if not _is_json(content_type):
                raise errors.UnsupportedMediaType(
                    "Send JSON with 'Content-Type: application/json'."
                )
            refused = body_refusal(body)
            if refused is not None:
                _defer_body(scope, *refused)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay
