"""The one state-machine engine that tickets and disputes share.

A machine is a table of transitions, data rather than branches: from which
statuses an action may be taken, to which status it leads, which roles may take
it and on what condition, what body it takes, and what it does. ``allowed_actions``,
the 403/409 decisions, the OpenAPI description of each action and the tests of
every forbidden pair are all derived from the table.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from hotline import errors, guard
from hotline.auth.models import Role
from hotline.auth.service import Actor


class Subject(Protocol):
    status: str
    version: int


S = TypeVar("S", bound=Subject)
M = TypeVar("M", bound=BaseModel)
C = TypeVar("C")

# Who may take a transition, beyond holding the role: e.g. "the ticket's own
# department". Admins pass every condition.
Condition = Callable[[Any, Actor], bool]
# Why a transition is closed right now though its status allows it (an error
# class to raise), or None when it is open.
Guard = Callable[[Any, Actor], type[errors.HotlineError] | None]


def anyone(_subject: Any, _actor: Actor) -> bool:
    return True


@dataclass(frozen=True)
class Transition(Generic[C]):
    action: str
    sources: frozenset[str]
    to: str | None  # None: the status stays as it is
    actors: Mapping[Role, Condition]
    body: type[BaseModel]
    effect: Callable[[C], Awaitable[None]]
    event: str
    guard: Guard | None = None
    admin: bool = True  # admins may take it (not so for what needs a member's identity)
    summary: str = ""

    def admits(self, actor: Actor, subject: Any) -> bool:
        if actor.role is Role.admin:
            return self.admin
        condition = self.actors.get(actor.role)
        return condition is not None and condition(subject, actor)

    def role_may(self, role: Role) -> bool:
        return self.admin if role is Role.admin else role in self.actors


@dataclass
class Machine(Generic[C]):
    """A subject's transition table, indexed for the questions the API asks."""

    name: str
    transitions: list[Transition[C]]
    statuses: tuple[str, ...]
    _by_state: dict[tuple[str, str], Transition[C]] = field(init=False)
    # Per status, the transitions leaving it in the table's action order (a list page
    # asks this for every ticket).
    _from: dict[str, tuple[Transition[C], ...]] = field(init=False)
    actions: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        self._by_state = {}
        order: list[str] = []
        for t in self.transitions:
            if t.action not in order:
                order.append(t.action)
            for source in t.sources:
                if source not in self.statuses:
                    raise ValueError(f"{self.name}: unknown status {source!r} in {t.action}")
                key = (source, t.action)
                if key in self._by_state:
                    raise ValueError(f"{self.name}: two transitions for {key}")
                self._by_state[key] = t
        self.actions = tuple(order)
        self._from = {
            status: tuple(
                found
                for a in self.actions
                if (found := self._by_state.get((status, a))) is not None
            )
            for status in self.statuses
        }

    def lookup(self, status: str, action: str) -> Transition[C] | None:
        return self._by_state.get((status, action))

    def for_action(self, action: str) -> list[Transition[C]]:
        return [t for t in self.transitions if t.action == action]

    def body_of(self, action: str) -> type[BaseModel]:
        return self.for_action(action)[0].body

    def allowed_actions(self, subject: Any, actor: Actor) -> list[str]:
        if actor.role is Role.viewer:
            return []
        return [
            t.action
            for t in self._from.get(subject.status, ())
            if t.admits(actor, subject) and (t.guard is None or t.guard(subject, actor) is None)
        ]

    def check_role(self, subject: Any, action: str, actor: Actor) -> None:
        """403 (before the body's 422, the If-Match's 412 and the state's 409) when the
        actor's role may take this action in no status at all, or when the subject's status
        has the action but not for this actor (``choose`` answers the same)."""
        if actor.role is Role.viewer or not any(
            t.role_may(actor.role) for t in self.for_action(action)
        ):
            raise errors.Forbidden(f"A {actor.role.value} may not {action}.")
        t = self.lookup(subject.status, action)
        if t is not None and not t.admits(actor, subject):
            raise self._not_yours(t, subject, action, actor)

    def _not_yours(
        self, t: Transition[C], subject: Any, action: str, actor: Actor
    ) -> errors.Forbidden:
        if t.role_may(actor.role):
            return errors.Forbidden(f"This {self.name} is not yours to {action}.")
        return errors.Forbidden(
            f"A {actor.role.value} may not {action} a {self.name} that is {subject.status}."
        )

    def choose(self, subject: Any, action: str, actor: Actor) -> Transition[C]:
        """The transition to run, or 403 (the status allows the action, but not to this
        actor: another role's, or not its own subject) / 409 (not in this status)."""
        t = self.lookup(subject.status, action)
        if t is not None and not t.admits(actor, subject):
            raise self._not_yours(t, subject, action, actor)
        if t is None:
            raise errors.InvalidTransition(
                f"'{action}' is not allowed while the {self.name} is {subject.status}.",
                allowed_actions=self.allowed_actions(subject, actor),
                status_now=subject.status,
            )
        if t.guard is not None:
            error = t.guard(subject, actor)
            if error is not None:
                raise error(
                    f"'{action}' is not allowed for this {self.name} now.",
                    allowed_actions=self.allowed_actions(subject, actor),
                )
        return t

    def forbidden_pairs(self) -> Iterable[tuple[str, str]]:
        """Every (status, action) with no transition: what the tests try and expect 409 for."""
        for status in self.statuses:
            for action in self.actions:
                if (status, action) not in self._by_state:
                    yield status, action


def parse_body(raw: bytes, model: type[M]) -> M:
    try:
        data = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError:
        # Why, as the input guard words it (orjson also refuses a lone surrogate).
        loc, msg = guard.body_refusal(raw) or (["body"], "is not valid JSON")
        raise errors.ValidationFailed.field(loc, msg) from None
    if not isinstance(data, dict):
        raise errors.ValidationFailed.field(["body"], "must be a JSON object")
    if where := guard.bad_text(data):
        raise errors.ValidationFailed.field(list(where), guard.BAD_TEXT)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise errors.from_pydantic(exc) from None


def check_if_match(value: str | None, version: int, name: str) -> None:
    """412 unless ``If-Match`` is absent, ``*``, or lists the subject's version (RFC 9110:
    a comma-separated list of entity tags, ``"7"`` or ``W/"7"``)."""
    if value is None:
        return
    tags = [t.strip() for t in value.split(",") if t.strip()]
    if "*" in tags:
        return
    if str(version) not in {t.removeprefix("W/").strip('"') for t in tags}:
        raise errors.PreconditionFailed(
            f"The {name} is at version {version}, not {value.strip()}; reload it and retry."
        )
