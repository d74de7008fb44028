"""Wire shapes of members and their points."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, StrictBool, field_validator

from hotline.members.models import MemberKind
from hotline.privacy import phones
from hotline.tickets.schemas import Body, Code, Satisfaction


def _phone(value: str | None) -> str | None:
    return None if value is None else phones.normalize(value)


class MemberCreate(Body):
    id: Code | None = Field(default=None, description="Chosen id; generated when absent.")
    name: str = Field(min_length=1, max_length=100)
    phone: str | None = Field(default=None, max_length=32)
    branch: str = Field(min_length=1, max_length=200)
    skills: list[Code] = Field(default_factory=list, max_length=50)
    kind: MemberKind
    available: StrictBool = True

    _phone = field_validator("phone")(_phone)


class MemberPatch(Body):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    phone: str | None = Field(default=None, max_length=32)
    branch: str | None = Field(default=None, min_length=1, max_length=200)
    skills: list[Code] | None = Field(default=None, max_length=50)
    kind: MemberKind | None = None
    available: StrictBool | None = None

    _phone = field_validator("phone")(_phone)


class MemberOut(BaseModel):
    id: str
    name: str
    phone: str | None = Field(description="Masked: first 3 and last 4 digits.")
    branch: str
    skills: list[str]
    kind: MemberKind
    available: bool
    points: float | None = Field(
        default=None, description="With sort=-points: the points earned in the period."
    )
    created_at: datetime
    updated_at: datetime


class MemberPage(BaseModel):
    items: list[MemberOut]
    next_cursor: str | None


class PointsItem(BaseModel):
    ticket_id: str
    points: float
    satisfaction: Satisfaction | None
    reason: str
    at: datetime


class PointsLedger(BaseModel):
    total: float  # every line's, whatever the page
    items: list[PointsItem]
    next_cursor: str | None
