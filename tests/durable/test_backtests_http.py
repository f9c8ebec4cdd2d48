"""The /api/backtests routes on an in-process local host with the Durable plugin (activities in
threads): a saved strategy by id and version, results, scoping by account."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.durable_functions.models.utils import http_utils

from devhost.durable.plugin import DurablePlugin
from shared.auth.caller import Caller
from shared.backtest import ExecutionSettings, StrategySpec, run_sweep
from shared.config import get_settings
from shared.storage.factory import document_store
from shared.strategies_store.store import StrategyIn, StrategyStore
from testsupport.auth import auth_headers
from testsupport.bars import write_bars
from testsupport.host import in_process_host

APP = "tests.durable.apps.backtest_app:app"


async def _finished(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    for _ in range(600):
        view = (await client.get(f"/api/backtests/{run_id}", headers=auth_headers("viewer"))).json()
        if view["status"] in ("Completed", "Failed", "Terminated"):
            return view
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish: {view}")


async def test_saved_strategy_version_runs_and_results_are_account_scoped(
    isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKTEST_WORKERS", "0")
    monkeypatch.setenv("BACKTEST_CHUNK_TARGET_SECONDS", "0.0005")
    get_settings.cache_clear()
    bars = write_bars()
    alice = Caller(account_id="alice", roles=frozenset({"trader"}))
    store = StrategyStore(document_store())
    spec = StrategySpec(strategy="sma_cross", grid={"fast": "5:15:5", "slow": "20:40:10"})
    saved = store.create(alice, StrategyIn(name="smas", spec=spec))

    async with (
        in_process_host(APP, plugins=[DurablePlugin()]) as host,
        httpx.AsyncClient(base_url=host.base_url, timeout=30) as client,
    ):
        both = {"symbols": ["GOOG"], "strategy": spec.model_dump(), "strategyId": saved.id}
        response = await client.post("/api/backtests", json=both, headers=auth_headers())
        assert response.status_code == 422
        assert "either 'strategy'" in response.text

        body = {
            "symbols": ["goog"],
            "strategyId": saved.id,
            "strategyVersion": 1,
            "metric": "total_return_pct",
            "topN": 4,
        }
        response = await client.post("/api/backtests", json=body, headers=auth_headers())
        assert response.status_code == 202, response.text
        run_id = response.json()["runId"]
        view = await _finished(client, run_id)
        assert view["status"] == "Completed", view
        assert view["strategyVersion"] == 1
        assert view["request"]["strategy"]["grid"] == {
            "fast": [5, 10, 15],
            "slow": [20, 30, 40],
        }

        results = await client.get(
            f"/api/backtests/{run_id}/results", headers=auth_headers("viewer")
        )
        assert results.status_code == 200
        digest = results.json()["symbols"]["GOOG"]["digest"]
        sweep = run_sweep(bars, spec, ExecutionSettings())
        assert digest == sweep.digest()
        assert view["request"]["metric"] == "totalReturnPct"
        assert results.json()["metric"] == "totalReturnPct"
        board = results.json()["symbols"]["GOOG"]["leaderboard"]
        assert results.json()["leaderboard"] == board
        assert len(board) == 4
        assert set(board[0]) >= {"fast", "slow", "finalEquity", "sharpeRatio", "maxDrawdownPct"}
        assert not [key for row in board for key in row if "_" in key]
        assert [row["totalReturnPct"] for row in board] == pytest.approx(
            sorted(sweep.metrics["total_return_pct"], reverse=True)[:4]
        )
        assert set(results.json()["urls"]["GOOG"]) >= {
            "leaderboard",
            "metrics",
            "chart",
            "heatmap",
        }

        other = auth_headers("trader", "bob")
        assert (await client.get(f"/api/backtests/{run_id}", headers=other)).status_code == 404
        assert (await client.delete(f"/api/backtests/{run_id}", headers=other)).status_code == 404
        missing = {"symbols": ["GOOG"], "strategyId": saved.id}
        assert (await client.post("/api/backtests", json=missing, headers=other)).status_code == 404
    await http_utils._close_session()


async def test_cancel_terminates_every_block_sub_orchestration(
    isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The local host does not cascade a parent's termination (Azure does not either), so the
    blocks end Terminated only because the route terminates each one."""
    monkeypatch.setenv("BACKTEST_WORKERS", "0")
    monkeypatch.setenv("BACKTEST_CHUNK_TARGET_SECONDS", "0.00022")
    monkeypatch.setenv("BACKTEST_MAX_CHUNKS_PER_ORCHESTRATION", "2")
    monkeypatch.setenv("BACKTEST_FAULT_INJECTION", "delay:0.5")
    get_settings.cache_clear()
    write_bars()
    plugin = DurablePlugin()
    body = {
        "symbols": ["GOOG"],
        "strategy": {"strategy": "sma_cross", "grid": {"fast": "5:15:5", "slow": "20:60:10"}},
    }
    async with (
        in_process_host(APP, plugins=[plugin]) as host,
        httpx.AsyncClient(base_url=host.base_url, timeout=30) as client,
    ):
        engine = plugin.engine
        assert engine is not None
        response = await client.post("/api/backtests", json=body, headers=auth_headers())
        assert response.status_code == 202, response.text
        run_id = response.json()["runId"]
        for _ in range(200):
            parent = engine.status(run_id)
            blocks = ((parent or {}).get("customStatus") or {}).get("blocks")
            if blocks and engine.status(f"{run_id}:b{blocks - 1:03d}") is not None:
                break
            await asyncio.sleep(0.05)
        assert blocks, parent
        assert blocks >= 2, parent
        children = [f"{run_id}:b{n:03d}" for n in range(blocks)]
        assert all(engine.status(c)["runtimeStatus"] == "Running" for c in children)  # type: ignore[index]

        cancelled = await client.delete(f"/api/backtests/{run_id}", headers=auth_headers())
        assert cancelled.status_code == 202, cancelled.text
        assert engine.status(run_id)["runtimeStatus"] == "Terminated"  # type: ignore[index]
        assert [engine.status(c)["runtimeStatus"] for c in children] == [  # type: ignore[index]
            "Terminated"
        ] * blocks
        view = (await client.get(f"/api/backtests/{run_id}", headers=auth_headers())).json()
        assert view["status"] == "Terminated"
    await http_utils._close_session()
