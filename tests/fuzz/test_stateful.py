"""Random ticket actions by random principals over HTTP, checked against the transition table."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import HealthCheck, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from hotline.auth.models import Role
from hotline.auth.service import Actor
from hotline.tickets.schemas import OPEN_STATUSES, TERMINAL_STATUSES
from hotline.tickets.transitions import TICKETS

from conftest import ADMIN_TOKEN, TICKET, Api, Env

EXAMPLES = int(os.environ.get("HOTLINE_FUZZ_EXAMPLES", "15"))
MACHINES = max(2, EXAMPLES * 2 // 3)  # 10 by default
STEPS = int(os.environ.get("HOTLINE_FUZZ_STEPS", "15"))
OPEN = frozenset(str(s) for s in OPEN_STATUSES)
TERMINAL = frozenset(str(s) for s in TERMINAL_STATUSES)
TIMER_STATES = {"running", "met", "breached", "cancelled"}
DEPARTMENTS = ("water", "roads")
UNKNOWN = "nowhere"  # a department that does not exist
NOTE = "跟进中"
DISPUTE = {
    "kind": "neighbours",
    "parties": [{"name": "甲", "role": "申请人"}, {"name": "乙", "role": "被申请人"}],
    "summary": "邻里纠纷",
}
T = TypeVar("T")


@dataclass(frozen=True)
class Who:
    """One principal: its name in the test, its token, and the actor the table reasons on."""

    name: str
    token: str
    actor: Actor

    def __repr__(self) -> str:
        return self.name


@dataclass
class Model:
    """What the test believes of one ticket, from the table alone."""

    id: str
    status: str
    department_code: str | None
    events: list[str]
    version: int
    by_app: bool = False
    parent: Model | None = None
    pending_extension: bool = False
    return_locked_for: str | None = None
    open_case: bool = False
    snapshot: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<{self.status} ticket {self.id[:8]} of {self.department_code}>"

    def subject(self) -> SimpleNamespace:
        """The ticket as the table's conditions and guards read it."""
        return SimpleNamespace(
            status=self.status,
            department_code=self.department_code,
            member_id=None,
            grid_code="G-07",
            on_the_spot=False,
            created_by=None,
            return_locked_for=self.return_locked_for,
            pending_extension={"until": "x"} if self.pending_extension else None,
        )


def visible(ticket: Model, who: Who) -> bool:
    """API.md's scope: departments read what is routed to them (and referred children of
    what is); an app what it created; the other roles everything."""
    role = who.actor.role
    if role is Role.department:
        parent = ticket.parent
        code = who.actor.department_code
        return ticket.department_code == code or (
            parent is not None and parent.department_code == code
        )
    if role is Role.app:
        return ticket.by_app
    return True


def allowed(ticket: Model, who: Who) -> list[str]:
    """`allowed_actions` per the table: a transition that admits the actor, its guard passing."""
    if who.actor.role is Role.viewer:
        return []
    subject = ticket.subject()
    out = []
    for action in TICKETS.actions:
        t = TICKETS.lookup(ticket.status, action)
        if t is not None and t.admits(who.actor, subject):
            if t.guard is None or t.guard(subject, who.actor) is None:
                out.append(action)
    return out


def bodies(tickets: list[Model], until: str) -> dict[str, list[Any]]:
    """The bodies tried for every action: valid ones, and for a few actions also ones their
    effect refuses with 422 (an unknown department, a merge into what cannot take it)."""
    departments = [*DEPARTMENTS, UNKNOWN]
    return {
        "dispatch": [{"department_code": d} for d in departments],
        "claim": [{}],
        "accept": [{}],
        "return": [{"reason": "不属于本单位"}],
        "reject_return": [{"note": "属于本单位"}],
        "callback": [{"outcome": o, "note": "已联系"} for o in ("reached", "unreachable")],
        "request_extension": [{"until": until, "reason": "需要施工"}],
        "approve_extension": [{}, {"note": "同意"}],
        "deny_extension": [{"note": "不批准"}],
        "resolve": [{"result": "已处理"}],
        "review": [
            {"satisfaction": s, "resolved": r}
            for s in ("satisfied", "basically_satisfied", "dissatisfied")
            for r in (True, False)
        ],
        "reopen": [
            {"reason": "未修好"},
            *({"reason": "未修好", "department_code": d} for d in DEPARTMENTS),
        ],
        "merge": [{"into": i} for i in [t.id for t in tickets] + [str(uuid.uuid4())]],
        "discard": [{"reason": "无效来电"}],
        "refer": [{"department_code": d, "note": "请协办"} for d in departments],
        "supervise": [{"note": "请加快办理"}],
        "open_dispute": [DISPUTE],
        "comment": [{"note": NOTE}],
    }


def stays(status: str, action: str) -> bool:
    """Whether the action leaves the status as it is (or is not taken from it at all)."""
    t = TICKETS.lookup(status, action)
    return t is None or t.to is None


def movable(ticket: Model, people: list[Who]) -> bool:
    """Whether someone may still take an action that changes the ticket's status."""
    return any(not stays(ticket.status, a) for w in people for a in allowed(ticket, w))


def effect_refuses(
    ticket: Model, who: Who, action: str, body: dict[str, Any], tickets: list[Model]
) -> bool:
    """The 422s an effect raises after the state checks (API.md: merge, reopen, refer)."""
    if action == "dispatch":
        return body["department_code"] not in DEPARTMENTS
    if action == "refer":
        code = body["department_code"]
        return code not in DEPARTMENTS or code == ticket.department_code
    if action == "reopen":
        return body.get("department_code") is None and ticket.department_code is None
    if action == "merge":
        target = next((t for t in tickets if t.id == body["into"]), None)
        return (
            target is None
            or target is ticket
            or not visible(target, who)
            or target.status not in OPEN
        )
    return False


def expected(
    ticket: Model,
    who: Who,
    action: str,
    body: Any,
    if_match: str | None,
    tickets: list[Model],
) -> tuple[int, str | None]:
    """(status, problem slug) per API.md's check order: 404, 403, 422, 412, 409."""
    role = who.actor.role
    if not visible(ticket, who):
        return 404, "not-found"
    if role is Role.viewer or not any(t.role_may(role) for t in TICKETS.for_action(action)):
        return 403, "forbidden"  # the role may never take it
    if not isinstance(body, dict):
        return 422, "validation"
    if if_match is not None and if_match != "*" and if_match != f'"{ticket.version}"':
        return 412, "version-mismatch"
    subject = ticket.subject()
    t = TICKETS.lookup(ticket.status, action)
    if t is not None and t.role_may(role) and not t.admits(who.actor, subject):
        return 403, "forbidden"  # the role may, but not on this ticket (not its holder)
    if t is None or not t.admits(who.actor, subject):
        return 409, "invalid-transition"
    if t.guard is not None:
        error = t.guard(subject, who.actor)
        if error is not None:
            return 409, error.slug
    if effect_refuses(ticket, who, action, body, tickets):
        return 422, "validation"
    return 200, None


@dataclass
class Stats:
    machines: int = 0
    steps: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    succeeded: set[str] = field(default_factory=set)


def machine_class(
    loop: asyncio.AbstractEventLoop,
    client: httpx.AsyncClient,
    people: list[Who],
    until: str,
    stats: Stats,
) -> type[RuleBasedStateMachine]:
    """The state machine, bound to the session loop and this test's principals."""
    by_name = {w.name: w for w in people}
    admin = by_name["admin"]

    def run(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=120)

    def get(who: Who, path: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {who.token}"}
        return run(client.get(path, headers=headers))

    def post(who: Who, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
        headers = {"Authorization": f"Bearer {who.token}", **headers}
        return run(client.post(path, json=body, headers=headers))

    class TicketActions(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.tickets: list[Model] = []
            self.last: Model | None = None
            stats.machines += 1

        def create(self, who: Who, status: str, **fields: Any) -> None:
            body = {**TICKET, **fields}
            r = post(who, "/v1/tickets", body, {})
            assert r.status_code == 201, r.text
            ticket = r.json()
            assert ticket["status"] == status, ticket
            events = ["ticket.created"] + (["ticket.dispatched"] if status == "dispatched" else [])
            model = Model(
                id=ticket["id"],
                status=status,
                department_code=ticket["department_code"],
                events=events,
                version=ticket["version"],
                by_app=who.name == "app",
            )
            self.tickets.append(model)
            self.check(model)

        @initialize()
        def fresh_tickets(self) -> None:
            """New tickets for each run: the database keeps what earlier runs left."""
            operator, app = by_name["operator"], by_name["app"]
            self.create(operator, "dispatched")  # routed at once to water
            self.create(operator, "received", topic="noise")  # no rule: for an operator
            self.create(app, "dispatched")  # an app's own, routed to water
            self.create(operator, "posted", kind="service_order", topic="chores")

        @rule(data=st.data())
        def act(self, data: st.DataObject) -> None:
            # Mostly the ticket of the last step, else one that can still move: runs go deep.
            live = [t for t in self.tickets if movable(t, people)]
            if self.last in live and data.draw(st.booleans(), label="same ticket"):
                ticket = self.last
            else:
                pool = self.tickets
                if live and data.draw(st.integers(0, 3), label="open") > 0:
                    pool = live
                ticket = data.draw(st.sampled_from(pool), label="ticket")
            self.last = ticket
            # Most steps take an action the model expects to succeed, with a body its effect
            # takes; those that move the ticket on come first, where hypothesis draws most.
            choices = sorted(
                ((w, a) for w in people if visible(ticket, w) for a in allowed(ticket, w)),
                key=lambda choice: stays(ticket.status, choice[1]),
            )
            likely = bool(choices) and data.draw(st.integers(0, 3), label="likely") > 0
            if likely:
                who, action = data.draw(st.sampled_from(choices), label="who, action")
            else:
                who = data.draw(st.sampled_from(people), label="who")
                action = data.draw(st.sampled_from(TICKETS.actions), label="action")
            options = bodies(self.tickets, until)[action]
            if likely:
                takes = [
                    b for b in options if not effect_refuses(ticket, who, action, b, self.tickets)
                ]
                options = takes or options
            body: Any = data.draw(st.sampled_from(options), label="body")
            odd = ["bad_body", "stale", "fresh", "star"]
            variant = data.draw(
                st.sampled_from(["plain"] * (12 if likely else 4) + odd), label="variant"
            )
            headers: dict[str, str] = {}
            if variant == "bad_body":
                body = []  # the wrong JSON type: 422
            elif variant == "stale":
                headers["If-Match"] = f'"{ticket.version - 1}"'
            elif variant == "fresh":
                headers["If-Match"] = f'"{ticket.version}"'
            elif variant == "star":
                headers["If-Match"] = "*"
            if_match = headers.get("If-Match")
            want, slug = expected(ticket, who, action, body, if_match, self.tickets)
            r = post(who, f"/v1/tickets/{ticket.id}/actions/{action}", body, headers)
            note(f"{who.name} {action} {body} {headers} on {ticket.status}: {r.status_code}")
            stats.steps += 1
            outcome = f"{want} {slug}" if slug else str(want)
            stats.outcomes[outcome] = stats.outcomes.get(outcome, 0) + 1
            assert r.status_code == want, (
                f"{who.name} {action} on a {ticket.status} ticket "
                f"(department {ticket.department_code}): expected {want}, got "
                f"{r.status_code} {r.text}"
            )
            if want != 200:
                problem = r.json()
                assert r.headers["content-type"] == "application/problem+json"
                assert problem["type"] == f"urn:hotline:problem:{slug}", problem
                if want == 409:
                    assert problem["allowed_actions"] == allowed(ticket, who), problem
                self.check(ticket)  # nothing changed
                return
            stats.succeeded.add(action)
            self.apply(ticket, who, action, body)
            out = r.json()
            assert r.headers["etag"] == f'"{out["version"]}"'
            assert out["status"] == ticket.status, out
            assert out["allowed_actions"] == allowed(ticket, who), out
            self.check(ticket, acted=True)

        def apply(self, ticket: Model, who: Who, action: str, body: dict[str, Any]) -> None:
            """The model's side of a successful action, from the table and API.md."""
            t = TICKETS.lookup(ticket.status, action)
            assert t is not None
            ticket.events.append(t.event)
            ticket.status = t.to or ticket.status
            if action == "dispatch":
                ticket.department_code = body["department_code"]
            elif action == "reopen":
                ticket.department_code = body.get("department_code", ticket.department_code)
            elif action == "return":
                ticket.pending_extension = False
            elif action == "reject_return":
                ticket.return_locked_for = ticket.department_code
            elif action == "request_extension":
                ticket.pending_extension = True
            elif action in ("approve_extension", "deny_extension"):
                ticket.pending_extension = False
            elif action == "review":
                if body["satisfaction"] == "dissatisfied" and not body["resolved"]:
                    ticket.status = "accepted"  # 重办
                else:
                    ticket.events.append("ticket.closed")
            elif action == "supervise" and not ticket.open_case:
                ticket.events.append("supervision.opened")
                ticket.open_case = True
            elif action == "merge":
                if ticket.open_case:
                    ticket.events.append("supervision.closed")
                    ticket.open_case = False
                target = next(t for t in self.tickets if t.id == body["into"])
                self.check(target)  # its merged_ids grew: a new version (BUG-3)
            elif action == "resolve" and ticket.parent is not None:
                ticket.parent.events.append("ticket.child_resolved")
                self.check(ticket.parent)
            elif action == "refer":
                self.adopt_child(ticket, who, body["department_code"])

        def adopt_child(self, parent: Model, who: Who, department: str) -> None:
            children = get(admin, f"/v1/tickets/{parent.id}").json()["children"]
            known = {t.id for t in self.tickets}
            new = [c for c in children if c not in known]
            assert len(new) == 1, children
            child = get(admin, f"/v1/tickets/{new[0]}").json()
            assert child["parent_id"] == parent.id
            assert child["status"] == "dispatched" and child["department_code"] == department
            assert not [t for t in child["timers"] if t["kind"] == "callback"], child["timers"]
            model = Model(
                id=child["id"],
                status="dispatched",
                department_code=department,
                events=["ticket.created", "ticket.dispatched"],
                version=child["version"],
                parent=parent,
            )
            self.tickets.append(model)
            self.check(model)

        def check(self, ticket: Model, *, acted: bool = False) -> None:
            """The ticket as admin reads it, every principal's view and its timeline all
            agree with the model; its version moved when it was acted on, and otherwise
            exactly when the ticket as returned changed (API.md)."""
            r = get(admin, f"/v1/tickets/{ticket.id}")
            assert r.status_code == 200, r.text
            seen = r.json()
            assert r.headers["etag"] == f'"{seen["version"]}"'
            assert seen["status"] == ticket.status, (seen["status"], ticket.status)
            assert seen["department_code"] == ticket.department_code, seen
            assert (seen["pending_extension"] is not None) == ticket.pending_extension, seen
            if acted:  # API.md: a change increments the version (by how much, it does not say)
                assert seen["version"] > ticket.version, (seen["version"], ticket.version)
            elif ticket.snapshot:
                before = {k: v for k, v in ticket.snapshot.items() if k != "version"}
                after = {k: v for k, v in seen.items() if k != "version"}
                changed = sorted(k for k in after if before.get(k) != after[k])
                if changed:
                    assert seen["version"] > ticket.version, f"{changed} changed, same version"
                else:
                    assert seen["version"] == ticket.version, "version moved, nothing changed"
            ticket.version = seen["version"]
            ticket.snapshot = seen
            check_timers(seen)
            r = get(admin, f"/v1/tickets/{ticket.id}/events?limit=500")
            assert r.status_code == 200, r.text
            events = r.json()["items"]
            assert [e["type"] for e in events] == ticket.events, [e["type"] for e in events]
            assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
            assert events[0]["from_status"] is None
            assert events[-1]["to_status"] == ticket.status, events[-1]
            for who in people:
                if who is admin:
                    view = seen
                else:
                    r = get(who, f"/v1/tickets/{ticket.id}")
                    if not visible(ticket, who):
                        assert r.status_code == 404, f"{who.name} reads it: {r.status_code}"
                        continue
                    assert r.status_code == 200, f"{who.name}: {r.status_code} {r.text}"
                    view = r.json()
                assert view["allowed_actions"] == allowed(ticket, who), (who.name, view)

        @invariant()
        def statuses_are_known(self) -> None:
            for ticket in self.tickets:
                assert ticket.status in OPEN | TERMINAL

    return TicketActions


def check_timers(ticket: dict[str, Any]) -> None:
    """API.md: at most one running timer per kind, valid states, none running once the
    work is over; a dispatched ticket's resolution clock runs."""
    timers = ticket["timers"]
    running = [t["kind"] for t in timers if t["state"] == "running"]
    assert len(running) == len(set(running)), timers
    assert {t["state"] for t in timers} <= TIMER_STATES, timers
    for timer in timers:
        assert (timer["state"] == "met") == (timer["met_at"] is not None), timer
        assert (timer["state"] == "breached") == (timer["breached_at"] is not None), timer
    status = ticket["status"]
    if status in TERMINAL:
        assert not running, (status, timers)
    if status in ("resolved", "returned"):
        assert "resolution" not in running and "response" not in running, (status, timers)
    if status == "accepted":
        assert "response" not in running, (status, timers)
    if status == "dispatched":
        assert running.count("resolution") == 1, (status, timers)


async def principals(api: Api) -> list[Who]:
    """Admin, operator, the routed department, another one, supervisor, viewer, app."""
    for code in DEPARTMENTS:
        await api.department(code)
    await api.rule(topic="water_supply", department_code="water", response_sla="PT30M")
    people = [Who("admin", ADMIN_TOKEN, Actor(id=uuid.uuid4(), name="admin", role=Role.admin))]
    for name, role, department in (
        ("operator", Role.operator, None),
        ("water", Role.department, "water"),
        ("roads", Role.department, "roads"),
        ("supervisor", Role.supervisor, None),
        ("viewer", Role.viewer, None),
        ("app", Role.app, None),
    ):
        extra = {"department_code": department} if department else {}
        token = await api.principal(role.value, **extra)
        actor = Actor(id=uuid.uuid4(), name=name, role=role, department_code=department)
        people.append(Who(name, token, actor))
    return people


def test_bodies_cover_every_action() -> None:
    model = Model(id="x", status="received", department_code=None, events=[], version=1)
    table = bodies([model], "2026-12-31T00:00:00Z")
    assert set(table) == set(TICKETS.actions)
    assert all(table.values())


@pytest.fixture
async def no_rate_limit(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """Thousands of requests a minute by a few principals: rate limits are not under test."""
    monkeypatch.setattr(env.runtime, "limiter", None)


@pytest.mark.slow
@pytest.mark.usefixtures("no_rate_limit")
async def test_random_actions_agree_with_the_table(
    env: Env, api: Api, client: httpx.AsyncClient, backend: str
) -> None:
    people = await principals(api)
    until = (env.clock.now() + timedelta(days=20)).isoformat()
    stats = Stats()
    machine = machine_class(asyncio.get_running_loop(), client, people, until, stats)
    config = settings(
        max_examples=MACHINES,
        stateful_step_count=STEPS,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    started = time.monotonic()
    await asyncio.to_thread(run_state_machine_as_test, machine, settings=config)
    print(  # noqa: T201 - the run's size, for the record (-s shows it)
        f"\n[{backend}] {stats.machines} runs, {stats.steps} actions in "
        f"{time.monotonic() - started:.1f}s; answers {dict(sorted(stats.outcomes.items()))}; "
        f"{len(stats.succeeded)} actions succeeded at least once: {sorted(stats.succeeded)}"
    )
    assert stats.steps > 0
