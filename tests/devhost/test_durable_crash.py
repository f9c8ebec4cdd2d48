"""Crash isolation in the local durable host: a worker process that dies (a real SIGSEGV)
fails only the activity it ran; other runs go on, the retry policy applies, the pool heals."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from devhost.durable.engine import DurableEngine, worker_death
from devhost.durable.history import EventType

CRASH_APP = "tests.devhost.crash_app:app"


def _events(instance: dict, kind: int) -> list[dict]:
    return [item for item in instance["history"] if item["EventType"] == kind]


async def test_a_segfault_fails_only_its_own_run_and_the_pool_heals(
    isolated_settings: Path,
) -> None:
    engine = DurableEngine(app_ref=CRASH_APP, data_dir=isolated_settings, workers=2)
    await engine.start()
    try:
        engine.start_new("squares", "bob-run", json.dumps({"count": 6, "seconds": 0.3}))
        await asyncio.sleep(0.1)
        engine.start_new("crashing", "mallory-run", json.dumps({}))
        crashed, survived = await asyncio.gather(
            engine.wait("mallory-run", 60), engine.wait("bob-run", 60)
        )
        assert survived["runtimeStatus"] == "Completed", survived["output"]
        assert survived["output"] == [0.3 * 0.3] * 6
        assert _events(survived, EventType.TASK_FAILED) == []

        assert crashed["runtimeStatus"] == "Failed"
        failures = _events(crashed, EventType.TASK_FAILED)
        assert len(failures) == 3  # every attempt of the retry policy ran, in a new worker
        assert {f["Reason"] for f in failures} == {
            "WorkerProcessDied: the worker running activity 'segfault' died (killed by SIGSEGV)"
        }
        assert "'segfault' died (killed by SIGSEGV)" in str(crashed["output"])

        engine.start_new("squares", "after", json.dumps({"count": 4, "seconds": 0.05}))
        again = await engine.wait("after", 30)
        assert again["runtimeStatus"] == "Completed", again["output"]
    finally:
        await engine.stop()


async def test_a_crash_is_retried_by_the_policy_and_the_retry_succeeds(
    isolated_settings: Path,
) -> None:
    engine = DurableEngine(app_ref=CRASH_APP, data_dir=isolated_settings, workers=1)
    await engine.start()
    try:
        counter = isolated_settings / "segfault-counter"
        engine.start_new("crashing", "once", json.dumps({"counter": str(counter), "crashes": 1}))
        done = await engine.wait("once", 60)
    finally:
        await engine.stop()
    assert done["runtimeStatus"] == "Completed", done["output"]
    assert done["output"] == "ok after 2"
    assert len(_events(done, EventType.TASK_FAILED)) == 1


def test_the_reason_names_the_signal_or_the_exit_code() -> None:
    assert worker_death("run_chunk", -9).endswith("(killed by SIGKILL)")
    assert worker_death("run_chunk", 3).endswith("(exited with code 3)")
    assert "'run_chunk'" in worker_death("run_chunk", -200)


async def test_a_task_the_pool_refuses_fails_the_activity_instead_of_hanging(
    isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = DurableEngine(app_ref=CRASH_APP, data_dir=isolated_settings, workers=1)
    await engine.start()
    try:
        assert engine._pool is not None

        def refuse(*args: object, **kwargs: object) -> None:
            raise RuntimeError("the pool is shutting down")

        monkeypatch.setattr(engine._pool, "schedule", refuse)
        engine.start_new("squares", "refused", json.dumps({"count": 3, "seconds": 0.01}))
        done = await engine.wait("refused", 30)
    finally:
        monkeypatch.undo()
        await engine.stop()
    assert done["runtimeStatus"] == "Failed"
    failures = _events(done, EventType.TASK_FAILED)
    assert failures
    assert failures[0]["Reason"] == "RuntimeError: the pool is shutting down"
