"""Turn an ISO 8601 SLA duration and a start instant into a due instant, natural or working-day."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import isodate  # type: ignore[import-untyped, unused-ignore]

Calendar = Literal["natural", "working"]
YearSource = Literal["configured", "package", "weekends_only"]

_FORMAT_MESSAGE = "must be an ISO 8601 duration such as PT24H or P5D"

# Twenty years of days: far beyond any real SLA, but small enough that a typo like P99999D
# fails fast instead of pinning a worker.
_MAX_SCAN_DAYS = 20 * 366

_ONE_DAY = timedelta(days=1)
_LEAD_SHARE = 5  # the default warning lead is 1/5 (20%) of the window
_LEAD_CAP = timedelta(hours=4)


class DurationError(ValueError):
    """A duration the SLA rules cannot use; the message is safe to show an API client."""


def _parse_part(text: str) -> timedelta:
    try:
        value = isodate.parse_duration(text)
    except (isodate.ISO8601Error, ValueError, OverflowError) as exc:
        raise DurationError(_FORMAT_MESSAGE) from exc
    if isinstance(value, isodate.Duration):
        if value.years or value.months:
            # A month or a year has no fixed length, so a deadline built on one is ambiguous.
            raise DurationError("months and years are not allowed")
        value = value.tdelta
    if not isinstance(value, timedelta):
        raise DurationError(_FORMAT_MESSAGE)
    return value


@dataclass(frozen=True)
class SlaDuration:
    """An SLA length, split so that working-day rules can treat days and hours differently."""

    days: int
    seconds: int
    text: str

    @classmethod
    # A handful of distinct lengths, parsed for every timer a sweep or create touches.
    @functools.lru_cache(maxsize=1024)
    def parse(cls, text: str) -> SlaDuration:
        normalised = text.strip().upper()
        if not normalised:
            raise DurationError(_FORMAT_MESSAGE)
        # Validate the whole string first so every malformed input gets the same message.
        total = _parse_part(normalised)
        if total <= timedelta(0):
            raise DurationError("must be positive")

        # Days and hours must be kept apart: in the working calendar P1D means "end of the next
        # working day" while PT24H means "24 working hours", although both are one day long.
        body = normalised.removeprefix("+")
        date_text, _, time_text = body.partition("T")
        day_part = _parse_part(date_text) if date_text != "P" else timedelta(0)
        time_part = _parse_part("PT" + time_text) if time_text else timedelta(0)
        if day_part.seconds or day_part.microseconds:
            raise DurationError("days must be whole numbers")
        if time_part.microseconds:
            raise DurationError("must be a whole number of seconds")
        if day_part < timedelta(0) or time_part < timedelta(0):
            raise DurationError("must be positive")
        return cls(
            days=day_part.days,
            seconds=time_part.days * 86_400 + time_part.seconds,
            text=normalised,
        )

    def as_timedelta(self) -> timedelta:
        return timedelta(days=self.days, seconds=self.seconds)


@dataclass(frozen=True)
class YearDays:
    """The exceptions to the Mon-Fri week for one year."""

    holidays: frozenset[date]
    workdays: frozenset[date]


_EMPTY_YEAR = YearDays(holidays=frozenset(), workdays=frozenset())


@functools.cache
def _package_years() -> dict[int, YearDays]:
    # Read the raw tables rather than chinese_calendar.is_workday(), which raises outside the
    # years the package knows; imported lazily so importing this module stays cheap.
    from chinese_calendar import constants  # type: ignore[import-untyped, unused-ignore]

    holidays: dict[int, set[date]] = {}
    workdays: dict[int, set[date]] = {}
    for day in constants.holidays:
        # Holidays landing on a weekend change nothing: the day was off anyway.
        if day.weekday() < 5:
            holidays.setdefault(day.year, set()).add(day)
    for day in constants.workdays:
        if day.weekday() >= 5:
            workdays.setdefault(day.year, set()).add(day)
    years = {day.year for day in constants.holidays} | {day.year for day in constants.workdays}
    return {
        year: YearDays(
            holidays=frozenset(holidays.get(year, ())),
            workdays=frozenset(workdays.get(year, ())),
        )
        for year in years
    }


class WorkingCalendar:
    """China's working days (statutory holidays and make-up workdays) in one timezone."""

    def __init__(
        self, tz: str = "Asia/Shanghai", configured: Mapping[int, YearDays] | None = None
    ) -> None:
        self._zone = ZoneInfo(tz)
        self._configured: dict[int, YearDays] = {}
        for year, days in (configured or {}).items():
            self.set_year(year, days)

    def set_year(self, year: int, days: YearDays) -> None:
        # A date filed under the wrong year would never be consulted; fail loudly instead.
        stray = sorted(d for d in days.holidays | days.workdays if d.year != year)
        if stray:
            raise ValueError(f"dates outside {year}: {', '.join(d.isoformat() for d in stray)}")
        self._configured[year] = days

    def year(self, year: int) -> tuple[YearSource, YearDays]:
        if year in self._configured:
            return "configured", self._configured[year]
        package = _package_years().get(year)
        if package is not None:
            return "package", package
        return "weekends_only", _EMPTY_YEAR

    def is_working_day(self, d: date) -> bool:
        _, days = self.year(d.year)
        if d in days.workdays:
            return True
        return d.weekday() < 5 and d not in days.holidays

    def years_without_data(self, start: date, days: int = 60) -> list[int]:
        end = start + timedelta(days=days)
        return [
            year
            for year in range(start.year, end.year + 1)
            if self.year(year)[0] == "weekends_only"
        ]

    def add(self, start: datetime, duration: SlaDuration, calendar: Calendar) -> datetime:
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError("start must be timezone-aware")
        if calendar == "natural":
            # Add in UTC: aware arithmetic in a local zone is wall-clock, not elapsed, time.
            return start.astimezone(UTC) + duration.as_timedelta()
        if calendar != "working":
            raise ValueError(f"unknown calendar {calendar!r}")
        return self._add_working(start, duration)

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(), tzinfo=self._zone).astimezone(UTC)

    def _add_working(self, start: datetime, duration: SlaDuration) -> datetime:
        local = start.astimezone(self._zone)
        scanned = 0

        def step() -> None:
            nonlocal scanned
            scanned += 1
            if scanned > _MAX_SCAN_DAYS:
                raise DurationError("is too long for the working-day calendar")

        cursor = start.astimezone(UTC)
        if duration.days > 0:
            day = local.date()
            found = 0
            while found < duration.days:
                step()
                day += _ONE_DAY
                if self.is_working_day(day):
                    found += 1
            cursor = self._midnight(day + _ONE_DAY)

        remaining = timedelta(seconds=duration.seconds)
        while remaining > timedelta(0):
            step()
            day = cursor.astimezone(self._zone).date()
            day_end = self._midnight(day + _ONE_DAY)
            if self.is_working_day(day):
                # Elapsed time to local midnight, so a DST day would count its real length.
                available = day_end - cursor
                if remaining <= available:
                    return cursor + remaining
                remaining -= available
            cursor = day_end
        return cursor


def warning_lead(start: datetime, due: datetime, configured: SlaDuration | None) -> timedelta:
    """How long before `due` a ticket should be flagged as about to breach."""
    if configured is not None:
        return configured.as_timedelta()
    lead = min((due - start) / _LEAD_SHARE, _LEAD_CAP)
    return max(lead, timedelta(0))
