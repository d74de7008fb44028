"""Wire shapes of departments and routing rules."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from hotline.routing.models import Platform
from hotline.sla.calendar import DurationError, SlaDuration
from hotline.tickets.schemas import Body, Category, Code, Kind, Urgency


def _duration(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return SlaDuration.parse(value).text
    except DurationError as exc:
        raise ValueError(str(exc)) from exc


Duration = Annotated[str, Field(min_length=2, max_length=40, examples=["PT24H", "P5D"])]


class DepartmentCreate(Body):
    code: Code
    name: str = Field(min_length=1, max_length=200)
    platform: Platform


class DepartmentPatch(Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    platform: Platform | None = None


class DepartmentOut(BaseModel):
    code: str
    name: str
    platform: Platform
    created_at: datetime
    updated_at: datetime


class DepartmentPage(BaseModel):
    items: list[DepartmentOut]
    next_cursor: str | None


class RuleCreate(Body):
    kind: Kind | None = None
    category: Category | None = None
    topic: Code | None = None
    urgency: Urgency | None = None
    grid: Code | None = None
    department_code: Code | None = None
    priority: int = Field(default=0, ge=-1_000_000, le=1_000_000)
    label: str | None = Field(default=None, max_length=200)
    callback_sla: Duration | None = None
    response_sla: Duration | None = None
    resolution_sla: Duration | None = None
    calendar: Literal["natural", "working"] | None = Field(
        default=None,
        description="The calendar of response_sla and resolution_sla: natural unless named, "
        "but working when resolution_sla is left to its default (P5D working).",
    )
    warning_lead: Duration | None = None
    escalate_after: Duration | None = None

    _check_durations = field_validator(
        "callback_sla",
        "response_sla",
        "resolution_sla",
        "warning_lead",
        "escalate_after",
    )(_duration)


class RuleOut(BaseModel):
    id: str
    kind: Kind | None
    category: Category | None
    topic: str | None
    urgency: Urgency | None
    grid: str | None
    department_code: str | None
    priority: int
    label: str | None
    callback_sla: str
    response_sla: str | None
    resolution_sla: str
    calendar: Literal["natural", "working"]
    warning_lead: str | None
    escalate_after: str | None
    created_at: datetime


class RulePage(BaseModel):
    items: list[RuleOut]
    next_cursor: str | None
