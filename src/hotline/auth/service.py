"""Creating principals and tokens, and resolving a bearer token to an Actor."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hotline import errors
from hotline.auth.models import Principal, Role, Token
from hotline.grids.models import Grid
from hotline.members.models import Member
from hotline.routing.service import require_department

TOKEN_PREFIX = "htl_"


@dataclass(frozen=True, slots=True)
class Actor:
    """The authenticated caller of a request (or ``system`` for workers)."""

    id: uuid.UUID | None
    name: str
    role: Role
    department_code: str | None = None
    member_id: str | None = None
    skills: tuple[str, ...] = ()  # a member's skills: which posted orders it sees
    # A grid leader's grids, those it leads and every one below them.
    grid_codes: frozenset[str] = frozenset()

    @property
    def label(self) -> str:
        return "system" if self.id is None else str(self.id)

    def is_(self, *roles: Role) -> bool:
        return self.role in roles


SYSTEM = Actor(id=None, name="system", role=Role.admin)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def actor_of(
    principal: Principal, skills: tuple[str, ...] = (), grid_codes: frozenset[str] = frozenset()
) -> Actor:
    return Actor(
        id=principal.id,
        name=principal.name,
        role=Role(principal.role),
        department_code=principal.department_code,
        member_id=principal.member_id,
        skills=skills,
        grid_codes=grid_codes,
    )


async def authenticate(session: AsyncSession, token: str, now: datetime) -> Actor:
    actor, _ = await authenticate_until(session, token, now)
    return actor


async def authenticate_until(
    session: AsyncSession, token: str, now: datetime
) -> tuple[Actor, datetime | None]:
    """The actor holding ``token`` and when the token expires (None: never)."""
    """The actor holding ``token``; 401 when it is unknown, revoked or expired.

    The token is compared through its SHA-256 in an indexed equality lookup, so
    the comparison does not leak the token's characters through timing.
    """
    found = (
        await session.execute(
            sa.select(Principal, Token.expires_at)
            .join(Token, Token.principal_id == Principal.id)
            .where(
                Token.token_hash == hash_token(token),
                Token.revoked_at.is_(None),
                sa.or_(Token.expires_at.is_(None), Token.expires_at > now),
                Principal.deleted_at.is_(None),
            )
        )
    ).one_or_none()
    if found is None:
        raise errors.Unauthorized("The token is unknown, revoked or expired.")
    row, expires_at = found
    skills: tuple[str, ...] = ()
    grid_codes: frozenset[str] = frozenset()
    if row.role == Role.member and row.member_id is not None:
        found = await session.scalar(sa.select(Member.skills).where(Member.id == row.member_id))
        skills = tuple(found or ())
        led = (
            await session.scalars(
                sa.select(Grid.path).where(Grid.leader_member_id == row.member_id)
            )
        ).all()
        if led:
            below = sa.or_(*(Grid.path.startswith(p) for p in led))
            grid_codes = frozenset((await session.scalars(sa.select(Grid.code).where(below))).all())
    return actor_of(row, skills, grid_codes), expires_at


async def create_principal(
    session: AsyncSession,
    *,
    name: str,
    role: Role,
    now: datetime,
    department_code: str | None = None,
    member_id: str | None = None,
) -> Principal:
    """A principal; the department or member it is scoped to must exist (422 on the body's
    field, which the CLI reports as a usage error)."""
    if department_code is not None:
        await require_department(session, department_code, ["body", "department_code"])
    if member_id is not None and await session.get(Member, member_id) is None:
        raise errors.ValidationFailed.field(["body", "member_id"], f"unknown member {member_id!r}")
    principal = Principal(
        name=name,
        role=role.value,
        department_code=department_code,
        member_id=member_id,
        created_at=now,
    )
    session.add(principal)
    await session.flush()
    return principal


async def issue_token(
    session: AsyncSession,
    principal_id: uuid.UUID,
    *,
    now: datetime,
    token: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[Token, str]:
    """A new token for the principal; the clear token is returned once, only its hash is kept."""
    clear = token or new_token()
    row = Token(
        principal_id=principal_id,
        token_hash=hash_token(clear),
        created_at=now,
        expires_at=expires_at,
    )
    session.add(row)
    await session.flush()
    return row, clear


async def ensure_bootstrap_admin(session: AsyncSession, token: str, now: datetime) -> bool:
    """Make sure an admin holds ``token`` (API.md: it exists after start-up, created if
    missing); returns True when one was created. A bootstrap admin deleted, or its token
    revoked or expired, is missing: while the variable names the token, a start gives it
    back (unset the variable to retire it)."""
    found = (
        await session.execute(
            sa.select(Token, Principal)
            .join(Principal, Principal.id == Token.principal_id)
            .where(Token.token_hash == hash_token(token))
        )
    ).first()
    if found is not None:
        held, holder = found
        usable = held.revoked_at is None and (held.expires_at is None or held.expires_at > now)
        if usable and holder.deleted_at is None and holder.role == Role.admin:
            return False
        await session.delete(held)  # the hash is unique: the new admin's token takes it
        await session.flush()
    principal = await create_principal(session, name="bootstrap admin", role=Role.admin, now=now)
    await issue_token(session, principal.id, now=now, token=token)
    return True


async def revoke_principal(session: AsyncSession, principal_id: uuid.UUID, now: datetime) -> None:
    principal = await session.get(Principal, principal_id)
    if principal is None or principal.deleted_at is not None:
        raise errors.NotFound("No such principal.")
    principal.deleted_at = now
    await session.execute(
        sa.update(Token)
        .where(Token.principal_id == principal_id, Token.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def revoke_token(
    session: AsyncSession, principal_id: uuid.UUID, token_id: uuid.UUID, now: datetime
) -> None:
    token = await session.get(Token, token_id)
    if token is None or token.principal_id != principal_id or token.revoked_at is not None:
        raise errors.NotFound("No such token.")
    token.revoked_at = now
