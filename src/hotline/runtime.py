"""The shared resources of one running service, built in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field

from hotline.clock import Clock
from hotline.config import Settings
from hotline.db import Database
from hotline.sla.calendar import WorkingCalendar


@dataclass
class Runtime:
    settings: Settings
    db: Database
    clock: Clock
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)
