"""The Durable Task Scheduler actions tools/dts_actions.py states for a sweep (the README's
figures) equal the actions in the histories of real runs of durable/backtest.py on the local
durable engine: direct fan-out, sub-orchestration blocks, walk-forward, a retried chunk."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from devhost.durable.engine import DurableEngine
from shared.backtest import plan_walk_forward, runs
from shared.config import get_settings
from shared.storage.factory import document_store
from testsupport.bars import goog_frame, write_bars
from tools import dts_actions

APP = "tests.durable.apps.backtest_app:app"
GRID = {"fast": "5:20:5", "slow": "30:90:20"}


async def _engine(isolated: Path, monkeypatch: pytest.MonkeyPatch, limit: int) -> DurableEngine:
    monkeypatch.setenv("BACKTEST_CHUNK_TARGET_SECONDS", "0.00022")
    monkeypatch.setenv("BACKTEST_MAX_CHUNKS_PER_ORCHESTRATION", str(limit))
    get_settings.cache_clear()
    durable = DurableEngine(app_ref=APP, data_dir=isolated, workers=0)
    await durable.start()
    return durable


@pytest.fixture
async def engines(
    isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[list[DurableEngine]]:
    started: list[DurableEngine] = []
    yield started
    for durable in started:
        await durable.stop()


async def _actions(
    engines: list[DurableEngine],
    isolated: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    limit: int,
    body: dict[str, Any],
) -> tuple[int, dict[str, Any]]:
    engine = await _engine(isolated, monkeypatch, limit)
    engines.append(engine)
    write_bars()
    request = runs.BacktestRequest.model_validate(body)
    doc = runs.run_document("run", "alice", request, runs.validate_request(request))
    document_store().create(runs.RUNS_CONTAINER, doc)
    job = {"runId": "run", "accountId": "alice", "request": doc["request"]}
    engine.start_new("backtest_run", "run", json.dumps(job))
    done = await engine.wait("run", 180)
    assert done["runtimeStatus"] == "Completed", done["output"]
    return dts_actions.count_actions(engine.instances()), done["customStatus"]


SWEEP = {"symbols": ["GOOG"], "strategy": {"strategy": "sma_cross", "grid": GRID}}


@pytest.mark.parametrize(("limit", "blocks"), [(64, 0), (2, 2)], ids=["direct", "blocks"])
async def test_a_sweeps_actions_are_what_the_tool_counts(
    engines: list[DurableEngine],
    isolated_settings: Path,
    monkeypatch: pytest.MonkeyPatch,
    limit: int,
    blocks: int,
) -> None:
    counted, status = await _actions(
        engines, isolated_settings, monkeypatch, limit=limit, body=SWEEP
    )
    assert status["chunksTotal"] == 4
    expected = dts_actions.sweep_actions([4], limit)
    assert expected.sub_orchestrations == blocks == status.get("blocks", 0)
    assert counted == expected.actions == 1 + 2 + 4 * 2 + blocks * 2 + 2


async def test_walk_forward_evaluations_are_counted(
    engines: list[DurableEngine], isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {**SWEEP, "walkForward": {"trainBars": 500, "testBars": 250}}
    counted, status = await _actions(engines, isolated_settings, monkeypatch, limit=64, body=body)
    windows = len(plan_walk_forward(len(goog_frame()), train_bars=500, test_bars=250))
    assert windows > 1
    expected = dts_actions.sweep_actions([status["chunksTotal"]], 64, evaluations=windows)
    assert counted == expected.actions


async def test_a_retried_chunk_adds_a_timer_and_a_rescheduled_activity(
    engines: list[DurableEngine], isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKTEST_FAULT_INJECTION", "once:0")
    monkeypatch.setenv("ENVIRONMENT", "ci")
    counted, _ = await _actions(engines, isolated_settings, monkeypatch, limit=64, body=SWEEP)
    retry = dts_actions.TIMER + dts_actions.ACTIVITY
    assert counted == dts_actions.sweep_actions([4], 64).actions + retry


def test_the_readme_states_the_tools_figures() -> None:
    text = dts_actions.README.read_text()
    start = text.index(dts_actions.START) + len(dts_actions.START)
    assert text[start : text.index(dts_actions.END)].strip() == dts_actions.table(), (
        "run `python tools/dts_actions.py --write`"
    )
    assert dts_actions.SWEEP.n_combinations() == 10_000


def test_the_counted_history_events_are_the_dispatched_messages() -> None:
    from devhost.durable.history import EventType

    assert {
        EventType.EXECUTION_STARTED,
        EventType.TASK_SCHEDULED,
        EventType.TASK_COMPLETED,
        EventType.TASK_FAILED,
        EventType.SUB_ORCHESTRATION_COMPLETED,
        EventType.SUB_ORCHESTRATION_FAILED,
        EventType.TIMER_FIRED,
        EventType.EVENT_RAISED,
    } == dts_actions._DISPATCHED
