"""One POST route per action of a transition table, for tickets and disputes alike."""

# No `from __future__ import annotations` here: the route's path parameter is annotated
# with a value known only when the route is built, which FastAPI must see evaluated.
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from hotline import idempotency
from hotline.auth.service import Actor
from hotline.deps import ActorDep, RuntimeDep, write
from hotline.runtime import Runtime
from hotline.workflow import Machine

# (session, runtime, actor, subject id, action, raw body, If-Match) -> (body, version)
Run = Callable[
    [AsyncSession, Runtime, Actor, str, str, bytes, str | None],
    Awaitable[tuple[dict[str, Any], int]],
]

ACTION_PROBLEMS: dict[int | str, dict[str, Any]] = {
    403: {"description": "The role may not take this action"},
    404: {"description": "No such subject within the caller's scope"},
    409: {"description": "Not allowed in this status (the body lists allowed_actions)"},
    412: {"description": "If-Match names a stale version"},
}


def add_action_routes(
    router: APIRouter,
    machine: Machine[Any],
    *,
    prefix: str,
    id_name: str,
    response_model: type[BaseModel],
    run: Run,
) -> None:
    """``POST {prefix}/{id}/actions/{action}`` for every action of ``machine``. The body is
    read raw and validated by the engine, after scope and role: 404, 403, 422, 412, 409."""
    for action in machine.actions:
        _add(router, machine, action, prefix, id_name, response_model, run)


def _add(
    router: APIRouter,
    machine: Machine[Any],
    action: str,
    prefix: str,
    id_name: str,
    response_model: type[BaseModel],
    run: Run,
) -> None:
    transitions = machine.for_action(action)
    rows = "\n".join(
        f"- from `{', '.join(sorted(t.sources))}` to `{t.to or 'the same status'}`"
        f" ({t.summary}); roles: {', '.join(sorted(r.value for r in t.actors))}"
        for t in transitions
    )

    async def take_action(
        request: Request,
        runtime: RuntimeDep,
        actor: ActorDep,
        subject_id: Annotated[str, Path(alias=id_name)],
        if_match: Annotated[str | None, Header(alias="If-Match")] = None,
    ) -> Response:
        async def handler(session: AsyncSession) -> tuple[int, Any, dict[str, str]]:
            raw = await request.body()
            out, version = await run(session, runtime, actor, subject_id, action, raw, if_match)
            return 200, out, {"ETag": f'"{version}"'}

        return await write(request, runtime, actor, handler)

    router.add_api_route(
        f"{prefix}/{{{id_name}}}/actions/{action}",
        take_action,
        methods=["POST"],
        name=f"{machine.name}_{action}",
        summary=f"{action} ({transitions[0].summary})",
        description=f"Records `{transitions[0].event}`.\n\n{rows}",
        response_model=response_model,
        responses=ACTION_PROBLEMS,
        openapi_extra=idempotency.openapi_extra(requestBody=body_schema(transitions[0].body)),
    )


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a route that reads its body raw and validates it after
    its scope and role checks (the model joins the document's components: ``bodies``)."""
    return {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
        },
    }


def bodies(machine: Machine[Any]) -> list[type[BaseModel]]:
    """The action bodies a machine's routes reference (added to the OpenAPI components)."""
    return [machine.body_of(a) for a in machine.actions]
