"""Durations, the working-day calendar and warning leads, checked against hand-computed instants."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from hotline.sla.calendar import (
    DurationError,
    SlaDuration,
    WorkingCalendar,
    YearDays,
    warning_lead,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
CST = timezone(timedelta(hours=8))


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def d(text: str) -> SlaDuration:
    return SlaDuration.parse(text)


@pytest.fixture
def cal() -> WorkingCalendar:
    return WorkingCalendar()


# --- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "days", "seconds"),
    [
        ("PT24H", 0, 86_400),
        ("PT30M", 0, 1_800),
        ("P5D", 5, 0),
        ("P1DT4H", 1, 14_400),
        ("PT36H", 0, 129_600),
        ("P1W", 7, 0),
        (" p2d ", 2, 0),
    ],
)
def test_parse_accepts(text: str, days: int, seconds: int) -> None:
    parsed = SlaDuration.parse(text)
    assert (parsed.days, parsed.seconds) == (days, seconds)
    assert parsed.text == text.strip().upper()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("P1M", "months and years are not allowed"),
        ("P1Y", "months and years are not allowed"),
        ("PT0S", "must be positive"),
        ("-P1D", "must be positive"),
        ("abc", "must be an ISO 8601 duration such as PT24H or P5D"),
        ("", "must be an ISO 8601 duration such as PT24H or P5D"),
        ("P1.5D", "days must be whole numbers"),
        ("PT0.5S", "must be a whole number of seconds"),
    ],
)
def test_parse_rejects(text: str, message: str) -> None:
    with pytest.raises(DurationError, match=message):
        SlaDuration.parse(text)


def test_duration_error_is_a_value_error() -> None:
    assert issubclass(DurationError, ValueError)


def test_pt24h_and_p1d_differ_but_have_the_same_natural_length() -> None:
    assert d("PT24H") != d("P1D")
    assert d("PT24H").as_timedelta() == d("P1D").as_timedelta() == timedelta(hours=24)


# --- natural ---------------------------------------------------------------------------------


def test_natural_pt24h_is_exactly_24_hours(cal: WorkingCalendar) -> None:
    start = local(2025, 9, 30, 10, 0)
    assert cal.add(start, d("PT24H"), "natural") == start + timedelta(hours=24)


def test_natural_p3d_is_72_hours_even_across_a_holiday(cal: WorkingCalendar) -> None:
    start = local(2025, 9, 30, 10, 0)
    due = cal.add(start, d("P3D"), "natural")
    assert due - start == timedelta(hours=72)
    assert due == datetime(2025, 10, 3, 2, 0, tzinfo=UTC)
    assert due.tzinfo is UTC


def test_natural_is_elapsed_time_across_a_dst_change(cal: WorkingCalendar) -> None:
    # 2025-03-09 is the US spring-forward day: 24 elapsed hours land at 11:00 local, not 10:00.
    start = datetime(2025, 3, 8, 10, 0, tzinfo=ZoneInfo("America/New_York"))
    due = cal.add(start, d("PT24H"), "natural")
    assert due - start == timedelta(hours=24)
    assert due.astimezone(ZoneInfo("America/New_York")).hour == 11


# --- working: days ---------------------------------------------------------------------------


def test_working_p3d_across_national_day_2025(cal: WorkingCalendar) -> None:
    # Oct 1-8 are off; Sat Oct 11 is a make-up working day: working days are Oct 9, 10, 11.
    due = cal.add(datetime(2025, 9, 30, 10, 0, tzinfo=CST), d("P3D"), "working")
    assert due == datetime(2025, 10, 11, 16, 0, tzinfo=UTC)
    assert due == local(2025, 10, 12, 0, 0)
    assert due.tzinfo is UTC


def test_working_p5d_from_friday_afternoon_in_an_ordinary_week(cal: WorkingCalendar) -> None:
    # Fri 2025-03-14 15:30; Mon 17 .. Fri 21 are five ordinary working days; 24:00 Fri 21.
    due = cal.add(local(2025, 3, 14, 15, 30), d("P5D"), "working")
    assert due == local(2025, 3, 22, 0, 0)
    assert due == datetime(2025, 3, 21, 16, 0, tzinfo=UTC)


def test_working_days_are_counted_in_the_calendar_timezone(cal: WorkingCalendar) -> None:
    # 2025-03-07T20:00Z is already Saturday 04:00 in Shanghai, so counting starts on Saturday.
    due = cal.add(datetime(2025, 3, 7, 20, 0, tzinfo=UTC), d("P1D"), "working")
    assert due == local(2025, 3, 11, 0, 0)


def test_working_days_then_hours(cal: WorkingCalendar) -> None:
    # Thu 2025-03-13 → 24:00 Fri 14, then 4 working hours skip the weekend: Mon 17 04:00.
    due = cal.add(local(2025, 3, 13, 9, 0), d("P1DT4H"), "working")
    assert due == local(2025, 3, 17, 4, 0)


# --- working: hours --------------------------------------------------------------------------


def test_working_pt8h_from_saturday_starts_on_monday(cal: WorkingCalendar) -> None:
    due = cal.add(local(2025, 3, 8, 10, 0), d("PT8H"), "working")
    assert due == local(2025, 3, 10, 8, 0)


def test_working_pt8h_from_friday_evening_spills_into_monday(cal: WorkingCalendar) -> None:
    due = cal.add(local(2025, 3, 7, 20, 0), d("PT8H"), "working")
    assert due == local(2025, 3, 10, 4, 0)


def test_working_hours_on_an_ordinary_weekday(cal: WorkingCalendar) -> None:
    due = cal.add(local(2025, 3, 11, 9, 15), d("PT2H30M"), "working")
    assert due == local(2025, 3, 11, 11, 45)


def test_working_pt24h_from_friday_midnight_ends_at_friday_2400(cal: WorkingCalendar) -> None:
    due = cal.add(local(2025, 3, 7, 0, 0), d("PT24H"), "working")
    assert due == local(2025, 3, 8, 0, 0)


def test_working_hours_count_on_a_make_up_saturday(cal: WorkingCalendar) -> None:
    # Sat 2025-10-11 is a working day, so hours started on it count straight away.
    due = cal.add(local(2025, 10, 11, 9, 0), d("PT10H"), "working")
    assert due == local(2025, 10, 11, 19, 0)


def test_working_too_long_raises(cal: WorkingCalendar) -> None:
    with pytest.raises(DurationError):
        cal.add(local(2025, 3, 7, 0, 0), d("P99999D"), "working")


def test_naive_start_raises(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.add(datetime(2025, 3, 7, 10, 0), d("PT8H"), "working")
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.add(datetime(2025, 3, 7, 10, 0), d("PT8H"), "natural")


# --- year data -------------------------------------------------------------------------------


def test_package_year_data(cal: WorkingCalendar) -> None:
    source, days = cal.year(2025)
    assert source == "package"
    assert date(2025, 10, 1) in days.holidays
    # Oct 4-5 2025 were holidays on a weekend: off anyway, so not listed.
    assert date(2025, 10, 4) not in days.holidays
    assert date(2025, 10, 11) in days.workdays
    assert all(day.year == 2025 for day in days.holidays | days.workdays)
    assert all(day.weekday() < 5 for day in days.holidays)
    assert all(day.weekday() >= 5 for day in days.workdays)
    assert not cal.is_working_day(date(2025, 10, 1))
    assert cal.is_working_day(date(2025, 10, 11))
    assert cal.is_working_day(date(2025, 10, 9))


def test_configured_year_overrides_package() -> None:
    cal = WorkingCalendar()
    cal.set_year(2026, YearDays(holidays=frozenset({date(2026, 1, 5)}), workdays=frozenset()))
    assert cal.year(2026)[0] == "configured"
    assert not cal.is_working_day(date(2026, 1, 5))
    # The package's 2026 data no longer applies: New Year's Day is an ordinary Thursday.
    assert cal.is_working_day(date(2026, 1, 1))


def test_configured_year_via_constructor() -> None:
    days = YearDays(holidays=frozenset(), workdays=frozenset({date(2031, 1, 4)}))
    cal = WorkingCalendar(configured={2031: days})
    assert cal.year(2031) == ("configured", days)
    assert cal.is_working_day(date(2031, 1, 4))


def test_configured_year_rejects_dates_of_another_year(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="2027-01-01"):
        cal.set_year(2026, YearDays(holidays=frozenset({date(2027, 1, 1)}), workdays=frozenset()))


def test_year_beyond_package_is_weekends_only(cal: WorkingCalendar) -> None:
    source, days = cal.year(2031)
    assert source == "weekends_only"
    assert days == YearDays(holidays=frozenset(), workdays=frozenset())
    assert not cal.is_working_day(date(2031, 1, 4))  # Saturday
    assert not cal.is_working_day(date(2031, 1, 5))  # Sunday
    assert cal.is_working_day(date(2031, 1, 1))  # Wednesday, no holiday data


def test_years_without_data(cal: WorkingCalendar) -> None:
    assert cal.years_without_data(date(2030, 12, 1)) == [2030, 2031]
    assert cal.years_without_data(date(2025, 3, 1)) == []
    assert cal.years_without_data(date(2026, 12, 1), days=10) == []
    cal.set_year(2031, YearDays(holidays=frozenset(), workdays=frozenset()))
    assert 2031 not in cal.years_without_data(date(2030, 12, 1))


# --- warning lead ----------------------------------------------------------------------------


def test_warning_lead_is_a_fifth_of_the_window() -> None:
    start = local(2025, 3, 10, 9, 0)
    assert warning_lead(start, start + timedelta(hours=5), None) == timedelta(hours=1)


def test_warning_lead_is_capped_at_four_hours() -> None:
    start = local(2025, 3, 10, 9, 0)
    assert warning_lead(start, start + timedelta(days=5), None) == timedelta(hours=4)


def test_warning_lead_configured_is_returned_as_is() -> None:
    start = local(2025, 3, 10, 9, 0)
    lead = warning_lead(start, start + timedelta(hours=5), d("PT30M"))
    assert lead == timedelta(minutes=30)
    assert warning_lead(start, start + timedelta(hours=1), d("P1D")) == timedelta(days=1)


def test_warning_lead_never_negative() -> None:
    start = local(2025, 3, 10, 9, 0)
    assert warning_lead(start, start - timedelta(hours=1), None) == timedelta(0)
