"""The dispute's transition table: the four lists (排查 → 研判 → 调解 → 回访) to 销号,
with escalation from village to township and referral to a court or a department."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from hotline import errors
from hotline.auth.models import Role
from hotline.auth.service import Actor
from hotline.disputes import schemas as s
from hotline.disputes.models import Dispute
from hotline.routing import service as routing
from hotline.runtime import Runtime
from hotline.sla.service import Timers
from hotline.supervision.models import Supervision
from hotline.workflow import Condition, Machine, Transition, anyone

STATUSES = (
    "investigated",
    "analysed",
    "mediating",
    "visited",
    "closed_off",
    "escalated",
    "referred",
)
TERMINAL = frozenset({"closed_off", "referred"})
OPEN = frozenset(STATUSES) - TERMINAL


@dataclass
class DisputeChange:
    session: AsyncSession
    runtime: Runtime
    dispute: Dispute
    actor: Actor
    body: BaseModel
    now: datetime
    timers: Timers
    to: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    supervision: Supervision | None = None
    created: list[uuid.UUID] = field(default_factory=list)


def grid_leader(dispute: Dispute, actor: Actor) -> bool:
    """The leader (网格长) of the dispute's grid or of a grid above it."""
    return dispute.grid in actor.grid_codes


WORKERS: dict[Role, Condition] = {
    Role.operator: anyone,
    Role.supervisor: anyone,
    Role.member: grid_leader,
}


def _village_only(dispute: Dispute, _actor: Actor) -> type[errors.HotlineError] | None:
    return None if dispute.level == "village" else errors.InvalidTransition


async def step(change: DisputeChange) -> None:
    """A step of the four lists: what was found or agreed."""
    body = cast(s.StepBody, change.body)
    change.data = {"note": body.note}


async def escalate(change: DisputeChange) -> None:
    """小事不出村、大事不出乡: what the village cannot settle goes to the township."""
    body = cast(s.StepBody, change.body)
    change.dispute.level = "township"
    change.data = {"note": body.note, "level": "township"}


async def refer(change: DisputeChange) -> None:
    body = cast(s.ReferDisputeBody, change.body)
    if body.department_code is not None:
        await routing.require_department(
            change.session, body.department_code, ["body", "department_code"]
        )
    change.dispute.referred_to = body.target
    change.dispute.department_code = body.department_code
    change.data = {
        "note": body.note,
        "target": body.target,
        "department_code": body.department_code,
    }


def _t(
    action: str,
    sources: set[str] | frozenset[str],
    to: str,
    body: type[BaseModel],
    effect: Any,
    event: str,
    **extra: Any,
) -> Transition[DisputeChange]:
    return Transition(
        action=action,
        sources=frozenset(sources),
        to=to,
        actors=WORKERS,
        body=body,
        effect=effect,
        event=event,
        **extra,
    )


# fmt: off
DISPUTES: Machine[DisputeChange] = Machine(
    name="dispute",
    statuses=STATUSES,
    transitions=[
        #  action       from                                          to            body                 effect    event
        _t("analyse",   {"investigated", "escalated"},                "analysed",   s.StepBody,          step,     "dispute.analysed",   summary="研判"),
        _t("mediate",   {"analysed"},                                 "mediating",  s.StepBody,          step,     "dispute.mediating",  summary="调解"),
        _t("visit",     {"mediating"},                                "visited",    s.StepBody,          step,     "dispute.visited",    summary="回访"),
        _t("close_off", {"visited"},                                  "closed_off", s.StepBody,          step,     "dispute.closed_off", summary="销号"),
        _t("escalate",  {"investigated", "analysed", "mediating"},    "escalated",  s.StepBody,          escalate, "dispute.escalated",  summary="上报乡镇", guard=_village_only),
        _t("refer",     OPEN,                                         "referred",   s.ReferDisputeBody,  refer,    "dispute.referred",   summary="移交"),
    ],
)
# fmt: on
