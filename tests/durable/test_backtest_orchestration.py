"""The backtest orchestration on the in-process durable engine: chunked fan-out (direct and
through sub-orchestrations) and walk-forward equal the single-process engine, with small
messages."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from devhost.durable.engine import DurableEngine
from shared.backtest import (
    ExecutionSettings,
    StrategySpec,
    plan_walk_forward,
    run_sweep,
    runs,
    walk_forward,
)
from shared.backtest.metrics import json_metric_keys
from shared.config import get_settings
from shared.storage.factory import document_store
from testsupport.bars import write_bars

APP = "tests.durable.apps.backtest_app:app"
GRID = {"fast": "5:20:5", "slow": "30:90:20"}


@pytest.fixture
async def engine(
    isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[DurableEngine]:
    monkeypatch.setenv("BACKTEST_CHUNK_TARGET_SECONDS", "0.00022")
    monkeypatch.setenv("BACKTEST_MAX_CHUNKS_PER_ORCHESTRATION", "2")
    get_settings.cache_clear()
    durable = DurableEngine(app_ref=APP, data_dir=isolated_settings, workers=0)
    await durable.start()
    yield durable
    await durable.stop()


async def _run(engine: DurableEngine, body: dict[str, Any], run_id: str) -> dict[str, Any]:
    request = runs.BacktestRequest.model_validate(body)
    doc = runs.run_document(run_id, "alice", request, runs.validate_request(request))
    document_store().create(runs.RUNS_CONTAINER, doc)
    job = {"runId": run_id, "accountId": "alice", "request": doc["request"]}
    engine.start_new("backtest_run", run_id, json.dumps(job))
    done = await engine.wait(run_id, 180)
    assert done["runtimeStatus"] == "Completed", done["output"]
    return done


async def test_sweep_through_block_sub_orchestrations_equals_the_direct_run(
    engine: DurableEngine,
) -> None:
    bars = write_bars()
    body = {"symbols": ["GOOG"], "strategy": {"strategy": "sma_cross", "grid": GRID}}
    done = await _run(engine, body, "sweep")
    direct = run_sweep(bars, StrategySpec(strategy="sma_cross", grid=GRID), ExecutionSettings())
    assert done["output"]["symbols"]["GOOG"]["digest"] == direct.digest()
    assert done["customStatus"]["chunksDone"] == done["customStatus"]["chunksTotal"] == 4
    assert done["customStatus"]["blocks"] == 2
    children = [i for i in engine.instances() if i["parentInstanceId"] == "sweep"]
    assert sorted(c["instanceId"] for c in children) == ["sweep:b000", "sweep:b001"]
    every_event = [e for i in engine.instances() for e in i["history"]]
    assert max(len(json.dumps(e)) for e in every_event) < 8_000, "messages carry references"
    doc = runs.read_run("alice", "sweep")
    assert doc["status"] == "Completed"
    assert doc["chunkStats"]["total"] == 4
    assert set(doc["timings"]) == {"planSeconds", "chunkSeconds", "aggregateSeconds"}


async def test_walk_forward_on_the_fan_out_equals_the_direct_walk_forward(
    engine: DurableEngine,
) -> None:
    bars = write_bars()
    body = {
        "symbols": ["GOOG"],
        "strategy": {"strategy": "sma_cross", "grid": GRID},
        "walkForward": {"trainBars": 500, "testBars": 250},
    }
    done = await _run(engine, body, "wf")
    spec = StrategySpec(strategy="sma_cross", grid=GRID)
    windows = plan_walk_forward(len(bars), train_bars=500, test_bars=250)
    direct = walk_forward(bars, spec, ExecutionSettings(), windows)
    summary = json.loads(runs.results_store().get(done["output"]["summary"]))["symbols"]["GOOG"]
    assert len(summary["walkForward"]) == len(windows)
    assert summary["outOfSample"] == pytest.approx(
        json_metric_keys(direct.out_of_sample), rel=1e-12
    )
    first = summary["walkForward"][0]
    assert set(first) == {"symbol", "window", "params", "inSample", "outOfSample", "equityRef"}
    assert set(first["window"]) == {"index", "trainStart", "trainStop", "testStart", "testStop"}
    assert "sharpeRatio" in first["inSample"]
    assert [w["params"] for w in summary["walkForward"]] == [w.params for w in direct.windows]


async def test_walk_forward_results_have_a_leaderboard_files_and_a_chart(
    engine: DurableEngine,
) -> None:
    bars = write_bars()
    body = {
        "symbols": ["GOOG"],
        "strategy": {"strategy": "sma_cross", "grid": GRID},
        "walkForward": {"trainBars": 500, "testBars": 250},
        "topN": 3,
    }
    done = await _run(engine, body, "wf-files")
    store = runs.results_store()
    summary = json.loads(store.get(done["output"]["summary"]))
    goog = summary["symbols"]["GOOG"]
    windows = plan_walk_forward(len(bars), train_bars=500, test_bars=250)
    spec = StrategySpec(strategy="sma_cross", grid=GRID)
    direct = walk_forward(bars, spec, ExecutionSettings(), windows)
    # every window's chosen combination with its out-of-sample metrics, best Sharpe first
    oos = {w.window.index: (w.params, json_metric_keys(w.out_of_sample)) for w in direct.windows}
    expected = sorted(oos, key=lambda i: -oos[i][1]["sharpeRatio"])[:3]
    assert len(windows) > 3
    assert [row["window"] for row in goog["leaderboard"]] == expected
    for row in goog["leaderboard"]:
        params, metrics = oos[row["window"]]
        assert row["symbol"] == "GOOG"
        assert {k: row[k] for k in params} == params
        assert row["sharpeRatio"] == pytest.approx(metrics["sharpeRatio"], rel=1e-12)
        assert row["totalReturnPct"] == pytest.approx(metrics["totalReturnPct"], rel=1e-12)
        assert row["trades"] == metrics["trades"]
        assert row["ruined"] == 0.0
        shown = summary["symbols"]["GOOG"]["walkForward"][row["window"]]["outOfSample"]
        assert {k: row[k] for k in shown} == shown
    assert summary["leaderboard"] == goog["leaderboard"]
    files = goog["files"]
    assert set(files) == {"leaderboard", "metrics", "equity", "chart"}
    assert store.get(files["chart"]).startswith(b"\x89PNG\r\n\x1a\n")
    board = json.loads(store.get(files["leaderboard"]))
    assert board["rows"] == goog["leaderboard"]
    assert board["windows"] == len(windows)
    equity = pd.read_parquet(io.BytesIO(store.get(files["equity"])))
    assert len(equity) == sum(w.test_stop - w.test_start for w in windows)
    assert equity["ts"].iloc[0] == bars.index()[windows[0].test_start]
    final = 1.0 + goog["outOfSample"]["totalReturnPct"] / 100.0
    assert equity["equity"].iloc[-1] == pytest.approx(final, rel=1e-12)
    assert equity["drawdown_pct"].min() == pytest.approx(
        goog["outOfSample"]["maxDrawdownPct"], rel=1e-12
    )
    table = pd.read_parquet(io.BytesIO(store.get(files["metrics"])))
    assert list(table["index"]) == [w.index for w in windows]
    # the results route signs a URL for each file, the chart among them
    doc = runs.read_run("alice", "wf-files")
    assert doc["results"]["symbols"]["GOOG"]["files"] == files
    assert set(runs.results_of(doc).urls["GOOG"]) == set(files)


async def test_a_failing_chunk_in_a_block_fails_the_run_naming_block_and_chunk(
    engine: DurableEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKTEST_FAULT_INJECTION", "always:0")
    monkeypatch.setenv("ENVIRONMENT", "ci")
    get_settings.cache_clear()
    write_bars()
    body = {"symbols": ["GOOG"], "strategy": {"strategy": "sma_cross", "grid": GRID}}
    request = runs.BacktestRequest.model_validate(body)
    doc = runs.run_document("fails", "alice", request, runs.validate_request(request))
    document_store().create(runs.RUNS_CONTAINER, doc)
    job = {"runId": "fails", "accountId": "alice", "request": doc["request"]}
    engine.start_new("backtest_run", "fails", json.dumps(job))
    done = await engine.wait("fails", 60)
    assert done["runtimeStatus"] == "Failed"
    assert runs.read_run("alice", "fails")["error"] == (
        "block 0 of 2 (2 chunks) failed: chunk 0 (GOOG, combinations 0..3) after 3 attempts "
        "failed: RuntimeError: injected fault: chunk 0 always fails"
    )
