"""The ticket's transition table (data) and the effect of each action.

Read a row as: from these statuses, this action leads to that status, may be
taken by these roles (on this condition), takes this body, does this, and is
recorded as this event. Everything else about actions is derived from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from hotline import errors
from hotline.auth.models import Role
from hotline.auth.service import Actor
from hotline.disputes import service as disputes
from hotline.disputes.schemas import OpenDisputeBody
from hotline.grids import service as grids
from hotline.members import service as members
from hotline.routing import service as routing
from hotline.sla.service import Sla
from hotline.supervision import service as supervision
from hotline.tickets import schemas as s
from hotline.tickets.change import Change, record, touch
from hotline.tickets.intake import Intake, hand_to, open_ticket, start_work_clocks
from hotline.tickets.models import Ticket
from hotline.tickets.scope import find_visible
from hotline.workflow import Condition, Machine, Transition, anyone

Status = s.Status
OPEN = frozenset(s.OPEN_STATUSES)
EVERY = frozenset(Status)


def own_department(ticket: Ticket, actor: Actor) -> bool:
    return ticket.department_code is not None and ticket.department_code == actor.department_code


def holder(ticket: Ticket, actor: Actor) -> bool:
    return ticket.member_id is not None and ticket.member_id == actor.member_id


def skills_fit(ticket: Ticket, actor: Actor) -> bool:
    return set(ticket.skills or ()) <= set(actor.skills)


def grid_leader(ticket: Ticket, actor: Actor) -> bool:
    return ticket.grid_code is not None and ticket.grid_code in actor.grid_codes


def on_the_spot_leader(ticket: Ticket, actor: Actor) -> bool:
    """A grid leader resolving on the spot (就地解决) what it registered."""
    return ticket.on_the_spot and ticket.created_by is not None and ticket.created_by == actor.id


# Who may take an action (admins aside), as data for the table below.
HANDLER: dict[Role, Condition] = {Role.department: own_department, Role.member: holder}
OPERATOR: dict[Role, Condition] = {Role.operator: anyone}
DIRECT: dict[Role, Condition] = {Role.operator: anyone, Role.member: on_the_spot_leader}
SUPERVISOR: dict[Role, Condition] = {Role.supervisor: anyone}
DISPUTE_OPENERS: dict[Role, Condition] = {
    Role.operator: anyone,
    Role.supervisor: anyone,
    Role.member: grid_leader,
}
DEPARTMENT: dict[Role, Condition] = {Role.department: own_department}
# A member claims a posted order from its board: every skill the order asks for is its
# own (one that held the order before returning it still reads it, but may not claim it).
CLAIMER: dict[Role, Condition] = {Role.member: skills_fit}
# Everyone who can see the ticket may comment on it, except a viewer.
ANYONE: dict[Role, Condition] = {r: anyone for r in Role if r not in (Role.viewer, Role.admin)}


def _return_guard(ticket: Ticket, _actor: Actor) -> type[errors.HotlineError] | None:
    if ticket.department_code is not None and ticket.return_locked_for == ticket.department_code:
        return errors.ReturnNotAllowed
    return None


def _pending_extension(ticket: Ticket, _actor: Actor) -> type[errors.HotlineError] | None:
    return None if ticket.pending_extension else errors.InvalidTransition


def _no_pending_extension(ticket: Ticket, _actor: Actor) -> type[errors.HotlineError] | None:
    return errors.InvalidTransition if ticket.pending_extension else None


# -- shared steps -----------------------------------------------------------------


async def current_sla(change: Change) -> Sla:
    """The SLA of the rule that matches the ticket now (defaults if none)."""
    t = change.ticket
    lineage = await grids.lineage(change.session, t.grid_code)
    facts = routing.Facts(t.kind, t.category, t.topic, t.urgency, lineage)
    rule = await routing.match(change.session, facts)
    return routing.sla_of(rule)


# -- effects ------------------------------------------------------------------------


async def give_to(change: Change, department_code: str | None, member_id: str | None) -> None:
    """Hand the ticket to a department or (组织派单) a member, checked: 422 when unknown."""
    if department_code is not None:
        await routing.require_department(
            change.session, department_code, ["body", "department_code"]
        )
    if member_id is not None:
        await members.require_available(change.session, member_id, ["body", "member_id"])
        await members.remember_holder(change.session, change.ticket.id, member_id, change.now)
    hand_to(change.ticket, department_code, member_id)


async def dispatch(change: Change) -> None:
    body = cast(s.DispatchBody, change.body)
    await give_to(change, body.department_code, body.member_id)
    sla = await current_sla(change)
    change.ticket.sla = sla.as_json()
    start_work_clocks(change.timers, sla)
    change.data = {"department_code": body.department_code, "member_id": body.member_id}


async def claim(change: Change) -> None:
    """党员接单: the member takes an order from the board; it is working at once."""
    assert change.actor.member_id is not None
    await members.remember_holder(
        change.session, change.ticket.id, change.actor.member_id, change.now
    )
    hand_to(change.ticket, None, change.actor.member_id)
    sla = await current_sla(change)
    change.ticket.sla = sla.as_json()
    start_work_clocks(change.timers, sla)
    change.timers.meet("response")
    change.data = {"member_id": change.actor.member_id}


async def accept(change: Change) -> None:
    change.timers.meet("response")


async def return_(change: Change) -> None:
    """退单: a department's return waits for review; a member's order goes back to the board."""
    body = cast(s.ReasonBody, change.body)
    t = change.ticket
    change.timers.cancel("response", "resolution")
    t.pending_extension = None
    change.data = {
        "reason": body.reason,
        "department_code": t.department_code,
        "member_id": t.member_id,
    }
    if t.member_id is not None:
        change.to = Status.posted
        hand_to(t, None, None)


async def reject_return(change: Change) -> None:
    body = cast(s.NoteBody, change.body)
    change.ticket.return_locked_for = change.ticket.department_code
    start_work_clocks(change.timers, change.sla)
    change.data = {"note": body.note, "department_code": change.ticket.department_code}


async def callback(change: Change) -> None:
    body = cast(s.CallbackBody, change.body)
    if body.outcome == "reached":
        change.timers.meet("callback")
    change.data = {"outcome": body.outcome, "note": body.note}


async def request_extension(change: Change) -> None:
    body = cast(s.ExtensionRequestBody, change.body)
    if body.until <= change.now:
        raise errors.ValidationFailed.field(["body", "until"], "must be in the future")
    running = change.timers.running("resolution")
    if running is not None and body.until <= running.due_at:
        # An extension extends: an earlier date would shorten the time to handle it.
        due = running.due_at.isoformat().replace("+00:00", "Z")
        raise errors.ValidationFailed.field(
            ["body", "until"], f"must be later than the current deadline {due}"
        )
    until = body.until.astimezone(change.now.tzinfo)
    change.ticket.pending_extension = {
        "until": until.isoformat().replace("+00:00", "Z"),
        "reason": body.reason,
        "requested_at": change.now.isoformat().replace("+00:00", "Z"),
    }
    change.data = {"until": change.ticket.pending_extension["until"], "reason": body.reason}


async def approve_extension(change: Change) -> None:
    body = cast(s.OptionalNoteBody, change.body)
    pending: dict[str, Any] = change.ticket.pending_extension or {}
    until = datetime.fromisoformat(pending["until"])
    change.timers.move("resolution", until, change.sla.warning_lead)
    change.ticket.pending_extension = None
    change.data = {"until": pending["until"], "note": body.note}


async def deny_extension(change: Change) -> None:
    body = cast(s.OptionalNoteBody, change.body)
    pending: dict[str, Any] = change.ticket.pending_extension or {}
    change.ticket.pending_extension = None
    change.data = {"until": pending.get("until"), "note": body.note}


async def resolve(change: Change) -> None:
    body = cast(s.ResolveBody, change.body)
    t = change.ticket
    change.timers.meet("resolution")
    t.result = body.result
    change.data = {"result": body.result}
    if t.parent_id is not None:
        parent_id, data = (
            t.parent_id,
            {
                "child_id": str(t.id),
                "department_code": t.department_code,
                "result": body.result,
            },
        )

        async def tell_parent() -> None:
            # 结果互通: the platform that referred it learns the result.
            parent = await change.session.get(Ticket, parent_id, with_for_update=True)
            if parent is not None:
                await record(
                    change.session,
                    parent,
                    change.actor,
                    change.now,
                    [("ticket.child_resolved", data)],
                )

        change.after.append(tell_parent)


async def refer(change: Change) -> None:
    """四平台互推: a linked child ticket for another department, on its own clocks."""
    body = cast(s.ReferBody, change.body)
    t = change.ticket
    if body.department_code == t.department_code:
        raise errors.ValidationFailed.field(
            ["body", "department_code"], "refer to another department"
        )
    await routing.require_department(
        change.session, body.department_code, ["body", "department_code"]
    )
    child, _ = await open_ticket(
        change.session,
        change.runtime,
        change.actor,
        Intake(
            kind=t.kind,
            channel=t.channel,
            category=t.category,
            content=t.content,
            urgency=t.urgency,
            topic=t.topic,
            caller=t.sealed_caller,
            special_groups=list(t.caller_special_groups),
            confidential=t.caller_confidential,
            location=t.location,
            grid=t.grid_code,
            skills=list(t.skills),
            parent_id=t.id,
        ),
        department_code=body.department_code,
        callback=False,
    )
    change.created.append(child.id)
    change.data = {
        "child_id": str(child.id),
        "department_code": body.department_code,
        "note": body.note,
    }


async def resolve_directly(change: Change) -> None:
    """直办: answered while the caller is on the line, so the callback is met too."""
    body = cast(s.ResolveBody, change.body)
    change.timers.meet("callback", "resolution")
    change.ticket.result = body.result
    change.data = {"result": body.result, "direct": True}
    if change.ticket.on_the_spot:
        change.data.update(on_the_spot=True, grid=change.ticket.grid_code)


async def review(change: Change) -> None:
    body = cast(s.ReviewBody, change.body)
    t = change.ticket
    t.satisfaction = body.satisfaction.value
    change.timers.meet("callback")
    change.data = {
        "satisfaction": body.satisfaction.value,
        "resolved": body.resolved,
        "note": body.note,
    }
    if body.satisfaction is s.Satisfaction.dissatisfied and not body.resolved:
        change.to = Status.accepted  # 重办: back to work on a new resolution clock
        sla = change.sla
        change.timers.start("resolution", sla.resolution, sla.calendar, sla.warning_lead)
        return
    closed: dict[str, Any] = {}
    if t.kind == s.Kind.service_order and t.member_id is not None:
        entry = members.award(
            change.session,
            member_id=t.member_id,
            ticket_id=t.id,
            satisfaction=body.satisfaction.value,
            base=change.runtime.settings.points_base,
            now=change.now,
        )
        closed = {"member_id": t.member_id, "points": entry.points}
    change.followers.append(("ticket.closed", closed))


async def reopen(change: Change) -> None:
    body = cast(s.ReopenBody, change.body)
    t = change.ticket
    department, member = body.department_code, body.member_id
    if department is None and member is None:
        department, member = t.department_code, t.member_id
    if department is None and member is None:
        raise errors.ValidationFailed.field(
            ["body", "department_code"], "the ticket never had a holder; name one"
        )
    await give_to(change, department, member)
    t.satisfaction = None
    await members.reverse_last_award(change.session, t.id, change.now)
    sla = change.sla
    change.timers.start("resolution", sla.resolution, sla.calendar, sla.warning_lead)
    change.data = {"reason": body.reason, "department_code": department, "member_id": member}


async def merge(change: Change) -> None:
    body = cast(s.MergeBody, change.body)
    target = await find_visible(change.session, change.actor, body.into, for_update=True)
    if target is None or target.id == change.ticket.id or target.status not in OPEN:
        raise errors.ValidationFailed.field(
            ["body", "into"], "must be another open ticket you can see"
        )
    change.ticket.merged_into = target.id
    touch(target, change.now)  # its merged_ids changed: a new version
    change.timers.cancel()
    change.data = {"into": str(target.id), "into_number": target.number}
    case = await supervision.open_case(change.session, ticket_id=change.ticket.id)
    if case is not None:
        note = f"merged into {target.number}"
        supervision.close(change.session, case, note, change.actor, change.now)
        change.supervision = case
        change.followers.append(
            ("supervision.closed", {"supervision_id": str(case.id), "note": note})
        )


async def supervise(change: Change) -> None:
    """Manual 督办: opens a case, or adds to the one already open."""
    body = cast(s.NoteBody, change.body)
    t = change.ticket
    case, opened = await supervision.open_or_add(
        change.session,
        subject="ticket",
        subject_id=t.id,
        department_code=t.department_code,
        reason="manual",
        note=body.note,
        actor=change.actor,
        now=change.now,
        escalate=supervision.escalate_at(change.runtime.calendar, change.sla, change.now),
    )
    t.supervised = True
    change.supervision = case
    change.data = {"note": body.note, "supervision_id": str(case.id)}
    if opened:
        change.followers.append(
            ("supervision.opened", {"supervision_id": str(case.id), "reason": "manual", "level": 1})
        )


async def open_dispute(change: Change) -> None:
    """矛盾纠纷登记: a dispute found during a call, linked both ways."""
    body = cast(OpenDisputeBody, change.body)
    grid = body.grid or change.ticket.grid_code
    if grid is None:
        raise errors.ValidationFailed.field(["body", "grid"], "the ticket has no grid; name one")
    dispute = await disputes.create(
        change.session, change.runtime, change.actor, body, grid, source=change.ticket
    )
    change.data = {"dispute_id": str(dispute.id), "kind": body.kind}


async def discard(change: Change) -> None:
    body = cast(s.ReasonBody, change.body)
    change.timers.cancel()
    change.data = {"reason": body.reason}


async def comment(change: Change) -> None:
    body = cast(s.NoteBody, change.body)
    change.data = {"note": body.note}


def _t(
    action: str,
    sources: frozenset[str] | set[Status],
    to: Status | None,
    actors: dict[Role, Condition],
    body: type[s.Body],
    effect: Any,
    event: str,
    **extra: Any,
) -> Transition[Change]:
    return Transition(
        action=action,
        sources=frozenset(str(x) for x in sources),
        to=None if to is None else str(to),
        actors=actors,
        body=body,
        effect=effect,
        event=event,
        **extra,
    )


# fmt: off
R = Status  # short names keep one transition to a line
TICKETS: Machine[Change] = Machine(
    name="ticket",
    statuses=tuple(str(x) for x in Status),
    transitions=[
        #  action               from                                  to             who       body                     effect             event
        _t("dispatch",          {R.received, R.posted, R.returned},   R.dispatched,  OPERATOR, s.DispatchBody,          dispatch,          "ticket.dispatched",           summary="派单"),
        _t("claim",             {R.posted},                           R.accepted,    CLAIMER,  s.EmptyBody,             claim,             "ticket.claimed",              summary="接单", admin=False),
        _t("accept",            {R.dispatched},                       R.accepted,    HANDLER,  s.EmptyBody,             accept,            "ticket.accepted",             summary="签收"),
        _t("return",            {R.dispatched, R.accepted},           R.returned,    HANDLER,  s.ReasonBody,            return_,           "ticket.returned",             summary="退单", guard=_return_guard),
        _t("reject_return",     {R.returned},                         R.dispatched,  OPERATOR, s.NoteBody,              reject_return,     "ticket.return_rejected",      summary="退单审核不通过"),
        _t("callback",          OPEN,                                 None,          OPERATOR, s.CallbackBody,          callback,          "ticket.called_back",          summary="回访联系"),
        _t("request_extension", {R.accepted},                         None,          HANDLER,  s.ExtensionRequestBody,  request_extension, "ticket.extension_requested",  summary="申请延期", guard=_no_pending_extension),
        _t("approve_extension", {R.accepted},                         None,          OPERATOR, s.OptionalNoteBody,      approve_extension, "ticket.extension_approved",   summary="批准延期", guard=_pending_extension),
        _t("deny_extension",    {R.accepted},                         None,          OPERATOR, s.OptionalNoteBody,      deny_extension,    "ticket.extension_denied",     summary="驳回延期", guard=_pending_extension),
        _t("resolve",           {R.accepted},                         R.resolved,    HANDLER,  s.ResolveBody,           resolve,           "ticket.resolved",             summary="办结"),
        _t("resolve",           {R.received},                         R.resolved,    DIRECT,   s.ResolveBody,           resolve_directly,  "ticket.resolved",             summary="办结"),
        _t("review",            {R.resolved},                         R.closed,      OPERATOR, s.ReviewBody,            review,            "ticket.reviewed",             summary="回访评价"),
        _t("reopen",            {R.closed},                           R.dispatched,  OPERATOR, s.ReopenBody,            reopen,            "ticket.reopened",             summary="重新办理"),
        _t("merge",             {R.received, R.posted, R.dispatched}, R.merged,      OPERATOR, s.MergeBody,             merge,             "ticket.merged",               summary="并单"),
        _t("discard",           {R.received},                         R.invalid,     OPERATOR, s.ReasonBody,            discard,           "ticket.discarded",            summary="作废"),
        _t("refer",             {R.accepted},                         None,          DEPARTMENT, s.ReferBody,           refer,             "ticket.referred",             summary="转办"),
        _t("supervise",         OPEN,                                 None,          SUPERVISOR, s.NoteBody,            supervise,         "ticket.supervised",           summary="督办"),
        _t("open_dispute",      OPEN,                                 None,          DISPUTE_OPENERS, OpenDisputeBody,  open_dispute,      "ticket.dispute_opened",       summary="矛盾纠纷登记"),
        _t("comment",           EVERY,                                None,          ANYONE,   s.NoteBody,              comment,           "ticket.commented",            summary="备注"),
    ],
)
# fmt: on
