"""Every error the service answers with, and their RFC 9457 problem+json shape."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import compile_path

PROBLEM_JSON = "application/problem+json"
# Request state set by hotline.guard, answered after the 401, 404 and 403 checks:
BODY_REFUSED = "body_refused"  # {loc, msg}: why the body is no JSON text we can store
QUERY_REFUSED = "query_refused"  # the ValidationFailed for a query string we cannot read
log = structlog.get_logger(__name__)


class HotlineError(Exception):
    """Base of every error answered to a client; ``slug`` names its ``type``."""

    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {
            "type": f"urn:hotline:problem:{self.slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            **self.extra,
        }

    def headers(self) -> dict[str, str]:
        return {}


class Unauthorized(HotlineError):
    status, slug, title = 401, "unauthorized", "Unauthorized"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(HotlineError):
    status, slug, title = 403, "forbidden", "Forbidden"


class NotFound(HotlineError):
    status, slug, title = 404, "not-found", "Not found"


class MethodNotAllowed(HotlineError):
    status, slug, title = 405, "method-not-allowed", "Method not allowed"

    def __init__(self, detail: str, allow: Iterable[str] = (), **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.allow = sorted(set(allow))

    def headers(self) -> dict[str, str]:
        return {"Allow": ", ".join(self.allow)} if self.allow else {}


class Conflict(HotlineError):
    status, slug, title = 409, "conflict", "Conflict"


class InvalidTransition(Conflict):
    slug, title = "invalid-transition", "Action not allowed in this status"


class AlreadyClaimed(Conflict):
    slug, title = "already-claimed", "Already claimed"


class ReturnNotAllowed(Conflict):
    slug, title = "return-not-allowed", "Return not allowed"


class IdempotencyInFlight(Conflict):
    slug, title = "idempotency-in-flight", "A request with this Idempotency-Key is in progress"


class PreconditionFailed(HotlineError):
    status, slug, title = 412, "version-mismatch", "Version mismatch"


class PayloadTooLarge(HotlineError):
    status, slug, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(HotlineError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class ValidationFailed(HotlineError):
    status, slug, title = 422, "validation", "Validation failed"

    def __init__(self, detail: str, errors: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(detail, errors=list(errors))

    @classmethod
    def field(cls, loc: Sequence[str | int], msg: str) -> ValidationFailed:
        return cls(msg, [{"loc": list(loc), "msg": msg}])


class IdempotencyMismatch(ValidationFailed):
    slug, title = "idempotency-mismatch", "Idempotency-Key reused with another request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, [{"loc": ["header", "Idempotency-Key"], "msg": detail}])


class RateLimited(HotlineError):
    status, slug, title = 429, "rate-limited", "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class Unavailable(HotlineError):
    """The database cannot be reached or cannot answer now (down, restarting, a dropped
    connection, too many clients, SQLite busy): worth retrying, unlike a 500."""

    status, slug, title = 503, "unavailable", "Service unavailable"
    RETRY_AFTER = 1

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.RETRY_AFTER)}


_UNREACHABLE: tuple[type[BaseException], ...] = (
    ConnectionError,  # refused or reset while connecting
    TimeoutError,
    sa_exc.OperationalError,  # PEP 249: the database's operation, not the request
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,  # the pool's
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,  # starting up or shutting down
    asyncpg.TooManyConnectionsError,
)


def unreachable(exc: BaseException) -> bool:
    """Does ``exc`` say the database could not serve the request now?"""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, _UNREACHABLE)


class Problem(BaseModel):
    """RFC 9457 problem details, as every error body of this service."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str


def title_of(status: int) -> str:
    cls = _STATUS_ERRORS.get(status)
    return cls.title if cls is not None else "Error"


def problem_response(error: HotlineError) -> JSONResponse:
    return JSONResponse(
        error.body(), status_code=error.status, headers=error.headers(), media_type=PROBLEM_JSON
    )


def validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic's error list reduced to ``{loc, msg}``, without echoing input."""
    return [
        {
            "loc": [str(p) if not isinstance(p, int) else p for p in e.get("loc", ())],
            "msg": e["msg"],
        }
        for e in errors
    ]


def from_pydantic(
    exc: PydanticValidationError, prefix: Sequence[str] = ("body",)
) -> ValidationFailed:
    errors = validation_errors(exc.errors(include_input=False, include_url=False))
    for e in errors:
        e["loc"] = [*prefix, *e["loc"]]
    return ValidationFailed(_summary(errors), errors)


def _summary(errors: Sequence[dict[str, Any]]) -> str:
    if not errors:
        return "The request is not valid."
    first = errors[0]
    where = ".".join(str(p) for p in first["loc"])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}{more}"


_STATUS_ERRORS: dict[int, type[HotlineError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
}


# Paths whose clients read another error format than problem+json (Open311): how such a
# path answers an error raised before its routes' own handling (no such route, a method
# not allowed, the input guard's refusals).
Refusal = Callable[[str, HotlineError], Response]


_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def _methods_by_path(app: FastAPI) -> list[tuple[re.Pattern[str], frozenset[str]]]:
    """Each documented path's pattern and methods (HEAD beside GET, as Starlette
    answers it), read once from the app's OpenAPI document."""
    found: list[tuple[re.Pattern[str], frozenset[str]]] | None = getattr(
        app.state, "methods_by_path", None
    )
    if found is None:
        found = []
        for path, item in app.openapi().get("paths", {}).items():
            methods = {m.upper() for m in item if m in _HTTP_METHODS}
            if "GET" in methods:
                methods.add("HEAD")
            found.append((compile_path(path)[0], frozenset(methods)))
        app.state.methods_by_path = found
    return found


def allowed_methods(request: Request, exc: StarletteHTTPException) -> set[str]:
    """What a 405's ``Allow`` lists: the methods of every route on the path. Starlette
    names only the first route it matched (a path's GET and POST are two routes)."""
    given = (exc.headers or {}).get("Allow", "")
    allow = {m.strip() for m in given.split(",") if m.strip()}
    path = request.url.path
    for pattern, methods in _methods_by_path(request.app):
        if pattern.match(path):
            allow |= methods
    return allow


def _from_http(exc: StarletteHTTPException) -> HotlineError:
    """Starlette's and FastAPI's own HTTP errors as ours."""
    if exc.status_code == 400:
        # FastAPI's only 400: a body it could not parse. Malformed JSON is 422 here.
        detail = str(exc.detail)
        return ValidationFailed(detail, [{"loc": ["body"], "msg": detail}])
    cls = _STATUS_ERRORS.get(exc.status_code)
    if cls is None:
        error = HotlineError(str(exc.detail))
        error.status = exc.status_code
        return error
    detail = exc.detail if isinstance(exc.detail, str) else cls.title
    if exc.status_code == 404 and detail == "Not Found":
        detail = "No such resource."
    return cls(detail)


def install(app: FastAPI, refusals: Mapping[str, Refusal] | None = None) -> None:
    """Map every exception to problem+json in one place (``refusals``: where else)."""

    @app.exception_handler(HotlineError)
    async def _hotline(_: Request, exc: HotlineError) -> JSONResponse:
        return problem_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(exc.errors())
        refused = request.scope.get("state", {}).get(BODY_REFUSED)
        if refused is not None:  # hotline.guard passed the body on: the body's error
            errors = [e for e in errors if e["loc"][:1] != ["body"]]
            errors.insert(0, refused)
        return problem_response(ValidationFailed(_summary(errors), errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        error = _from_http(exc)
        if isinstance(error, MethodNotAllowed):
            error.allow = sorted(allowed_methods(request, exc))
        return answer(request, error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        if unreachable(exc):
            log.warning("database_unavailable", error_type=type(exc).__name__, error=str(exc))
            return answer(
                request,
                Unavailable(
                    "The database could not serve the request; try again shortly. A write "
                    "retried with the same Idempotency-Key takes effect once, whether or not "
                    "this attempt did."
                ),
            )
        log.error("unhandled_error", error_type=type(exc).__name__, exc_info=exc)
        error = HotlineError("The service failed to handle the request; nothing was changed.")
        error.status, error.slug, error.title = 500, "internal", "Internal server error"
        return answer(request, error)

    def answer(request: Request, error: HotlineError) -> Response:
        """problem+json, or the format of the path's clients (``refusals``)."""
        path = request.url.path
        refuse = next((r for p, r in (refusals or {}).items() if path.startswith(p)), None)
        return refuse(path, error) if refuse else problem_response(error)
