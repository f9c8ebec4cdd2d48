"""Hostile bodies on POST /api/backtests and /api/strategies over a real local host: each is a
422 problem+json naming the field and the rule, answered fast, before anything is stored or
queued, without stalling the host's event loop (/api/health keeps answering)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import azure.functions as func
import httpx
import pytest
from azure.durable_functions.models.utils import http_utils

from devhost.durable.plugin import DurablePlugin
from durable.backtest import bp as backtest_durable_bp
from functions.backtests import bp as backtests_bp
from functions.health import bp as health_bp
from functions.strategies import bp as strategies_bp
from shared.backtest import runs
from shared.config import get_settings
from shared.storage.factory import document_store
from testsupport.auth import auth_headers
from testsupport.bars import write_bars
from testsupport.host import in_process_host
from testsupport.hostile_bodies import BACKTESTS, STRATEGIES, grid

PROBLEM = "application/problem+json"


def _app() -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    for blueprint in (health_bp, strategies_bp, backtests_bp, backtest_durable_bp):
        app.register_functions(blueprint)
    return app


async def _loop_stalls(stop: asyncio.Event, gaps: list[float]) -> None:
    """Record how late a 5 ms timer fires on the host's event loop (what /api/health waits)."""
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(0.005)
        gaps.append(time.perf_counter() - before - 0.005)


async def test_hostile_bodies_are_refused_fast_with_problem_json_and_nothing_queued(
    isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKTEST_WORKERS", "0")
    monkeypatch.setenv("BACKTEST_MAX_COMBINATIONS", "1000")
    get_settings.cache_clear()
    write_bars()
    gaps: list[float] = []
    latencies: dict[str, float] = {}
    stop = asyncio.Event()
    async with (
        in_process_host(_app(), plugins=[DurablePlugin()]) as host,
        httpx.AsyncClient(base_url=host.base_url, timeout=30) as client,
    ):
        headers = {**auth_headers(), "Content-Type": "application/json"}
        # warm up imports and the first numba-free code paths before timing
        await client.post("/api/backtests", content=json.dumps(grid(fast=[2.5])), headers=headers)
        ticker = asyncio.create_task(_loop_stalls(stop, gaps))
        cases = [("backtests", *case) for case in BACKTESTS]
        cases += [("strategies", *case) for case in STRATEGIES]
        for route, body, kind, pattern in cases:
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            started = time.perf_counter()
            response = await client.post(f"/api/{route}", content=raw, headers=headers)
            latencies[raw.decode()[:90]] = time.perf_counter() - started
            assert response.status_code == 422, (raw, response.text)
            assert response.headers["content-type"].startswith(PROBLEM)
            problem = response.json()
            assert problem["type"] == kind, (raw, problem)
            assert problem["status"] == 422
            assert re.search(pattern, problem["detail"]), (pattern, problem["detail"])
        health = await client.get("/api/health")
        stop.set()
        await ticker
        assert health.status_code == 200
    await http_utils._close_session()

    worst = max(latencies, key=latencies.__getitem__)
    print(
        f"\nrefused {len(latencies)} hostile requests: worst {latencies[worst] * 1000:.1f} ms "
        f"({worst}); median {sorted(latencies.values())[len(latencies) // 2] * 1000:.1f} ms; "
        f"worst event-loop stall {max(gaps) * 1000:.1f} ms"
    )
    assert latencies[worst] < 1.0
    assert max(gaps) < 0.25
    assert document_store().query_all(runs.RUNS_CONTAINER, None, []) == []
