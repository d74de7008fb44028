"""Grid rows; ``path`` holds the codes from the county down, for in-or-below queries."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base


class Level(StrEnum):
    county = "county"
    township = "township"
    village = "village"
    grid = "grid"


ORDER = (Level.county, Level.township, Level.village, Level.grid)


class Grid(Base):
    __tablename__ = "grids"

    code: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    level: Mapped[str] = mapped_column(sa.String(20))
    parent_code: Mapped[str | None] = mapped_column(sa.ForeignKey("grids.code"), index=True)
    leader_member_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    # "/county/township/village/grid/": a grid and everything below it share its prefix.
    path: Mapped[str] = mapped_column(sa.String(1000), index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
