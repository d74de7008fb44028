"""department list index

A department's page of tickets, newest first (``GET /v1/tickets?department_code=...``),
read straight from one index range whatever the department's share of recent tickets.
On PostgreSQL the index is built CONCURRENTLY: a large tickets table stays writable
while it builds.

Revision ID: 0002_department_list
Revises: 0001_initial
Created: 2026-11-25 13:30:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002_department_list"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_tickets_department_created"
COLUMNS = ["department_code", "created_at", "id"]


def upgrade() -> None:
    context = op.get_context()
    if context.dialect.name != "postgresql":
        op.create_index(NAME, "tickets", COLUMNS)
        return
    with context.autocommit_block():
        # A build cut short leaves an invalid index behind: start again from nothing.
        op.drop_index(NAME, table_name="tickets", postgresql_concurrently=True, if_exists=True)
        op.create_index(NAME, "tickets", COLUMNS, postgresql_concurrently=True)


def downgrade() -> None:
    context = op.get_context()
    if context.dialect.name != "postgresql":
        op.drop_index(NAME, table_name="tickets")
        return
    with context.autocommit_block():
        op.drop_index(NAME, table_name="tickets", postgresql_concurrently=True, if_exists=True)
