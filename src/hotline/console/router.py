"""HTTP: the console's pages and its sign-in/sign-out (cookie session)."""

from __future__ import annotations

import functools
import html
import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from hotline import errors
from hotline.auth import service as auth
from hotline.auth.service import Actor
from hotline.console import session
from hotline.deps import ActorDep, RuntimeDep
from hotline.jsonutil import JSONOut
from hotline.tickets.schemas import Body

router = APIRouter(prefix="/console", tags=["console"])

HERE = Path(__file__).parent
STATIC = StaticFiles(directory=HERE / "static")
LABELS = HERE / "labels"
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
# No inline script or style anywhere: every page is HTML + one module + one stylesheet.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# (nosniff and the referrer policy are set on every response by ObserveMiddleware)
PAGE_HEADERS = {"Content-Security-Policy": CSP}


class SignIn(Body):
    token: str = Field(min_length=1, max_length=200)


class SessionOut(BaseModel):
    id: str
    name: str
    role: str
    department_code: str | None
    member_id: str | None
    csrf: str | None = None


@router.post("/session", response_model=SessionOut)
async def sign_in(body: SignIn, request: Request, runtime: RuntimeDep) -> Response:
    """登录: check the token, then keep it in an HttpOnly cookie."""
    async with runtime.db.reading() as db:
        actor = await auth.authenticate(db, body.token.strip(), runtime.clock.now())
    csrf = session.new_csrf()
    response = JSONOut({**_session_json(actor), "csrf": csrf})
    session.start(response, body.token.strip(), csrf, secure=request.url.scheme == "https")
    return response


@router.get("/session", response_model=SessionOut)
async def who_am_i(actor: ActorDep) -> Response:
    if actor.id is None:
        raise errors.Unauthorized("Not signed in.")
    return JSONOut(_session_json(actor))


def _session_json(actor: Actor) -> dict[str, Any]:
    return {
        "id": str(actor.id),
        "name": actor.name,
        "role": actor.role.value,
        "department_code": actor.department_code,
        "member_id": actor.member_id,
    }


@router.delete("/session", status_code=204)
async def sign_out() -> Response:
    """退出: forget the cookies."""
    response = Response(status_code=204)
    session.end(response)
    return response


# -- the pages and their assets (no token needed to load them) ---------------------


@router.get("", include_in_schema=False)
async def console_root() -> Response:
    return RedirectResponse("/console/", status_code=308, headers=PAGE_HEADERS)


@router.get("/", include_in_schema=False)
async def console_page(runtime: RuntimeDep) -> Response:
    """The single page; it carries the service's clock so countdowns agree with the sweeper."""
    now = runtime.clock.now().isoformat().replace("+00:00", "Z")
    page = (
        _page_template()
        .replace("{{server_time}}", html.escape(now))
        .replace("{{timezone}}", html.escape(runtime.settings.timezone))
    )
    return HTMLResponse(page, headers={**PAGE_HEADERS, "Cache-Control": "no-store"})


@functools.cache
def _page_template() -> str:
    return (HERE / "static" / "index.html").read_text(encoding="utf-8")


@router.get("/static/{path:path}", include_in_schema=False)
async def console_asset(path: str, request: Request) -> Response:
    response = await STATIC.get_response(path, request.scope)
    response.headers.update({**PAGE_HEADERS, "Cache-Control": "no-cache"})
    return response


@router.get("/labels/{language}.json", include_in_schema=False)
async def console_labels(language: str) -> Response:
    """The labels of one language (zh-CN.json): another language is another file."""
    file = LABELS / f"{language}.json"
    if not LANGUAGE.match(language) or not file.is_file():
        raise errors.NotFound("No labels for that language.")
    return FileResponse(
        file, media_type="application/json", headers={**PAGE_HEADERS, "Cache-Control": "no-cache"}
    )
