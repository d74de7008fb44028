"""Departments, routing rules, and choosing the rule that routes a ticket."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hotline import errors
from hotline.auth.models import Role
from hotline.db import cached, invalidate
from hotline.grids import service as grids
from hotline.routing.models import Department, RoutingRule
from hotline.routing.schemas import DepartmentCreate, DepartmentPatch, RuleCreate
from hotline.sla.service import DEFAULT_CALENDAR, DEFAULT_CALLBACK, DEFAULT_RESOLUTION, Sla

# Reference data is read by everyone who works tickets; only admins write it.
READERS = (Role.operator, Role.department, Role.member, Role.supervisor, Role.app, Role.viewer)
MATCH_FIELDS = ("kind", "category", "topic", "urgency", "grid")


async def create_department(
    session: AsyncSession, body: DepartmentCreate, now: datetime
) -> Department:
    if await session.get(Department, body.code) is not None:
        raise errors.Conflict(f"Department {body.code!r} exists already.")
    department = Department(
        code=body.code, name=body.name, platform=body.platform.value, created_at=now, updated_at=now
    )
    session.add(department)
    await session.flush()
    return department


async def get_department(session: AsyncSession, code: str) -> Department:
    department = await session.get(Department, code)
    if department is None:
        raise errors.NotFound(f"No department {code!r}.")
    return department


async def patch_department(
    session: AsyncSession, code: str, body: DepartmentPatch, now: datetime
) -> Department:
    department = await get_department(session, code)
    if body.name is not None:
        department.name = body.name
    if body.platform is not None:
        department.platform = body.platform.value
    department.updated_at = now
    await session.flush()
    return department


async def require_department(session: AsyncSession, code: str, loc: Sequence[str]) -> Department:
    """The named department, or 422 on the field that named it."""
    department = await session.get(Department, code)
    if department is None:
        raise errors.ValidationFailed.field(loc, f"unknown department {code!r}")
    return department


async def create_rule(session: AsyncSession, body: RuleCreate, now: datetime) -> RoutingRule:
    if body.department_code is not None:
        await require_department(session, body.department_code, ["body", "department_code"])
    # A rule for a grid no ticket can name would never match (tickets must name a
    # registered grid once grids exist).
    await grids.check_known(session, body.grid, ["body", "grid"])
    rule = RoutingRule(
        kind=body.kind,
        category=body.category,
        topic=body.topic,
        urgency=body.urgency,
        grid=body.grid,
        department_code=body.department_code,
        priority=body.priority,
        label=body.label,
        callback_sla=body.callback_sla or DEFAULT_CALLBACK,
        response_sla=body.response_sla,
        resolution_sla=body.resolution_sla or DEFAULT_RESOLUTION,
        # A duration's calendar is natural unless named; the default resolution SLA is
        # P5D working, so a rule that names no resolution SLA runs on working days.
        calendar=body.calendar or (DEFAULT_CALENDAR if body.resolution_sla is None else "natural"),
        warning_lead=body.warning_lead,
        escalate_after=body.escalate_after,
        created_at=now,
    )
    session.add(rule)
    await session.flush()
    invalidate(session)
    return rule


def sla_of(rule: RoutingRule | None) -> Sla:
    if rule is None:
        return Sla()
    return Sla(
        callback=rule.callback_sla,
        response=rule.response_sla,
        resolution=rule.resolution_sla,
        calendar="natural" if rule.calendar == "natural" else "working",
        warning_lead=rule.warning_lead,
        escalate_after=rule.escalate_after,
    )


@dataclass(frozen=True)
class Facts:
    """What a rule can match on."""

    kind: str
    category: str
    topic: str | None
    urgency: str
    grid_lineage: tuple[str, ...]  # the ticket's grid first, then its ancestors


def _specificity(rule: RoutingRule, facts: Facts) -> tuple[int, int, int, float, str] | None:
    for name in ("kind", "category", "topic", "urgency"):
        wanted = getattr(rule, name)
        if wanted is not None and wanted != getattr(facts, name):
            return None
    depth = 0
    if rule.grid is not None:
        if rule.grid not in facts.grid_lineage:
            return None
        # The deeper the rule's grid, the more specific: the ticket's own grid is deepest.
        depth = len(facts.grid_lineage) - facts.grid_lineage.index(rule.grid)
    fields = sum(getattr(rule, name) is not None for name in MATCH_FIELDS)
    # Sorted descending: most fields, deepest grid, highest priority, then the oldest rule.
    return (fields, depth, rule.priority, -rule.created_at.timestamp(), str(rule.id))


def _rank(
    scored: tuple[tuple[int, int, int, float, str], RoutingRule],
) -> tuple[int, int, int, float, str]:
    (fields, depth, priority, age, rule_id), _rule = scored
    return (-fields, -depth, -priority, -age, rule_id)


def best_rule(rules: Sequence[RoutingRule], facts: Facts) -> RoutingRule | None:
    scored = [(score, rule) for rule in rules if (score := _specificity(rule, facts)) is not None]
    if not scored:
        return None
    # The highest score; among rules created in the same instant, the lower id decides
    # (stable, if arbitrary).
    return min(scored, key=_rank)[1]


async def all_rules(session: AsyncSession) -> list[RoutingRule]:
    return list((await session.scalars(sa.select(RoutingRule))).all())


async def match(session: AsyncSession, facts: Facts) -> RoutingRule | None:
    rules = await cached(session, "routing_rules", lambda: all_rules(session))
    return best_rule(rules, facts)


def rule_json(rule: RoutingRule) -> dict[str, Any]:
    return {
        "id": str(rule.id),
        **{name: getattr(rule, name) for name in (*MATCH_FIELDS, "department_code", "priority")},
        "label": rule.label,
        "callback_sla": rule.callback_sla,
        "response_sla": rule.response_sla,
        "resolution_sla": rule.resolution_sla,
        "calendar": rule.calendar,
        "warning_lead": rule.warning_lead,
        "escalate_after": rule.escalate_after,
        "created_at": rule.created_at,
    }


def rule_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise errors.NotFound("No such routing rule.") from None
