"""HTTP: the console's pages and its sign-in/sign-out (cookie session)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from hotline import errors
from hotline.auth import service as auth
from hotline.auth.service import Actor
from hotline.console import session
from hotline.deps import ActorDep, RuntimeDep
from hotline.jsonutil import JSONOut
from hotline.tickets.schemas import Body

router = APIRouter(prefix="/console", tags=["console"])


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
    async with runtime.db.session(write=False) as db, db.begin():
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
