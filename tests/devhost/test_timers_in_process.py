"""Timer semantics inside one event loop: run_on_startup, past_due, TimerRequest objects."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import azure.functions as func

from devhost.timers import ScheduleMonitor, ScheduleStatus, monitored, parse_schedule
from testsupport.host import in_process_host


def timer_app(calls: list[tuple[str, bool, float]], work_seconds: float) -> func.FunctionApp:
    app = func.FunctionApp()

    @app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer", run_on_startup=True)
    def on_startup(timer: func.TimerRequest) -> None:
        calls.append(("on_startup", timer.past_due, time.time()))

    @app.timer_trigger(schedule="%EVERY%", arg_name="timer")
    async def busy(timer: func.TimerRequest) -> None:
        calls.append(("busy", timer.past_due, time.time()))
        await asyncio.sleep(work_seconds)

    return app


async def _wait_for(calls: list[tuple[str, bool, float]], name: str, count: int) -> None:
    deadline = time.monotonic() + 8
    while sum(1 for c in calls if c[0] == name) < count:
        assert time.monotonic() < deadline, calls
        await asyncio.sleep(0.05)


async def test_run_on_startup_fires_once_at_start() -> None:
    calls: list[tuple[str, bool, float]] = []
    app = timer_app(calls, 0.0)
    async with in_process_host(app, timers=True, settings={"EVERY": "0 0 0 1 1 *"}):
        await _wait_for(calls, "on_startup", 1)
        await asyncio.sleep(0.3)
    assert [c[:2] for c in calls] == [("on_startup", False)]


async def test_timers_off_means_no_startup_run_either() -> None:
    calls: list[tuple[str, bool, float]] = []
    async with in_process_host(timer_app(calls, 0.0), settings={"EVERY": "* * * * * *"}):
        await asyncio.sleep(1.3)
    assert calls == []


async def test_an_overrunning_timer_skips_occurrences_and_never_overlaps() -> None:
    """A run that takes 1.6 s on a one-second schedule: the next run is the first occurrence
    after it ended (as Azure's TimerListener does), not a catch-up, and not past due."""
    calls: list[tuple[str, bool, float]] = []
    async with in_process_host(
        timer_app(calls, 1.6), timers=True, settings={"EVERY": "* * * * * *"}
    ):
        await _wait_for(calls, "busy", 2)
    busy = [c for c in calls if c[0] == "busy"]
    assert [c[1] for c in busy[:2]] == [False, False]
    assert 1.9 < busy[1][2] - busy[0][2] < 2.3


def monitored_app(calls: list[tuple[bool, dict[str, str]]]) -> func.FunctionApp:
    app = func.FunctionApp()

    @app.timer_trigger(schedule="0 0 * * * *", arg_name="timer")
    def hourly(timer: func.TimerRequest) -> None:
        calls.append((timer.past_due, dict(getattr(timer, "schedule_status", None) or {})))

    return app


async def test_an_occurrence_missed_while_down_runs_at_start_as_past_due(tmp_path) -> None:
    state = tmp_path / "timers"
    monitor = ScheduleMonitor(state)
    now = datetime.now(UTC)
    monitor.save("hourly", ScheduleStatus(now - timedelta(hours=2), now - timedelta(hours=1), now))
    calls: list[tuple[bool, dict[str, str]]] = []
    async with in_process_host(monitored_app(calls), timers=True, timer_state=state):
        deadline = time.monotonic() + 5
        while not calls:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    past_due, status = calls[0]
    assert past_due is True
    assert datetime.fromisoformat(status["Last"]) == now - timedelta(hours=1)
    saved = monitor.load("hourly")
    assert saved is not None
    assert saved.next > now


async def test_no_missed_occurrence_means_no_start_up_run(tmp_path) -> None:
    state = tmp_path / "timers"
    now = datetime.now(UTC)
    ScheduleMonitor(state).save(
        "hourly", ScheduleStatus(now - timedelta(minutes=5), now + timedelta(hours=1), now)
    )
    calls: list[tuple[bool, dict[str, str]]] = []
    async with in_process_host(monitored_app(calls), timers=True, timer_state=state):
        await asyncio.sleep(0.5)
    assert calls == []


def test_minute_or_longer_schedules_are_monitored() -> None:
    now = datetime.now(UTC)
    assert monitored(parse_schedule("0 */5 * * * *"), now)
    assert not monitored(parse_schedule("*/15 * * * * *"), now)
