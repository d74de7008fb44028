"""HTTP: Open311 GeoReport v2 under /open311/v2, each route in JSON and in XML."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from hotline import deps, errors, idempotency
from hotline.deps import RuntimeDep
from hotline.jsonutil import JSONOut
from hotline.observe import TICKETS_CREATED
from hotline.open311 import service, xml
from hotline.open311.service import FORM, GeoReportError

router = APIRouter(prefix="/open311/v2", tags=["open311"])

Format = Literal["json", "xml"]
FORMATS: tuple[Format, ...] = ("json", "xml")


# -- wire shapes (for the OpenAPI document; answers are built as plain data) ----------


class Open311Error(BaseModel):
    """One GeoReport error; every error answer is a list of them."""

    code: int
    description: str


class Open311Service(BaseModel):
    service_code: str
    service_name: str
    description: str | None
    metadata: bool
    type: Literal["realtime", "batch", "blackbox"]
    keywords: str | None
    group: str | None


class Open311ServiceDefinition(BaseModel):
    service_code: str
    attributes: list[dict[str, Any]]


class Open311RequestCreated(BaseModel):
    service_request_id: str
    service_notice: str | None
    account_id: str | None


class Open311Request(BaseModel):
    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str | None
    service_name: str | None
    service_code: str | None
    description: str | None
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: datetime
    updated_datetime: datetime | None
    expected_datetime: datetime | None
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float | None
    long: float | None
    media_url: str | None


class XMLOut(Response):
    media_type = "application/xml"


ApiKey = Annotated[
    str | None,
    Query(description="Required: a token of an `app` principal (or of an operator)."),
]
Jurisdiction = Annotated[
    str | None, Query(description="Accepted and ignored: this server is one jurisdiction.")
]
RequestIds = Annotated[
    str | None,
    Query(description="Ticket numbers, comma-separated; when given, other filters are ignored."),
]
ServiceCodes = Annotated[str | None, Query(description="Service codes, comma-separated.")]
Instant = Annotated[str | None, Query(description="A W3C datetime with an offset.")]
Statuses = Annotated[str | None, Query(description="`open`, `closed`, or both comma-separated.")]


# -- OpenAPI: the error format and the XML shapes -----------------------------------

_REF = "#/components/schemas/"
ERROR_TEXT: dict[int | str, str] = {
    400: "A field is missing or not valid",
    403: "api_key is missing, wrong, or not an app's or an operator's",
    404: "No such service or request within the key's reach",
    413: "The body is larger than the service accepts",
    415: "The body is not form-encoded",
    429: "Too many requests for this api_key; see Retry-After",
    "default": "Any other error, in the same format",
}


def _xml_list(root: str, item: str, model: str) -> dict[str, Any]:
    return {
        "type": "array",
        "xml": {"name": root, "wrapped": True},
        "items": {"$ref": _REF + model, "xml": {"name": item}},
    }


def _error_responses(fmt: Format, *codes: int) -> dict[int | str, dict[str, Any]]:
    """The listed errors and, as ``default``, any other (a 500 too) in the same format.
    The route never answers 422 (it reads every parameter as text and checks it itself);
    declaring ``default`` also keeps FastAPI from documenting one."""
    out: dict[int | str, dict[str, Any]] = {}
    every: tuple[int | str, ...] = (*codes, "default")
    for code in every:
        entry: dict[str, Any] = {"description": ERROR_TEXT[code]}
        if fmt == "json":
            entry["model"] = list[Open311Error]
        else:
            schema = _xml_list("errors", "error", "Open311Error")
            entry["content"] = {"application/xml": {"schema": schema}}
        if code == 429:
            entry["headers"] = {
                "Retry-After": {
                    "description": "Seconds until the key may call again",
                    "schema": {"type": "integer"},
                }
            }
        out[code] = entry
    return out


def _ok(fmt: Format, status: int, schema: dict[str, Any], description: str) -> dict[int | str, Any]:
    if fmt == "json":
        return {}  # the route's response_model documents it
    return {
        status: {"description": description, "content": {"application/xml": {"schema": schema}}}
    }


_TEXT = {"type": "string"}
FORM_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            FORM: {
                "schema": {
                    "type": "object",
                    "required": ["api_key", "service_code", "description"],
                    "properties": {
                        "api_key": _TEXT,
                        "jurisdiction_id": _TEXT,
                        "service_code": _TEXT,
                        "lat": {"type": "number", "minimum": -90, "maximum": 90},
                        "long": {"type": "number", "minimum": -180, "maximum": 180},
                        "address_string": {"type": "string", "maxLength": 500},
                        "address_id": _TEXT,
                        "email": _TEXT,
                        "device_id": _TEXT,
                        "account_id": _TEXT,
                        "first_name": _TEXT,
                        "last_name": _TEXT,
                        "phone": {
                            "type": "string",
                            "description": "A mainland mobile or landline number",
                        },
                        "description": {"type": "string", "minLength": 1, "maxLength": 5000},
                        "media_url": _TEXT,
                    },
                    "description": (
                        "A location is required: lat and long, or address_string. "
                        "`attribute[code]` fields are accepted; no service defines any."
                    ),
                }
            }
        },
    }
}


# -- answers ------------------------------------------------------------------------


def answer(
    fmt: Format,
    body: Any,
    *,
    root: str,
    item: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """JSON as it is; XML as ``<root><item>..`` for a list, ``<root>..`` for one object."""
    if fmt == "json":
        return JSONOut(body, status_code=status, headers=headers)
    content = xml.listing(root, item, body) if item is not None else xml.single(root, body)
    return XMLOut(content, status_code=status, headers=headers, media_type=xml.MEDIA_TYPE)


def refusal(fmt: Format, exc: GeoReportError) -> Response:
    if fmt == "json":
        body = [{"code": exc.status, "description": exc.description}]
        return JSONOut(body, status_code=exc.status, headers=exc.headers)
    content = xml.errors(exc.status, exc.description)
    return XMLOut(content, status_code=exc.status, headers=exc.headers, media_type=xml.MEDIA_TYPE)


def refusal_for_path(path: str, exc: errors.HotlineError) -> Response:
    """An error raised before any route (by a middleware) as this facade answers it,
    in the format the path's suffix names."""
    fmt: Format = "xml" if path.endswith(".xml") else "json"
    return refusal(fmt, service.from_hotline(exc))


async def guarded(fmt: Format, work: Callable[[], Awaitable[Response]]) -> Response:
    """Refusals in the specification's format: the app-wide handlers would answer
    problem+json, which GeoReport clients cannot read. (What nothing here expects, a 500
    or an unreachable database's 503, the app's last handler answers through
    ``refusal_for_path``.)"""
    try:
        return await work()
    except GeoReportError as exc:
        return refusal(fmt, exc)
    except errors.HotlineError as exc:
        return refusal(fmt, service.from_hotline(exc))


# -- routes -------------------------------------------------------------------------


def _add_routes(fmt: Format) -> None:
    as_json = fmt == "json"
    # JSON answers are JSONOut, but the route keeps FastAPI's JSONResponse class so that
    # the document shows the response_model (it does only for JSONResponse subclasses).
    response_class = JSONResponse if as_json else XMLOut

    async def list_services(
        runtime: RuntimeDep, api_key: ApiKey = None, jurisdiction_id: Jurisdiction = None
    ) -> Response:
        async def work() -> Response:
            async with runtime.db.reading() as session:
                await service.authenticate(session, runtime, api_key)
                found = await service.services(session)
            rows = [kind.as_json() for kind in found.values()]
            return answer(fmt, rows, root="services", item="service")

        return await guarded(fmt, work)

    router.add_api_route(
        f"/services.{fmt}",
        list_services,
        methods=["GET"],
        name=f"open311_services_{fmt}",
        summary=f"Service types, in {fmt.upper()}",
        description="One per topic a routing rule routes; the name is the rule's label.",
        response_class=response_class,
        response_model=list[Open311Service] if as_json else None,
        responses={
            **_ok(fmt, 200, _xml_list("services", "service", "Open311Service"), "Services"),
            **_error_responses(fmt, 400, 403, 429),
        },
    )

    async def service_definition(
        service_code: str,
        runtime: RuntimeDep,
        api_key: ApiKey = None,
        jurisdiction_id: Jurisdiction = None,
    ) -> Response:
        async def work() -> Response:
            async with runtime.db.reading() as session:
                await service.authenticate(session, runtime, api_key)
                service.no_nul("service_code", service_code)
                kind = await service.get_service(session, service_code)
            return answer(fmt, service.definition_json(kind), root="service_definition")

        return await guarded(fmt, work)

    definition_xml = {
        "type": "object",
        "xml": {"name": "service_definition"},
        "properties": {
            "service_code": _TEXT,
            "attributes": {"type": "array", "xml": {"wrapped": True}, "items": {}},
        },
    }
    router.add_api_route(
        f"/services/{{service_code}}.{fmt}",
        service_definition,
        methods=["GET"],
        name=f"open311_service_definition_{fmt}",
        summary=f"A service's definition, in {fmt.upper()}",
        description="No service takes attributes, so `attributes` is empty.",
        response_class=response_class,
        response_model=Open311ServiceDefinition if as_json else None,
        responses={
            **_ok(fmt, 200, definition_xml, "The service definition"),
            **_error_responses(fmt, 400, 403, 404, 429),
        },
    )

    async def post_request(request: Request, runtime: RuntimeDep) -> Response:
        async def work() -> Response:
            fields = service.parse_form(request.headers.get("content-type"), await request.body())
            async with runtime.db.reading() as session:
                actor = await service.authenticate(session, runtime, fields.get("api_key"))
            body = service.ticket_body(fields)

            async def submit(session: AsyncSession) -> deps.Answer:
                ticket = await service.submit(session, runtime, actor, body)
                location = {"Location": f"{router.prefix}/requests/{ticket.number}.{fmt}"}
                return 201, [service.created_json(ticket)], location

            # Idempotency-Key, as on every write of the API: the stored answer is the rows,
            # rendered again in the format asked for.
            (status, rows, headers), replayed = await deps.idempotent(
                request, runtime, actor, submit
            )
            if not replayed:
                TICKETS_CREATED.labels(body.channel.value).inc()
            return answer(
                fmt, rows, root="service_requests", item="request", status=status, headers=headers
            )

        return await guarded(fmt, work)

    router.add_api_route(
        f"/requests.{fmt}",
        post_request,
        methods=["POST"],
        status_code=201,
        name=f"open311_post_request_{fmt}",
        summary=f"Submit a request, in {fmt.upper()}",
        description=(
            "Registers a petition (category help, channel platform) through the ticket "
            "service, so it is routed and timed as any other."
        ),
        response_class=response_class,
        response_model=list[Open311RequestCreated] if as_json else None,
        responses={
            **_ok(
                fmt,
                201,
                _xml_list("service_requests", "request", "Open311RequestCreated"),
                "The request's id",
            ),
            **_error_responses(fmt, 400, 403, 413, 415, 429),
        },
        openapi_extra=idempotency.openapi_extra(400, **FORM_BODY),
    )

    async def get_requests(
        runtime: RuntimeDep,
        api_key: ApiKey = None,
        jurisdiction_id: Jurisdiction = None,
        service_request_id: RequestIds = None,
        service_code: ServiceCodes = None,
        start_date: Instant = None,
        end_date: Instant = None,
        status: Statuses = None,
    ) -> Response:
        async def work() -> Response:
            async with runtime.db.reading() as session:
                actor = await service.authenticate(session, runtime, api_key)
                wanted = service.parse_search(
                    service_request_id, service_code, start_date, end_date, status
                )
                rows = await service.search(session, actor, wanted, runtime.clock.now())
                out = await service.requests_json(session, runtime, rows)
            return answer(fmt, out, root="service_requests", item="request")

        return await guarded(fmt, work)

    router.add_api_route(
        f"/requests.{fmt}",
        get_requests,
        methods=["GET"],
        name=f"open311_requests_{fmt}",
        summary=f"Search requests, in {fmt.upper()}",
        description=(
            "Newest first, at most 1000; without dates, the last 90 days. An app sees "
            "only the requests it submitted."
        ),
        response_class=response_class,
        response_model=list[Open311Request] if as_json else None,
        responses={
            **_ok(fmt, 200, _xml_list("service_requests", "request", "Open311Request"), "Requests"),
            **_error_responses(fmt, 400, 403, 429),
        },
    )

    async def get_request(
        service_request_id: str,
        runtime: RuntimeDep,
        api_key: ApiKey = None,
        jurisdiction_id: Jurisdiction = None,
    ) -> Response:
        async def work() -> Response:
            async with runtime.db.reading() as session:
                actor = await service.authenticate(session, runtime, api_key)
                service.no_nul("service_request_id", service_request_id)
                ticket = await service.find(session, actor, service_request_id)
                out = await service.requests_json(session, runtime, [ticket])
            return answer(fmt, out, root="service_requests", item="request")

        return await guarded(fmt, work)

    router.add_api_route(
        f"/requests/{{service_request_id}}.{fmt}",
        get_request,
        methods=["GET"],
        name=f"open311_request_{fmt}",
        summary=f"One request by its id (the ticket number), in {fmt.upper()}",
        description="A list of one, as the specification has it.",
        response_class=response_class,
        response_model=list[Open311Request] if as_json else None,
        responses={
            **_ok(fmt, 200, _xml_list("service_requests", "request", "Open311Request"), "Request"),
            **_error_responses(fmt, 400, 403, 404, 429),
        },
    )


for _fmt in FORMATS:
    _add_routes(_fmt)
