"""Hostile bodies on POST /api/backtests and /api/strategies over a real local host: each is a
422 problem+json naming the field and the rule, answered fast, before anything is stored or
queued, without stalling the host's event loop (/api/health keeps answering)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import azure.functions as func
import httpx
import pytest
from azure.durable_functions.models.utils import http_utils

from devhost.durable.plugin import DurablePlugin
from durable import runs
from durable.backtest import bp as backtest_durable_bp
from functions.backtests import bp as backtests_bp
from functions.health import bp as health_bp
from functions.strategies import bp as strategies_bp
from shared.config import get_settings
from shared.storage.factory import document_store
from tests.durable.bars import write_bars
from tests.support.auth import auth_headers
from tests.support.host import in_process_host

PROBLEM = "application/problem+json"
SMA = {"strategy": "sma_cross", "grid": {"fast": "5:15:5", "slow": "20:40:10"}}
EARLY = {"start": "2004-08-19", "end": "2004-10-15"}  # GOOG's first 41 daily bars


def _body(strategy: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"symbols": ["GOOG"], "strategy": strategy or SMA, **extra}


def _grid(**axes: Any) -> dict[str, Any]:
    return _body({"strategy": "sma_cross", "grid": axes})


# (body, problem type, detail pattern); bytes bodies carry JSON the stdlib would not write.
BACKTESTS: list[tuple[Any, str, str]] = [
    # issue 12 #1: a grid is sized before it is expanded, per axis and as a whole
    (
        _grid(fast="1:4000000", slow=[300]),
        "/problems/grid-too-large",
        r"grid axis 'fast' \('1:4000000'\) has 4000000 values, more than "
        r"BACKTEST_MAX_AXIS_VALUES=10000",
    ),
    (
        _grid(fast="1:5000", slow="2:5001"),
        "/problems/grid-too-large",
        r"25000000 combinations before constraints \(fast 5000 x slow 5000\), more than "
        r"BACKTEST_MAX_GRID_SIZE=200000",
    ),
    (
        _grid(fast="1:100", slow="2:101"),
        "/problems/grid-too-large",
        r"the grid has 5050 combinations \(5050 valid x 1 symbol\(s\)\), more than "
        r"BACKTEST_MAX_COMBINATIONS=1000",
    ),
    (  # the largest grid the size cap lets through: counted on arrays, refused by the cap
        _grid(fast="1:447", slow="1:447"),
        "/problems/grid-too-large",
        r"the grid has 99681 combinations \(99681 valid x 1 symbol\(s\)\), more than "
        r"BACKTEST_MAX_COMBINATIONS=1000",
    ),
    # issue 12 #2: numbers of bounded length and exponent
    (
        _grid(fast="1e450000"),
        "/problems/invalid-number",
        r"grid axis 'fast': '1e450000' is not a decimal number .*exponent at most 3 digits",
    ),
    (_grid(fast=["1e450000"]), "/problems/invalid-number", r"grid axis 'fast': '1e450000'"),
    (
        b'{"symbols":["GOOG"],"strategy":{"strategy":"sma_cross","grid":{"fast":[1e450000]}}}',
        "/problems/invalid-number",
        r"grid axis 'fast': inf is not a finite number",
    ),
    # issue 12 #4: malformed input is a 4xx naming the field, never a 500
    (_grid(fast=None), "about:blank", r"grid axis 'fast' is null"),
    (_grid(fast="NaN:5"), "/problems/invalid-number", r"grid axis 'fast': 'NaN' is not a finite"),
    (_grid(fast="1:NaN"), "/problems/invalid-number", r"grid axis 'fast': 'NaN' is not a finite"),
    (_grid(fast="Infinity"), "/problems/invalid-number", r"'Infinity' is not a finite number"),
    (_grid(fast=[True]), "/problems/invalid-number", r"grid axis 'fast': True is not a number"),
    (
        b'{"symbols":["GOOG"],"strategy":{"strategy":"bollinger_reversion","grid":{"n":[20]},'
        b'"params":{"k":NaN}}}',
        "/problems/invalid-number",
        r"params\.k: nan is not a finite number",
    ),
    (
        _body(
            {"strategy": "bollinger_reversion", "grid": {"n": [20]}, "params": {"k": "1e200000"}}
        ),
        "/problems/invalid-number",
        r"params\.k: '1e200000' is not a decimal number",
    ),
    (
        b'{"symbols":["GOOG"],"strategy":{"strategy":"sma_cross","grid":{"fast":[5]}},'
        b'"execution":{"cash":1e309}}',
        "/problems/invalid-number",
        r"execution\.cash: inf is not a finite number",
    ),
    (_body(execution={"cash": True}), "/problems/invalid-number", r"execution\.cash: True is not"),
    (
        _body(end="9999-12-31"),
        "about:blank",
        r"end: .*9999-12-31 is outside 1900-01-01\.\.2200-12-31",
    ),
    (_body(symbols=["GO\x00OG"]), "about:blank", r"symbol contains a control character"),
    (_body(topN=True), "about:blank", r"topN: Input should be a valid integer"),
    # issue 11 #5: one declaration of each strategy's parameters
    (_grid(fast=[2.5]), "/problems/invalid-parameter", r"sma_cross: fast=2\.5 must be an integer"),
    (_grid(fastt=[3]), "/problems/invalid-parameter", r"sma_cross has no parameter 'fastt'"),
    (
        _body({"strategy": "rsi_reversion", "grid": {"lower": [80]}, "params": {"upper": 70}}),
        "/problems/no-valid-combination",
        r"no combination of the rsi_reversion grid satisfies lower < upper",
    ),
    (
        _body({"strategy": "macd", "grid": {"signal": [0, 9]}}),
        "/problems/invalid-parameter",
        r"macd: signal=0 must be >= 1",
    ),
    # issue 11 #3 / 12 #3: a warm-up that does not fit the bars is refused before queuing
    (
        _body({"strategy": "sma_cross", "grid": {"slow": [300]}}, **EARLY),
        "/problems/not-enough-bars",
        r"^sma_cross slow=300 needs 301 bars, GOOG 2004-08-19\.\.2004-10-15 has 41; ",
    ),
    (
        _body({"strategy": "sma_cross", "grid": {"slow": [10**6]}}),
        "/problems/not-enough-bars",
        r"^sma_cross slow=1000000 needs 1000001 bars, GOOG 2004-08-19\.\.2013-03-01 has 2148",
    ),
    (
        _body({"strategy": "sma_cross", "grid": {"slow": [10**9]}}),
        "/problems/invalid-parameter",
        r"sma_cross: slow=1000000000 must be <= 1000000",
    ),
    (
        _body(
            {"strategy": "sma_cross", "grid": {"slow": [300]}},
            walkForward={"trainBars": 250, "testBars": 50},
        ),
        "/problems/not-enough-bars",
        r"needs 301 bars, GOOG .* has 2148, and its walk-forward training windows have "
        r"trainBars=250",
    ),
]

STRATEGIES: list[tuple[Any, str, str]] = [
    (
        {"name": "x", "spec": {"strategy": "bollinger_reversion", "params": {"k": "1e200000"}}},
        "/problems/invalid-number",
        r"params\.k: '1e200000' is not a decimal number",
    ),
    (
        {"name": "x", "spec": {"strategy": "bollinger_reversion", "grid": {"k": "1e200000"}}},
        "/problems/invalid-number",
        r"grid axis 'k': '1e200000'",
    ),
    (
        {"name": "x", "spec": {"strategy": "sma_cross", "grid": {"fast": "1:4000000"}}},
        "/problems/grid-too-large",
        r"BACKTEST_MAX_AXIS_VALUES=10000",
    ),
    (
        {"name": "x", "spec": {"strategy": "sma_cross", "grid": {"fast": [50], "slow": [20]}}},
        "/problems/no-valid-combination",
        r"satisfies fast < slow",
    ),
    (
        {"name": "x", "spec": {"strategy": "sma_cross", "params": {"fast": 50, "slow": 20}}},
        "/problems/invalid-parameter",
        r"sma_cross: fast=50 must be < slow=20 \(rule fast < slow\)",
    ),
    (
        {"name": "x", "spec": {"strategy": "sma_cross", "params": {"fastt": 3}}},
        "/problems/invalid-parameter",
        r"sma_cross has no parameter 'fastt'",
    ),
]


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
        await client.post("/api/backtests", content=json.dumps(_grid(fast=[2.5])), headers=headers)
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
