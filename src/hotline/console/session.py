"""The console's sign-in: the token kept in an HttpOnly cookie, never readable by scripts.

Browsers send the cookie only to this origin (SameSite=Strict). A write made with the
cookie must also carry the ``X-CSRF-Token`` header equal to the ``hotline_csrf`` cookie
(double submit): another site can make a browser send the cookie, but it cannot read the
CSRF cookie to copy it into a header.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request
from starlette.responses import Response

SESSION_COOKIE = "hotline_session"
CSRF_COOKIE = "hotline_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_AGE = 12 * 3600  # one working day


def token_from_cookie(request: Request) -> str | None:
    """The session's token, or None; raises nothing (the caller answers 401/403)."""
    return request.cookies.get(SESSION_COOKIE) or None


def csrf_ok(request: Request) -> bool:
    if request.method in SAFE_METHODS:
        return True
    expected = request.cookies.get(CSRF_COOKIE, "")
    sent = request.headers.get(CSRF_HEADER, "")
    return bool(expected) and hmac.compare_digest(expected, sent)


def new_csrf() -> str:
    return secrets.token_urlsafe(24)


def start(response: Response, token: str, csrf: str, *, secure: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=MAX_AGE,
        httponly=True,
        secure=secure,
        samesite="strict",
        path="/",
    )
    response.set_cookie(
        CSRF_COOKIE,
        csrf,
        max_age=MAX_AGE,
        httponly=False,
        secure=secure,
        samesite="strict",
        path="/",
    )


def end(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
