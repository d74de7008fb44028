"""HTTP: China's working-day calendar, one year at a time."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from hotline import errors, idempotency
from hotline.deps import ActorDep, ReadSession, RuntimeDep, require, write
from hotline.jsonutil import JSONOut
from hotline.privacy import audit
from hotline.sla import service
from hotline.tickets.schemas import Body

router = APIRouter(prefix="/v1/calendar", tags=["calendar"])
Year = Path(ge=2000, le=2100)


class YearIn(Body):
    holidays: list[date] = Field(default_factory=list, max_length=366)
    workdays: list[date] = Field(default_factory=list, max_length=366)


class YearOut(BaseModel):
    year: int
    source: Literal["configured", "package", "weekends_only"]
    holidays: list[date]
    workdays: list[date]


def _year_json(runtime: Any, year: int) -> dict[str, Any]:
    source, days = runtime.calendar.year(year)
    return {
        "year": year,
        "source": source,
        "holidays": sorted(d.isoformat() for d in days.holidays),
        "workdays": sorted(d.isoformat() for d in days.workdays),
    }


@router.get("/{year}", response_model=YearOut)
async def get_year(
    session: ReadSession, runtime: RuntimeDep, actor: ActorDep, year: int = Year
) -> Response:
    """The working-day data in force for a year, and where it comes from (as stored now:
    a year entered through another process or the CLI shows at once)."""
    await service.refresh_calendar(session, runtime, force=True)
    return JSONOut(_year_json(runtime, year))


@router.put(
    "/{year}",
    response_model=YearOut,
    dependencies=[require()],
    openapi_extra=idempotency.openapi_extra(),
)
async def put_year(
    body: YearIn, request: Request, runtime: RuntimeDep, actor: ActorDep, year: int = Year
) -> Response:
    """Enter a year's schedule (holidays off, 调休 weekend workdays); replaces the package's."""
    for field_name in ("holidays", "workdays"):
        for i, day in enumerate(getattr(body, field_name)):
            if day.year != year:
                raise errors.ValidationFailed.field(["body", field_name, i], f"is not in {year}")

    async def handler(session: AsyncSession) -> tuple[int, Any, dict[str, str]]:
        await service.configure_year(
            session, runtime.calendar, year, body.holidays, body.workdays, runtime.clock.now()
        )
        audit.record(
            session,
            actor,
            "calendar.configured",
            "calendar_year",
            str(year),
            now=runtime.clock.now(),
            request=request,
            details=body.model_dump(mode="json"),
        )
        return 200, _year_json(runtime, year), {}

    return await write(request, runtime, actor, handler)
