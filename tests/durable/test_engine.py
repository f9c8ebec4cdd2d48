"""The local durable engine: replay of a real history through the SDK's own orchestrator."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from devhost.durable.engine import DurableEngine
from devhost.durable.history import EventType
from tests.durable.conftest import SAMPLE_APP


def _status(engine: DurableEngine, instance_id: str) -> dict:
    instance = engine.status(instance_id)
    assert instance is not None
    return instance


def _types(instance: dict) -> list[int]:
    return [item["EventType"] for item in instance["history"]]


async def test_sequence_records_the_history_the_sdk_replays(engine: DurableEngine) -> None:
    started = engine.start_new("hello_sequence", "seq-1", json.dumps(["Tokyo", "Paris"]))
    assert started["runtimeStatus"] == "Pending"
    done = await engine.wait("seq-1", 10)
    assert done["runtimeStatus"] == "Completed"
    assert done["output"] == ["Hello Tokyo!", "Hello Paris!"]
    history = done["history"]
    assert _types(done)[:2] == [EventType.ORCHESTRATOR_STARTED, EventType.EXECUTION_STARTED]
    scheduled = [e for e in history if e["EventType"] == EventType.TASK_SCHEDULED]
    completed = [e for e in history if e["EventType"] == EventType.TASK_COMPLETED]
    assert [(e["EventId"], e["Name"], e["Input"]) for e in scheduled] == [
        (0, "say_hello", '"Tokyo"'),
        (1, "say_hello", '"Paris"'),
    ]
    assert [(e["TaskScheduledId"], e["Result"]) for e in completed] == [
        (0, '"Hello Tokyo!"'),
        (1, '"Hello Paris!"'),
    ]
    assert _types(done).count(EventType.ORCHESTRATOR_COMPLETED) == 3
    assert all(e["Timestamp"].endswith("Z") for e in history)


async def test_fan_out_reports_progress_in_custom_status(engine: DurableEngine) -> None:
    engine.start_new("fan_out", "fan", json.dumps({"count": 12}))
    done = await engine.wait("fan", 10)
    assert done["output"] == sum(i * i for i in range(12))
    assert done["customStatus"] == {"done": 12, "total": 12}
    ids = sorted(
        e["EventId"] for e in done["history"] if e["EventType"] == EventType.TASK_SCHEDULED
    )
    assert ids == list(range(12))


async def test_retry_uses_timers_with_dtfx_ids_and_completes(engine: DurableEngine) -> None:
    engine.start_new("retrying", "retry", json.dumps({"key": "k", "fail": 2}))
    done = await engine.wait("retry", 10)
    assert done["runtimeStatus"] == "Completed", done["output"]
    assert done["output"] == ["ok after 3", "ok after 3", "Hello after!"]
    history = done["history"]
    failed = [e["TaskScheduledId"] for e in history if e["EventType"] == EventType.TASK_FAILED]
    timers = [e["EventId"] for e in history if e["EventType"] == EventType.TIMER_CREATED]
    fired = [e["TimerId"] for e in history if e["EventType"] == EventType.TIMER_FIRED]
    assert len(failed) == 4
    assert len(timers) == 4
    assert sorted(fired) == sorted(timers)
    scheduled = [e["EventId"] for e in history if e["EventType"] == EventType.TASK_SCHEDULED]
    every_id = sorted(scheduled + timers)
    assert every_id == list(range(len(every_id)))


async def test_retries_exhausted_fail_the_instance_after_the_last_timer(
    engine: DurableEngine,
) -> None:
    engine.start_new("failing", "fails")
    done = await engine.wait("fails", 10)
    assert done["runtimeStatus"] == "Failed"
    assert "attempt 2 failed" in done["output"]
    types = _types(done)
    assert types.count(EventType.TASK_FAILED) == 2
    assert types.count(EventType.TIMER_FIRED) == 2


async def test_timers_external_events_and_cancelled_timeout(engine: DurableEngine) -> None:
    engine.start_new("timers_and_events", "ev")
    for _ in range(100):
        if _status(engine, "ev")["customStatus"] == "waiting for Approval":
            break
        await asyncio.sleep(0.02)
    assert engine.raise_event("ev", "Approval", json.dumps({"by": "bob"}))
    done = await engine.wait("ev", 5)
    assert done["output"] == {"approved": {"by": "bob"}}
    raised = [e for e in done["history"] if e["EventType"] == EventType.EVENT_RAISED]
    assert raised[0]["Name"] == "Approval"


async def test_sub_orchestrations_and_continue_as_new(engine: DurableEngine) -> None:
    engine.start_new("parent", "par")
    done = await engine.wait("par", 10)
    assert done["output"] == [["Hello A!", "Hello B!"], ["Hello C!"]]
    child = _status(engine, "par-c")
    assert child["parentInstanceId"] == "par"
    assert child["runtimeStatus"] == "Completed"
    types = _types(done)
    assert types.count(EventType.SUB_ORCHESTRATION_CREATED) == 2
    assert types.count(EventType.SUB_ORCHESTRATION_COMPLETED) == 2

    engine.start_new("counter", "cnt")
    done = await engine.wait("cnt", 10)
    assert done["output"] == {"value": 2, "squared": 4}
    assert done["input"] == "2"


async def test_sub_orchestration_with_retry_restarts_the_child(engine: DurableEngine) -> None:
    engine.start_new("retrying_parent", "rp")
    done = await engine.wait("rp", 10)
    assert done["runtimeStatus"] == "Completed", done["output"]
    assert done["output"] == "ok after 2"
    types = _types(done)
    assert types.count(EventType.SUB_ORCHESTRATION_FAILED) == 1
    assert types.count(EventType.SUB_ORCHESTRATION_CREATED) == 2
    assert types.count(EventType.TIMER_FIRED) == 1
    assert _status(engine, "rp-child")["runtimeStatus"] == "Completed"


async def test_non_deterministic_replay_fails_loudly(
    engine: DurableEngine, isolated_settings: Path
) -> None:
    engine.start_new("fickle", "fk")
    for _ in range(100):
        if _status(engine, "fk")["customStatus"] == "waiting":
            break
        await asyncio.sleep(0.02)
    (isolated_settings / "fickle-flag").write_text("on")
    engine.raise_event("fk", "go", None)
    done = await engine.wait("fk", 5)
    assert done["runtimeStatus"] == "Failed"
    assert "NonDeterministic" in done["output"]
    assert "CALL_ACTIVITY('square')" in done["output"]
    assert "CALL_ACTIVITY('say_hello')" in done["output"]


async def test_terminate_suspend_resume_and_purge(engine: DurableEngine) -> None:
    engine.start_new("timers_and_events", "t1")
    assert engine.suspend("t1", "pause")
    assert _status(engine, "t1")["runtimeStatus"] == "Suspended"
    assert engine.resume("t1", "go on")
    assert engine.terminate("t1", "user asked")
    done = await engine.wait("t1", 2)
    assert (done["runtimeStatus"], done["output"]) == ("Terminated", "user asked")
    assert not engine.terminate("t1", "again")
    assert engine.purge("t1")
    assert engine.status("t1") is None


async def test_terminating_a_parent_leaves_its_sub_orchestration_running(
    engine: DurableEngine,
) -> None:
    engine.start_new("waiting_parent", "p1")
    for _ in range(200):
        child = engine.status("p1-child")
        if child is not None and child["customStatus"] == "waiting for Approval":
            break
        await asyncio.sleep(0.02)
    assert engine.terminate("p1", "user asked")
    assert _status(engine, "p1")["runtimeStatus"] == "Terminated"
    await asyncio.sleep(0.1)
    assert _status(engine, "p1-child")["runtimeStatus"] == "Running"
    assert engine.terminate("p1-child", "user asked")
    assert _status(engine, "p1-child")["runtimeStatus"] == "Terminated"
    assert _status(engine, "p1")["output"] == "user asked"


async def test_activities_run_in_worker_processes_and_a_restart_resumes(
    isolated_settings: Path,
) -> None:
    first = DurableEngine(app_ref=SAMPLE_APP, data_dir=isolated_settings, workers=2)
    await first.start()
    first.start_new("renamed_orchestrator", "pool", json.dumps(0.6))
    await asyncio.sleep(0.3)
    assert _status(first, "pool")["runtimeStatus"] == "Running"
    await first.stop()

    second = DurableEngine(app_ref=SAMPLE_APP, data_dir=isolated_settings, workers=2)
    await second.start()
    try:
        done = await second.wait("pool", 20)
    finally:
        await second.stop()
    assert done["runtimeStatus"] == "Completed", done["output"]
    naps, pid = done["output"][:4], done["output"][4]
    assert naps == [0.6] * 4
    assert isinstance(pid, int)
    scheduled = [e for e in done["history"] if e["EventType"] == EventType.TASK_SCHEDULED]
    assert len(scheduled) == 5
