"""Every table, imported in one place so that Alembic and tests see the whole schema."""

from hotline.auth.models import Principal, Token
from hotline.db import Base
from hotline.disputes.models import Dispute, DisputeEntry, DisputeKind
from hotline.grids.models import Grid
from hotline.idempotency import IdempotencyKey
from hotline.members.models import Member, PointsEntry, TicketHolder
from hotline.privacy.audit import AuditEntry
from hotline.routing.models import Department, RoutingRule
from hotline.sla.models import CalendarYear, Timer
from hotline.supervision.models import Supervision, SupervisionEntry
from hotline.tickets.models import Ticket, TicketCounter, TicketEvent
from hotline.webhooks.models import WebhookDelivery, WebhookSubscription

metadata = Base.metadata

__all__ = [
    "AuditEntry",
    "CalendarYear",
    "Department",
    "Dispute",
    "DisputeEntry",
    "DisputeKind",
    "Grid",
    "IdempotencyKey",
    "Member",
    "PointsEntry",
    "Principal",
    "RoutingRule",
    "Supervision",
    "SupervisionEntry",
    "Ticket",
    "TicketCounter",
    "TicketEvent",
    "TicketHolder",
    "Timer",
    "Token",
    "WebhookDelivery",
    "WebhookSubscription",
    "metadata",
]
