"""NCRONTAB schedules: six fields with seconds first, %SETTING% references, TimeSpans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from croniter import croniter

from devhost.timers import ScheduleError, parse_schedule

T0 = datetime(2026, 3, 2, 10, 0, 7, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("*/15 * * * * *", datetime(2026, 3, 2, 10, 0, 15, tzinfo=UTC)),
        ("0 */5 * * * *", datetime(2026, 3, 2, 10, 5, 0, tzinfo=UTC)),
        ("30 */5 * * * *", datetime(2026, 3, 2, 10, 0, 30, tzinfo=UTC)),
        ("0 7 * * * *", datetime(2026, 3, 2, 10, 7, 0, tzinfo=UTC)),
        ("0 0 */6 * * *", datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)),
        ("0 30 9 * * 1-5", datetime(2026, 3, 3, 9, 30, 0, tzinfo=UTC)),
        ("0 0 0 1 1 *", datetime(2027, 1, 1, 0, 0, 0, tzinfo=UTC)),
        ("5 0 10 * * Mon", datetime(2026, 3, 9, 10, 0, 5, tzinfo=UTC)),
    ],
)
def test_seconds_come_first(expression: str, expected: datetime) -> None:
    assert parse_schedule(expression).next_after(T0) == expected


def test_seconds_last_reading_would_differ() -> None:
    """croniter's own six-field order puts seconds last; reading NCRONTAB that way is wrong."""
    wrong = croniter("0 7 * * * *", T0, ret_type=datetime).get_next()
    right = parse_schedule("0 7 * * * *").next_after(T0)
    assert wrong != right
    assert (right.minute, right.second) == (7, 0)


def test_every_second() -> None:
    schedule = parse_schedule("* * * * * *")
    first = schedule.next_after(T0)
    assert first - T0 == timedelta(seconds=1)
    assert schedule.next_after(first) - first == timedelta(seconds=1)


def test_previous_before_includes_the_moment() -> None:
    schedule = parse_schedule("0 */5 * * * *")
    assert schedule.previous_before(datetime(2026, 3, 2, 10, 5, tzinfo=UTC)) == datetime(
        2026, 3, 2, 10, 5, tzinfo=UTC
    )


def test_setting_reference_is_resolved() -> None:
    schedule = parse_schedule("%SCHEDULE_YAHOO%", {"SCHEDULE_YAHOO": "0 7 * * * *"})
    assert schedule.expression == "0 7 * * * *"


def test_setting_lookup_ignores_case() -> None:
    assert parse_schedule("%Sched%", {"SCHED": "* * * * * *"}).expression == "* * * * * *"


def test_missing_setting_names_it() -> None:
    with pytest.raises(ScheduleError, match="SCHEDULE_NOPE"):
        parse_schedule("%SCHEDULE_NOPE%", {})


@pytest.mark.parametrize("expression", ["* * * * *", "61 * * * * *", "0 0 25 * * *", "nonsense"])
def test_invalid_schedules(expression: str) -> None:
    with pytest.raises(ScheduleError):
        parse_schedule(expression)


def test_timespan_schedule() -> None:
    schedule = parse_schedule("00:05:00")
    assert schedule.interval == timedelta(minutes=5)
    assert schedule.next_after(T0) == T0 + timedelta(minutes=5)
    assert parse_schedule("1.02:00:00").interval == timedelta(days=1, hours=2)
