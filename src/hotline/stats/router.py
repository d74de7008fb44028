"""HTTP: statistics (the 三率 of a period, overall and by unit; CSV on request)."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from hotline import errors
from hotline.auth.models import Role
from hotline.deps import ReadSession, RuntimeDep, require
from hotline.grids.models import Level
from hotline.jsonutil import JSONOut
from hotline.stats import service
from hotline.stats.schemas import Breakdown, Summary
from hotline.tickets.schemas import Instant

router = APIRouter(
    prefix="/v1/stats",
    tags=["statistics"],
    dependencies=[require(Role.viewer, Role.supervisor)],
)

PROBLEMS: dict[int | str, dict[str, Any]] = {
    403: {"description": "Only viewers, supervisors and admins read statistics"},
}
CSV_MEDIA = "text/csv; charset=utf-8"
_JSON_RANGES = frozenset({"application/json", "application/*", "*/*"})
# Figures change with every ticket; a cache must not answer for the service.
NO_STORE = {"Cache-Control": "no-store"}


def period(
    start: Annotated[
        Instant,
        Query(
            alias="from",
            description="Start of the period, inclusive (RFC 3339 with an offset)",
            examples=["2026-11-01T00:00:00+08:00"],
        ),
    ],
    end: Annotated[
        Instant,
        Query(
            alias="to",
            description="End of the period, exclusive (RFC 3339 with an offset)",
            examples=["2026-12-01T00:00:00+08:00"],
        ),
    ],
    department_code: Annotated[
        str | None,
        Query(max_length=64, description="Only tickets now with this department"),
    ] = None,
) -> service.Period:
    """The cohort: tickets created in ``[from, to)``, less merged and invalid ones."""
    if end < start:
        raise errors.ValidationFailed.field(["query", "to"], "must not be before 'from'")
    return service.Period(start, end, department_code)


PeriodDep = Annotated[service.Period, Depends(period)]


@router.get("/summary", response_model=Summary, responses=PROBLEMS)
async def summary(session: ReadSession, cohort: PeriodDep) -> Response:
    """The period's counts and three rates (响应率, 解决率, 满意率); a rate is null when
    its denominator is 0."""
    return JSONOut(await service.summary(session, cohort), headers=NO_STORE)


@router.get(
    "/by/{dimension}",
    response_model=Breakdown,
    responses={
        **PROBLEMS,
        200: {
            "description": "The rows as JSON, or as CSV with a header line (`Accept: text/csv`)",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
    },
)
async def breakdown(
    dimension: service.Dimension,
    request: Request,
    session: ReadSession,
    runtime: RuntimeDep,
    cohort: PeriodDep,
    sort: Annotated[
        service.Sort | None,
        Query(description="`-score`: best score first (null scores last); `score`: worst first"),
    ] = None,
    level: Annotated[
        Level | None,
        Query(description="With `grid`: roll each grid up to its ancestor at this level."),
    ] = None,
) -> Response:
    """The figures of each unit by the tickets' current value of the dimension (a ticket
    without one is in the row whose `key` is null), with medians and the 考核 score."""
    weights = runtime.settings.score_weight_values
    if level is not None and dimension is not service.Dimension.grid:
        raise errors.ValidationFailed.field(["query", "level"], "only with the grid dimension")
    rows = await service.breakdown(session, cohort, dimension, weights, sort, level)
    headers = {**NO_STORE, "Vary": "Accept"}
    if wants_csv(request.headers.get("accept")):
        headers["Content-Disposition"] = f'attachment; filename="stats-{dimension.value}.csv"'
        return Response(as_csv(rows), media_type=CSV_MEDIA, headers=headers)
    return JSONOut({"items": rows}, headers=headers)


def wants_csv(accept: str | None) -> bool:
    """Whether the client prefers CSV to JSON (by q-value; JSON on a tie)."""
    best = {"csv": 0.0, "json": 0.0}
    for part in (accept or "").split(","):
        media, *params = (p.strip().lower() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        kind = "csv" if media == "text/csv" else "json" if media in _JSON_RANGES else None
        if kind is not None:
            best[kind] = max(best[kind], q)
    return best["csv"] > best["json"]


def as_csv(rows: list[dict[str, Any]]) -> bytes:
    """The rows under a header line of the field names; a null is an empty field."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(service.FIELDS)
    for row in rows:
        writer.writerow("" if row[f] is None else row[f] for f in service.FIELDS)
    return out.getvalue().encode()
