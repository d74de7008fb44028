"""initial schema

Revision ID: 0001_initial
Revises:
Created: 2026-11-25 11:05:09.614885+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("principal_id", sa.Uuid(), nullable=True),
        sa.Column("principal_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject_type", sa.String(length=40), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("request_id", sa.String(length=100), nullable=True),
        sa.Column("details", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_action"), ["action"], unique=False)
        batch_op.create_index("ix_audit_log_at", ["at", "id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_log_principal_id"), ["principal_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_audit_log_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "calendar_years",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("holidays", JSON, nullable=False),
        sa.Column("workdays", JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_calendar_years")),
    )
    op.create_table(
        "departments",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_departments")),
    )
    op.create_table(
        "dispute_kinds",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("review_period", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_dispute_kinds")),
    )
    op.create_table(
        "grids",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("parent_code", sa.String(length=64), nullable=True),
        sa.Column("leader_member_id", sa.String(length=64), nullable=True),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_code"], ["grids.code"], name=op.f("fk_grids_parent_code_grids")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_grids")),
    )
    with op.batch_alter_table("grids", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_grids_leader_member_id"), ["leader_member_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_grids_parent_code"), ["parent_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_grids_path"), ["path"], unique=False)

    op.create_table(
        "idempotency_keys",
        sa.Column("principal_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("headers", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("principal_id", "key", name=op.f("pk_idempotency_keys")),
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotency_keys_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "members",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("phone_enc", sa.String(length=200), nullable=True),
        sa.Column("phone_mask", sa.String(length=32), nullable=True),
        sa.Column("branch", sa.String(length=200), nullable=False),
        sa.Column("skills", JSON, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members")),
    )
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_members_branch"), ["branch"], unique=False)

    op.create_table(
        "principals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("department_code", sa.String(length=64), nullable=True),
        sa.Column("member_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_principals")),
    )
    op.create_table(
        "ticket_counters",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_ticket_counters")),
    )
    op.create_table(
        "tickets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=True),
        sa.Column("urgency", sa.String(length=20), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("caller_name", sa.String(length=200), nullable=True),
        sa.Column("caller_name_enc", sa.String(length=400), nullable=True),
        sa.Column("caller_phone_enc", sa.String(length=200), nullable=True),
        sa.Column("caller_phone_bidx", sa.String(length=64), nullable=True),
        sa.Column("caller_phone_mask", sa.String(length=32), nullable=True),
        sa.Column("caller_purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("caller_special_groups", JSON, nullable=False),
        sa.Column("caller_confidential", sa.Boolean(), nullable=False),
        sa.Column("location", JSON, nullable=True),
        sa.Column("grid_code", sa.String(length=64), nullable=True),
        sa.Column("skills", JSON, nullable=False),
        sa.Column("external_ref", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("department_code", sa.String(length=64), nullable=True),
        sa.Column("member_id", sa.String(length=64), nullable=True),
        sa.Column("return_locked_for", sa.String(length=64), nullable=True),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("merged_into", sa.Uuid(), nullable=True),
        sa.Column("satisfaction", sa.String(length=30), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("pending_extension", JSON, nullable=True),
        sa.Column("on_the_spot", sa.Boolean(), nullable=False),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("supervised", sa.Boolean(), nullable=False),
        sa.Column("sla", JSON, nullable=False),
        sa.Column("rule_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["merged_into"], ["tickets.id"], name=op.f("fk_tickets_merged_into_tickets")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["tickets.id"], name=op.f("fk_tickets_parent_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
        sa.UniqueConstraint("number", name=op.f("uq_tickets_number")),
    )
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tickets_board",
            ["created_at"],
            unique=False,
            postgresql_where=sa.text("status = 'posted'"),
            sqlite_where=sa.text("status = 'posted'"),
        )
        batch_op.create_index(
            batch_op.f("ix_tickets_caller_phone_bidx"), ["caller_phone_bidx"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_tickets_closed_at"), ["closed_at"], unique=False)
        batch_op.create_index("ix_tickets_created", ["created_at", "id"], unique=False)
        batch_op.create_index(
            "ix_tickets_department_queue",
            ["department_code", "status", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_tickets_grid_code"), ["grid_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_tickets_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tickets_merged_into"), ["merged_into"], unique=False)
        batch_op.create_index(batch_op.f("ix_tickets_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tickets_status"), ["status"], unique=False)
        batch_op.create_index("ix_tickets_updated", ["updated_at", "id"], unique=False)

    op.create_table(
        "timers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subject_type", sa.String(length=20), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("warn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("warned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("met_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("breached_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timers")),
    )
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_timers_callback_started",
            ["started_at"],
            unique=False,
            postgresql_where=sa.text("subject_type = 'ticket' AND kind = 'callback'"),
            sqlite_where=sa.text("subject_type = 'ticket' AND kind = 'callback'"),
        )
        batch_op.create_index(
            "ix_timers_due_running",
            ["due_at"],
            unique=False,
            postgresql_where=sa.text("state = 'running'"),
            sqlite_where=sa.text("state = 'running'"),
        )
        batch_op.create_index(
            "ix_timers_subject", ["subject_type", "subject_id", "started_at"], unique=False
        )
        batch_op.create_index(
            "ix_timers_warn_pending",
            ["warn_at"],
            unique=False,
            postgresql_where=sa.text("state = 'running' AND warned_at IS NULL"),
            sqlite_where=sa.text("state = 'running' AND warned_at IS NULL"),
        )

    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("events", JSON, nullable=False),
        sa.Column("department_code", sa.String(length=64), nullable=True),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("previous_secret", sa.String(length=200), nullable=True),
        sa.Column("previous_secret_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscriptions")),
    )
    op.create_table(
        "disputes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("grid", sa.String(length=64), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("parties", JSON, nullable=False),
        sa.Column("source_ticket_id", sa.Uuid(), nullable=True),
        sa.Column("referred_to", sa.String(length=20), nullable=True),
        sa.Column("department_code", sa.String(length=64), nullable=True),
        sa.Column("review_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("last_entry", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["kind"], ["dispute_kinds.code"], name=op.f("fk_disputes_kind_dispute_kinds")
        ),
        sa.ForeignKeyConstraint(
            ["source_ticket_id"], ["tickets.id"], name=op.f("fk_disputes_source_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disputes")),
    )
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_disputes_department_code"), ["department_code"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_disputes_grid"), ["grid"], unique=False)
        batch_op.create_index("ix_disputes_opened", ["opened_at", "id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_disputes_source_ticket_id"), ["source_ticket_id"], unique=False
        )
        batch_op.create_index("ix_disputes_status_kind", ["status", "kind"], unique=False)

    op.create_table(
        "points_ledger",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("points", sa.Double(), nullable=False),
        sa.Column("satisfaction", sa.String(length=30), nullable=True),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_points_ledger_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_points_ledger_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_ledger")),
    )
    with op.batch_alter_table("points_ledger", schema=None) as batch_op:
        batch_op.create_index("ix_points_ledger_member_at", ["member_id", "at"], unique=False)
        batch_op.create_index(batch_op.f("ix_points_ledger_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "routing_rules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=True),
        sa.Column("category", sa.String(length=20), nullable=True),
        sa.Column("topic", sa.String(length=64), nullable=True),
        sa.Column("urgency", sa.String(length=20), nullable=True),
        sa.Column("grid", sa.String(length=64), nullable=True),
        sa.Column("department_code", sa.String(length=64), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("callback_sla", sa.String(length=40), nullable=False),
        sa.Column("response_sla", sa.String(length=40), nullable=True),
        sa.Column("resolution_sla", sa.String(length=40), nullable=False),
        sa.Column("calendar", sa.String(length=10), nullable=False),
        sa.Column("warning_lead", sa.String(length=40), nullable=True),
        sa.Column("escalate_after", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_code"],
            ["departments.code"],
            name=op.f("fk_routing_rules_department_code_departments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_rules")),
    )
    op.create_table(
        "supervisions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subject", sa.String(length=20), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=True),
        sa.Column("dispute_id", sa.Uuid(), nullable=True),
        sa.Column("department_code", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=30), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalate_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_entry", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_supervisions_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervisions")),
    )
    with op.batch_alter_table("supervisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_supervisions_department_code"), ["department_code"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_supervisions_dispute_id"), ["dispute_id"], unique=False
        )
        batch_op.create_index(
            "ix_supervisions_escalate_due",
            ["escalate_at"],
            unique=False,
            postgresql_where=sa.text("status = 'open'"),
            sqlite_where=sa.text("status = 'open'"),
        )
        batch_op.create_index(
            "ix_supervisions_status_opened", ["status", "opened_at", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_supervisions_ticket_id"), ["ticket_id"], unique=False)
        batch_op.create_index(
            "uq_supervisions_open_dispute",
            ["dispute_id"],
            unique=True,
            postgresql_where=sa.text("status = 'open' AND dispute_id IS NOT NULL"),
            sqlite_where=sa.text("status = 'open' AND dispute_id IS NOT NULL"),
        )
        batch_op.create_index(
            "uq_supervisions_open_ticket",
            ["ticket_id"],
            unique=True,
            postgresql_where=sa.text("status = 'open' AND ticket_id IS NOT NULL"),
            sqlite_where=sa.text("status = 'open' AND ticket_id IS NOT NULL"),
        )

    op.create_table(
        "ticket_events",
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("actor_name", sa.String(length=200), nullable=True),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=True),
        sa.Column("data", JSON, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_events_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_id", "seq", name=op.f("pk_ticket_events")),
    )
    op.create_table(
        "ticket_holders",
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_ticket_holders_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("ticket_id", "member_id", name=op.f("pk_ticket_holders")),
    )
    with op.batch_alter_table("ticket_holders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ticket_holders_member_id"), ["member_id"], unique=False
        )

    op.create_table(
        "tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("principal_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name=op.f("fk_tokens_principal_id_principals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_tokens_token_hash")),
    )
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tokens_principal_id"), ["principal_id"], unique=False)

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=True),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhook_subscriptions.id"],
            name=op.f("fk_webhook_deliveries_subscription_id_webhook_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_deliveries_due",
            ["next_attempt_at"],
            unique=False,
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )
        batch_op.create_index(
            "ix_webhook_deliveries_status", ["status", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_webhook_deliveries_subscription_id"), ["subscription_id"], unique=False
        )

    op.create_table(
        "dispute_entries",
        sa.Column("dispute_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=30), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("actor_name", sa.String(length=200), nullable=True),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=True),
        sa.Column("next_review_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("data", JSON, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dispute_id"],
            ["disputes.id"],
            name=op.f("fk_dispute_entries_dispute_id_disputes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dispute_id", "seq", name=op.f("pk_dispute_entries")),
    )
    op.create_table(
        "supervision_entries",
        sa.Column("supervision_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=30), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["supervision_id"],
            ["supervisions.id"],
            name=op.f("fk_supervision_entries_supervision_id_supervisions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("supervision_id", "seq", name=op.f("pk_supervision_entries")),
    )


def downgrade() -> None:
    op.drop_table("supervision_entries")
    op.drop_table("dispute_entries")
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_deliveries_subscription_id"))
        batch_op.drop_index("ix_webhook_deliveries_status")
        batch_op.drop_index(
            "ix_webhook_deliveries_due",
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )

    op.drop_table("webhook_deliveries")
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tokens_principal_id"))

    op.drop_table("tokens")
    with op.batch_alter_table("ticket_holders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_holders_member_id"))

    op.drop_table("ticket_holders")
    op.drop_table("ticket_events")
    with op.batch_alter_table("supervisions", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_supervisions_open_ticket",
            postgresql_where=sa.text("status = 'open' AND ticket_id IS NOT NULL"),
            sqlite_where=sa.text("status = 'open' AND ticket_id IS NOT NULL"),
        )
        batch_op.drop_index(
            "uq_supervisions_open_dispute",
            postgresql_where=sa.text("status = 'open' AND dispute_id IS NOT NULL"),
            sqlite_where=sa.text("status = 'open' AND dispute_id IS NOT NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_supervisions_ticket_id"))
        batch_op.drop_index("ix_supervisions_status_opened")
        batch_op.drop_index(
            "ix_supervisions_escalate_due",
            postgresql_where=sa.text("status = 'open'"),
            sqlite_where=sa.text("status = 'open'"),
        )
        batch_op.drop_index(batch_op.f("ix_supervisions_dispute_id"))
        batch_op.drop_index(batch_op.f("ix_supervisions_department_code"))

    op.drop_table("supervisions")
    op.drop_table("routing_rules")
    with op.batch_alter_table("points_ledger", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_points_ledger_ticket_id"))
        batch_op.drop_index("ix_points_ledger_member_at")

    op.drop_table("points_ledger")
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.drop_index("ix_disputes_status_kind")
        batch_op.drop_index(batch_op.f("ix_disputes_source_ticket_id"))
        batch_op.drop_index("ix_disputes_opened")
        batch_op.drop_index(batch_op.f("ix_disputes_grid"))
        batch_op.drop_index(batch_op.f("ix_disputes_department_code"))

    op.drop_table("disputes")
    op.drop_table("webhook_subscriptions")
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_timers_warn_pending",
            postgresql_where=sa.text("state = 'running' AND warned_at IS NULL"),
            sqlite_where=sa.text("state = 'running' AND warned_at IS NULL"),
        )
        batch_op.drop_index("ix_timers_subject")
        batch_op.drop_index(
            "ix_timers_due_running",
            postgresql_where=sa.text("state = 'running'"),
            sqlite_where=sa.text("state = 'running'"),
        )
        batch_op.drop_index(
            "ix_timers_callback_started",
            postgresql_where=sa.text("subject_type = 'ticket' AND kind = 'callback'"),
            sqlite_where=sa.text("subject_type = 'ticket' AND kind = 'callback'"),
        )

    op.drop_table("timers")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_updated")
        batch_op.drop_index(batch_op.f("ix_tickets_status"))
        batch_op.drop_index(batch_op.f("ix_tickets_parent_id"))
        batch_op.drop_index(batch_op.f("ix_tickets_merged_into"))
        batch_op.drop_index(batch_op.f("ix_tickets_member_id"))
        batch_op.drop_index(batch_op.f("ix_tickets_grid_code"))
        batch_op.drop_index("ix_tickets_department_queue")
        batch_op.drop_index("ix_tickets_created")
        batch_op.drop_index(batch_op.f("ix_tickets_closed_at"))
        batch_op.drop_index(batch_op.f("ix_tickets_caller_phone_bidx"))
        batch_op.drop_index(
            "ix_tickets_board",
            postgresql_where=sa.text("status = 'posted'"),
            sqlite_where=sa.text("status = 'posted'"),
        )

    op.drop_table("tickets")
    op.drop_table("ticket_counters")
    op.drop_table("principals")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_members_branch"))

    op.drop_table("members")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_created_at"))

    op.drop_table("idempotency_keys")
    with op.batch_alter_table("grids", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grids_path"))
        batch_op.drop_index(batch_op.f("ix_grids_parent_code"))
        batch_op.drop_index(batch_op.f("ix_grids_leader_member_id"))

    op.drop_table("grids")
    op.drop_table("dispute_kinds")
    op.drop_table("departments")
    op.drop_table("calendar_years")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_subject_id"))
        batch_op.drop_index(batch_op.f("ix_audit_log_principal_id"))
        batch_op.drop_index("ix_audit_log_at")
        batch_op.drop_index(batch_op.f("ix_audit_log_action"))

    op.drop_table("audit_log")
