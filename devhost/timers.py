"""Timer schedules as Azure Functions reads them: six-field NCRONTAB or a TimeSpan, %SETTING%."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from croniter import croniter

_SETTING = re.compile(r"%([^%]+)%")
_TIMESPAN = re.compile(r"(?:(\d+)\.)?(\d{1,2}):(\d{2})(?::(\d{2}))?")


class ScheduleError(ValueError):
    """A schedule that does not resolve or parse; the message says which and why."""


def resolve_settings(text: str, values: Mapping[str, str] | None = None) -> str:
    """Replace each `%NAME%` with the setting NAME (environment by default)."""
    source = os.environ if values is None else values

    def lookup(found: re.Match[str]) -> str:
        name = found.group(1)
        value = source.get(name)
        if value is None:
            value = next((v for k, v in source.items() if k.upper() == name.upper()), None)
        if value is None:
            raise ScheduleError(f"schedule {text!r}: setting {name} is not set")
        return value

    return _SETTING.sub(lookup, text)


@dataclass(frozen=True)
class Schedule:
    """A parsed timer schedule: `expression` is the resolved text."""

    expression: str
    interval: timedelta | None = None

    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after `moment` (aware, UTC)."""
        moment = moment.astimezone(UTC)
        if self.interval is not None:
            return moment + self.interval
        result: datetime = croniter(
            self.expression, moment, ret_type=datetime, second_at_beginning=True
        ).get_next()
        return result.astimezone(UTC)

    def previous_before(self, moment: datetime) -> datetime:
        """The last occurrence at or before `moment`."""
        moment = moment.astimezone(UTC)
        if self.interval is not None:
            return moment - self.interval
        result: datetime = croniter(
            self.expression,
            moment + timedelta(microseconds=1),
            ret_type=datetime,
            second_at_beginning=True,
        ).get_prev()
        return result.astimezone(UTC)


def parse_schedule(text: str, values: Mapping[str, str] | None = None) -> Schedule:
    """Parse a timerTrigger schedule: six NCRONTAB fields (seconds first) or `hh:mm:ss`."""
    resolved = resolve_settings(text, values).strip()
    span = _TIMESPAN.fullmatch(resolved)
    if span:
        days, hours, minutes, seconds = (int(g or 0) for g in span.groups())
        interval = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        if interval <= timedelta(0):
            raise ScheduleError(f"schedule {text!r}: a TimeSpan must be positive")
        return Schedule(resolved, interval)
    fields = resolved.split()
    if len(fields) != 6:
        raise ScheduleError(
            f"schedule {text!r} resolves to {resolved!r}: NCRONTAB needs six fields "
            "'{second} {minute} {hour} {day} {month} {day-of-week}'"
        )
    if not croniter.is_valid(resolved, second_at_beginning=True):
        raise ScheduleError(f"schedule {text!r} resolves to {resolved!r}: not a valid NCRONTAB")
    return Schedule(resolved)


MONITOR_MIN_INTERVAL = timedelta(minutes=1)


def monitored(schedule: Schedule, moment: datetime) -> bool:
    """Azure's default `UseMonitor`: on for schedules that recur a minute or more apart."""
    first = schedule.next_after(moment)
    return schedule.next_after(first) - first >= MONITOR_MIN_INTERVAL


@dataclass(frozen=True)
class ScheduleStatus:
    """What Azure keeps per monitored timer (in storage; here in a JSON file)."""

    last: datetime
    next: datetime
    last_updated: datetime

    def as_binding(self) -> dict[str, str]:
        return {
            "Last": self.last.isoformat(),
            "Next": self.next.isoformat(),
            "LastUpdated": self.last_updated.isoformat(),
        }


class ScheduleMonitor:
    """Schedule status per timer function, kept across restarts under `directory`."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    def _path(self, function: str) -> Path | None:
        return None if self.directory is None else self.directory / f"{function}.json"

    def load(self, function: str) -> ScheduleStatus | None:
        path = self._path(function)
        if path is None or not path.is_file():
            return None
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return ScheduleStatus(
                datetime.fromisoformat(raw["Last"]),
                datetime.fromisoformat(raw["Next"]),
                datetime.fromisoformat(raw["LastUpdated"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, function: str, status: ScheduleStatus) -> None:
        path = self._path(function)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(status.as_binding()), encoding="utf-8")
        temporary.replace(path)
