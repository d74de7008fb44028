"""Wire shapes of disputes, their steps and kinds."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from hotline.privacy import phones
from hotline.sla.calendar import DurationError, SlaDuration
from hotline.tickets.schemas import Body, Code, Instant, Note


class PartyIn(Body):
    name: str = Field(min_length=1, max_length=100)
    phone: str | None = Field(default=None, max_length=32)
    role: str = Field(min_length=1, max_length=40, examples=["申请人", "被申请人"])

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else phones.normalize(value)


class DisputeFields(Body):
    kind: Code
    parties: list[PartyIn] = Field(min_length=1, max_length=20)
    summary: str = Field(min_length=1, max_length=5000)
    next_review_at: Instant | None = None


class DisputeCreate(DisputeFields):
    grid: Code
    source_ticket_id: str | None = Field(default=None, max_length=64)


class OpenDisputeBody(DisputeFields):
    """The ticket action ``open_dispute``: ``grid`` defaults to the ticket's location."""

    grid: Code | None = None


class StepBody(Body):
    note: Note
    next_review_at: Instant | None = None


class ReferDisputeBody(StepBody):
    target: Literal["court", "department"]
    department_code: Code | None = None

    @model_validator(mode="after")
    def _department(self) -> ReferDisputeBody:
        if self.target == "department" and self.department_code is None:
            raise ValueError("a referral to a department names department_code")
        return self


class KindCreate(Body):
    code: Code
    name: str = Field(min_length=1, max_length=200)
    review_period: str = Field(default="P7D", max_length=40)

    @field_validator("review_period")
    @classmethod
    def _period(cls, value: str) -> str:
        try:
            return SlaDuration.parse(value).text
        except DurationError as exc:
            raise ValueError(str(exc)) from exc


class KindOut(BaseModel):
    code: str
    name: str
    review_period: str


class KindPage(BaseModel):
    items: list[KindOut]
    next_cursor: str | None


class PartyOut(BaseModel):
    name: str
    phone: str | None
    role: str


class EntryOut(BaseModel):
    step: str
    type: str
    note: str | None
    actor: str
    actor_name: str | None
    from_status: str | None
    to_status: str | None
    next_review_at: datetime | None
    data: dict[str, Any]
    at: datetime


class DisputeOut(BaseModel):
    id: str
    kind: str
    status: Literal[
        "investigated", "analysed", "mediating", "visited", "closed_off", "escalated", "referred"
    ]
    level: Literal["village", "township"]
    grid: str
    summary: str
    parties: list[PartyOut]
    entries: list[EntryOut]
    allowed_actions: list[str]
    review_due_at: datetime | None
    source_ticket_id: str | None
    referred_to: str | None
    department_code: str | None
    opened_at: datetime
    closed_at: datetime | None
    version: int


class DisputePage(BaseModel):
    items: list[DisputeOut]
    next_cursor: str | None
