"""The ticket's wire shapes: intake, action bodies and the ticket as returned."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
    model_validator,
)

from hotline import pagination
from hotline.privacy import phones


class Kind(StrEnum):
    petition = "petition"  # 初心热线 诉求
    service_order = "service_order"  # 群众点单


class Channel(StrEnum):
    hotline = "hotline"
    mini_program = "mini_program"
    walk_in = "walk_in"
    grid = "grid"
    platform = "platform"


class Category(StrEnum):
    consultation = "consultation"  # 咨询
    help = "help"  # 求助
    complaint = "complaint"  # 投诉
    report = "report"  # 举报
    suggestion = "suggestion"  # 建议
    praise = "praise"  # 表扬


class Urgency(StrEnum):
    normal = "normal"  # 一般
    urgent = "urgent"  # 紧急
    critical = "critical"  # 特急


class Status(StrEnum):
    received = "received"
    posted = "posted"
    dispatched = "dispatched"
    accepted = "accepted"
    returned = "returned"
    resolved = "resolved"
    closed = "closed"
    merged = "merged"
    invalid = "invalid"


OPEN_STATUSES = frozenset(
    {
        Status.received,
        Status.posted,
        Status.dispatched,
        Status.accepted,
        Status.returned,
        Status.resolved,
    }
)
TERMINAL_STATUSES = frozenset({Status.closed, Status.merged, Status.invalid})


class Satisfaction(StrEnum):
    satisfied = "satisfied"
    basically_satisfied = "basically_satisfied"
    dissatisfied = "dissatisfied"


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is outside the range of dates this service keeps") from None


# An RFC 3339 instant with an offset, kept in UTC (an offset-less time is refused).
Instant = Annotated[AwareDatetime, AfterValidator(_in_utc)]

Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Note = Annotated[str, Field(min_length=1, max_length=2000)]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CallerIn(Body):
    name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=32)
    special_groups: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        default_factory=list, max_length=10
    )
    confidential: StrictBool = False

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else phones.normalize(value)


class LocationIn(Body):
    grid: Code | None = None
    address: str | None = Field(default=None, max_length=500)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lng: float | None = Field(default=None, ge=-180, le=180)


class TicketCreate(Body):
    kind: Kind
    channel: Channel
    category: Category
    topic: Code | None = None
    urgency: Urgency = Urgency.normal
    content: str = Field(min_length=1, max_length=5000)
    caller: CallerIn | None = None
    location: LocationIn | None = None
    skills: list[Code] = Field(default_factory=list, max_length=20)
    external_ref: str | None = Field(default=None, max_length=200)
    on_the_spot: StrictBool = False


# -- action bodies -------------------------------------------------------------


class EmptyBody(Body):
    pass


class DispatchBody(Body):
    department_code: Code | None = None
    member_id: Code | None = None

    @model_validator(mode="after")
    def _one_target(self) -> DispatchBody:
        if (self.department_code is None) == (self.member_id is None):
            raise ValueError("give exactly one of department_code and member_id")
        return self


class ReasonBody(Body):
    reason: Note


class NoteBody(Body):
    note: Note


class OptionalNoteBody(Body):
    note: Note | None = None


class CallbackBody(Body):
    outcome: Literal["reached", "unreachable"]
    note: Note | None = None


class ExtensionRequestBody(Body):
    until: Instant
    reason: Note


class ResolveBody(Body):
    result: str = Field(min_length=1, max_length=5000)


class ReviewBody(Body):
    satisfaction: Satisfaction
    resolved: StrictBool
    note: Note | None = None


class ReopenBody(Body):
    """`department_code` or `member_id` names the new holder; neither: the last one."""

    reason: Note
    department_code: Code | None = None
    member_id: Code | None = None

    @model_validator(mode="after")
    def _one_holder(self) -> ReopenBody:
        if self.department_code is not None and self.member_id is not None:
            raise ValueError("name one holder: department_code or member_id, not both")
        return self


class MergeBody(Body):
    into: str = Field(min_length=1, max_length=64)


class ReferBody(Body):
    department_code: Code
    note: Note


# -- output --------------------------------------------------------------------


class CallerOut(BaseModel):
    name: str | None
    phone: str | None
    special_groups: list[str]
    confidential: bool


class TimerOut(BaseModel):
    kind: Literal["callback", "response", "resolution"]
    due_at: datetime
    state: Literal["running", "met", "breached", "cancelled"]
    started_at: datetime
    met_at: datetime | None
    breached_at: datetime | None


class TicketOut(BaseModel):
    """A ticket as the calling principal may see it."""

    id: str
    number: str
    kind: Kind
    channel: Channel
    category: Category
    topic: str | None
    urgency: Urgency
    content: str
    location: dict[str, Any] | None
    skills: list[str]
    external_ref: str | None
    caller: CallerOut
    status: Status
    department_code: str | None
    member_id: str | None
    timers: list[TimerOut]
    overdue: bool
    supervised: bool
    satisfaction: Satisfaction | None
    result: str | None
    pending_extension: dict[str, Any] | None
    allowed_actions: list[str]
    parent_id: str | None
    children: list[str]
    merged_into: str | None
    merged_ids: list[str]
    dispute_ids: list[str]
    on_the_spot: bool
    version: int
    created_at: datetime
    updated_at: datetime


class TicketQuery(BaseModel):
    """The list's filters, read from the query string in one validation."""

    status: Status | None = None
    kind: Kind | None = None
    department_code: str | None = Field(default=None, max_length=64)
    overdue: bool | None = None
    supervised: bool | None = None
    created_from: Instant | None = None
    created_to: Instant | None = None
    q: str | None = Field(default=None, max_length=200)
    updated_since: Instant | None = None
    caller_phone: str | None = Field(default=None, max_length=32)
    limit: pagination.Limit = pagination.DEFAULT_LIMIT
    cursor: pagination.Cursor = None


class TicketPage(BaseModel):
    items: list[TicketOut]
    next_cursor: str | None


class EventOut(BaseModel):
    seq: int
    type: str
    actor: str
    actor_name: str | None
    from_status: str | None
    to_status: str | None
    data: dict[str, Any]
    at: datetime


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None
