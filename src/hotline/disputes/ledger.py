"""The ledger as townships keep it: filtered listings exported as CSV or XLSX with
Chinese column headers, and the ledger's statistics."""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.disputes.models import Dispute, DisputeKind
from hotline.grids.models import Grid

Q = TypeVar("Q")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

STATUS_NAMES = {
    "investigated": "排查",
    "analysed": "研判",
    "mediating": "调解",
    "visited": "回访",
    "closed_off": "已销号",
    "escalated": "已上报乡镇",
    "referred": "已移交",
}
LEVEL_NAMES = {"village": "村级", "township": "乡镇级"}
COLUMNS = (
    ("编号", "id"),
    ("纠纷类型", "kind_name"),
    ("状态", "status_name"),
    ("层级", "level_name"),
    ("网格", "grid"),
    ("简要情况", "summary"),
    ("当事人", "parties"),
    ("登记时间", "opened_at"),
    ("下次回访", "review_due_at"),
    ("销号时间", "closed_at"),
    ("来源工单", "source_ticket_id"),
)


@dataclass(frozen=True)
class LedgerFilters:
    kind: str | None = None
    status: str | None = None
    grid: str | None = None  # in or below
    level: str | None = None
    opened_from: datetime | None = None
    opened_to: datetime | None = None
    closed_from: datetime | None = None
    closed_to: datetime | None = None

    def apply(self, query: Q) -> Q:
        stmt: Any = query
        if self.kind is not None:
            stmt = stmt.where(Dispute.kind == self.kind)
        if self.status is not None:
            stmt = stmt.where(Dispute.status == self.status)
        if self.level is not None:
            stmt = stmt.where(Dispute.level == self.level)
        if self.grid is not None:
            below = sa.select(Grid.path).where(Grid.code == self.grid).scalar_subquery()
            in_tree = sa.select(Grid.code).where(Grid.path.startswith(below))
            stmt = stmt.where(sa.or_(Dispute.grid == self.grid, Dispute.grid.in_(in_tree)))
        for column, low, high in (
            (Dispute.opened_at, self.opened_from, self.opened_to),
            (Dispute.closed_at, self.closed_from, self.closed_to),
        ):
            if low is not None:
                stmt = stmt.where(column >= low)
            if high is not None:
                stmt = stmt.where(column < high)
        return cast(Q, stmt)


def _rows(disputes: Sequence[dict[str, Any]], kinds: dict[str, str]) -> list[list[Any]]:
    rows = []
    for d in disputes:
        flat = {
            **d,
            "kind_name": kinds.get(d["kind"], d["kind"]),
            "status_name": STATUS_NAMES.get(d["status"], d["status"]),
            "level_name": LEVEL_NAMES.get(d["level"], d["level"]),
            "parties": "、".join(f"{p['name']}({p['role']})" for p in d["parties"]),
        }
        rows.append([_cell(flat.get(key)) for _, key in COLUMNS])
    return rows


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return "" if value is None else value


async def kind_names(session: AsyncSession) -> dict[str, str]:
    return {k.code: k.name for k in (await session.scalars(sa.select(DisputeKind))).all()}


def to_csv(disputes: Sequence[dict[str, Any]], kinds: dict[str, str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([title for title, _ in COLUMNS])
    writer.writerows(_rows(disputes, kinds))
    # A BOM so that spreadsheet programs read the Chinese headers as UTF-8.
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(disputes: Sequence[dict[str, Any]], kinds: dict[str, str]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "矛盾隐患台账"
    sheet.append([title for title, _ in COLUMNS])
    for row in _rows(disputes, kinds):
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def stats(session: AsyncSession, f: LedgerFilters) -> dict[str, Any]:
    """Counts by kind and status, the share closed off (销号), the share settled at village
    level (小事不出村), and the median days from opening to 销号."""
    base = f.apply(sa.select(Dispute.kind, Dispute.status, Dispute.level)).subquery()
    grouped = (
        await session.execute(
            sa.select(base.c.kind, base.c.status, base.c.level, sa.func.count()).group_by(
                base.c.kind, base.c.status, base.c.level
            )
        )
    ).all()
    by_kind: dict[str, int] = {}
    by_status: dict[str, int] = {}
    total = closed = village_closed = 0
    for kind, status, level, n in grouped:
        by_kind[kind] = by_kind.get(kind, 0) + n
        by_status[status] = by_status.get(status, 0) + n
        total += n
        if status == "closed_off":
            closed += n
            if level == "village":
                village_closed += n
    spans = (
        await session.execute(
            f.apply(sa.select(Dispute.opened_at, Dispute.closed_at)).where(
                Dispute.status == "closed_off"
            )
        )
    ).all()
    days = [(c - o).total_seconds() / 86400 for o, c in spans if c is not None]
    return {
        "total": total,
        "by_kind": by_kind,
        "by_status": by_status,
        "closed_off": closed,
        "closed_off_rate": closed / total if total else None,
        "village_settled_rate": village_closed / closed if closed else None,
        "median_days_to_close_off": statistics.median(days) if days else None,
    }
