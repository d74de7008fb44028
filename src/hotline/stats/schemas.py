"""Wire shapes of the statistics endpoints (the 三率 and their breakdowns)."""

from __future__ import annotations

from pydantic import BaseModel, Field

Rate = float | None


class Summary(BaseModel):
    """The figures of one period's cohort: tickets created in it, less merged and invalid."""

    received: int = Field(ge=0, description="Tickets created in the period (the cohort)")
    resolved: int = Field(ge=0, description="Of those, now `resolved` or `closed`")
    closed: int = Field(ge=0)
    overdue: int = Field(ge=0)
    supervised: int = Field(ge=0)
    response_rate: Rate = Field(
        ge=0,
        le=1,
        description="响应率: callbacks met by their due time / callbacks met or breached",
    )
    resolution_rate: Rate = Field(ge=0, le=1, description="解决率: resolved / received")
    satisfaction_rate: Rate = Field(
        ge=0,
        le=1,
        description="满意率: satisfied or basically satisfied / tickets with a rating",
    )


class UnitFigures(Summary):
    """One unit's row: a value of the dimension (null when tickets have none)."""

    key: str | None
    median_hours_to_callback: float | None = Field(
        ge=0, description="Median hours from creation to a met callback"
    )
    median_hours_to_resolution: float | None = Field(
        ge=0, description="Median hours from creation to the resolution that stands"
    )
    score: float | None = Field(
        description="考核 score: the rates weighted by HOTLINE_SCORE_WEIGHTS; null when a rate is"
    )


class Breakdown(BaseModel):
    items: list[UnitFigures]
