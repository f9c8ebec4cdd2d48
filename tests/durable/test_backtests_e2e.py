"""Backtests end to end through the local host subprocess: HTTP API, Durable orchestration,
process-pool chunk activities, retries, failure, cancel, and kill -9 / restart."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from shared.backtest import ExecutionSettings, StrategySpec, run_sweep
from testsupport.auth import auth_headers
from testsupport.bars import write_bars
from testsupport.host import RunningHost, start_host

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

APP = "tests.durable.apps.backtest_app:app"
SMALL_GRID = {"fast": "5:15:5", "slow": "20:60:10"}  # 15 combinations -> 3 chunks
LARGE_GRID = {"fast": "5:50:5", "slow": "20:200:20"}  # 91 combinations -> 19 chunks
HOST_ENV = {
    "BACKTEST_CHUNK_TARGET_SECONDS": "0.00022",  # ~5 combinations per chunk on GOOG
    "BACKTEST_WORKERS": "2",
    "ENVIRONMENT": "ci",
}


def _body(grid: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {"symbols": ["GOOG"], "strategy": {"strategy": "sma_cross", "grid": grid}, **extra}


def _direct_digest(bars: Any, grid: dict[str, str]) -> str:
    return run_sweep(
        bars, StrategySpec(strategy="sma_cross", grid=grid), ExecutionSettings()
    ).digest()


def _wait(
    client: httpx.Client, run_id: str, *, until: set[str], timeout: float = 120.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        view = client.get(f"/api/backtests/{run_id}", headers=auth_headers("viewer")).json()
        if view["status"] in until:
            return view
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} still {view['status']} after {timeout}s: {view}")
        time.sleep(0.2)


@pytest.fixture
def goog(isolated_settings: Path) -> Any:
    return write_bars()


@pytest.fixture
def host(isolated_settings: Path, goog: Any) -> Iterator[RunningHost]:
    env = {
        **HOST_ENV,
        "LOCAL_DATA_DIR": str(isolated_settings),
        "BACKTEST_FAULT_INJECTION": "once:1,always:6,delay:0.15",
    }
    with start_host(env, app=APP, ready_timeout=120) as running:
        yield running


def test_sweep_validation_retry_failure_cancel_and_listing(host: RunningHost, goog: Any) -> None:
    client = httpx.Client(base_url=host.base_url, timeout=30)
    trader = auth_headers("trader")

    problems = {
        "unknown strategy": _body(SMALL_GRID)
        | {"strategy": {"strategy": "moon_phase", "grid": {}}},
        "no combination of the sma_cross grid satisfies fast < slow": _body(
            {"fast": "50", "slow": "20"}
        ),
        "BACKTEST_MAX_COMBINATIONS": _body({"fast": "1:400", "slow": "2:400"}),
        "no 1d bars": _body(SMALL_GRID) | {"start": "2030-01-01", "end": "2030-12-31"},
    }
    for expected, body in problems.items():
        response = client.post("/api/backtests", json=body, headers=trader)
        assert response.status_code in (400, 422), response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert expected in response.json()["detail"]
    assert (
        client.post(
            "/api/backtests", json=_body(SMALL_GRID), headers=auth_headers("viewer")
        ).status_code
        == 403
    )

    started = client.post("/api/backtests", json=_body(SMALL_GRID), headers=trader)
    assert started.status_code == 202, started.text
    run_id = started.json()["runId"]
    assert started.headers["Location"] == f"/api/backtests/{run_id}"
    done = _wait(client, run_id, until={"Completed", "Failed"})
    assert done["status"] == "Completed", done
    assert done["progress"]["chunksDone"] == done["progress"]["chunksTotal"] == 3
    assert done["progress"]["best"]["symbol"] == "GOOG"
    assert done["chunkStats"]["total"] == 3
    results = client.get(f"/api/backtests/{run_id}/results", headers=auth_headers("viewer")).json()
    assert results["symbols"]["GOOG"]["digest"] == _direct_digest(goog, SMALL_GRID)
    chart = httpx.get(results["urls"]["GOOG"]["chart"], timeout=10)
    assert chart.status_code == 200
    assert chart.content.startswith(b"\x89PNG")
    assert len(host.invocations("backtest_chunk")) >= 4  # chunk 1 ran twice (injected fault)
    assert (
        client.get(
            f"/api/backtests/{run_id}", headers=auth_headers("viewer", "mallory")
        ).status_code
        == 404
    )

    failing = client.post("/api/backtests", json=_body(LARGE_GRID), headers=trader).json()["runId"]
    failed = _wait(client, failing, until={"Completed", "Failed"})
    assert failed["status"] == "Failed"
    assert "chunk 6 (GOOG, combinations" in failed["error"]
    assert "always fails" in failed["error"]
    assert client.get(f"/api/backtests/{failing}/results", headers=trader).status_code == 409

    cancelled = client.post(
        "/api/backtests", json=_body(LARGE_GRID | {"fast": "5:45:5"}), headers=trader
    ).json()["runId"]
    _wait(client, cancelled, until={"Running"})
    assert client.delete(f"/api/backtests/{cancelled}", headers=trader).status_code == 202
    view = _wait(client, cancelled, until={"Terminated"}, timeout=10)
    assert view["status"] == "Terminated"
    assert client.delete(f"/api/backtests/{cancelled}", headers=trader).status_code == 409

    listed = client.get("/api/backtests", headers=auth_headers("viewer")).json()["items"]
    assert [item["runId"] for item in listed] == [cancelled, failing, run_id]
    assert [item["status"] for item in listed] == ["Terminated", "Failed", "Completed"]
    assert (
        client.get("/api/backtests", headers=auth_headers("viewer", "mallory")).json()["items"]
        == []
    )


def test_killed_host_resumes_the_run_with_the_same_result(
    isolated_settings: Path, goog: Any
) -> None:
    env = {
        **HOST_ENV,
        "LOCAL_DATA_DIR": str(isolated_settings),
        "BACKTEST_FAULT_INJECTION": "delay:0.3",
        "BACKTEST_MAX_CHUNKS_PER_ORCHESTRATION": "8",  # 19 chunks -> 3 sub-orchestrations
    }
    first = start_host(env, app=APP, ready_timeout=120)
    try:
        client = httpx.Client(base_url=first.base_url, timeout=30)
        run_id = client.post(
            "/api/backtests", json=_body(LARGE_GRID), headers=auth_headers()
        ).json()["runId"]
        deadline = time.monotonic() + 180
        while (
            client.get(f"/api/backtests/{run_id}", headers=auth_headers()).json()["progress"][
                "chunksDone"
            ]
            < 2
        ):
            assert time.monotonic() < deadline, first.logs
            time.sleep(0.1)
        workers = psutil.Process(first.process.pid).children(recursive=True)
        assert workers, "chunks should run in worker processes"
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait(timeout=10)
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive, "activity workers must exit when their host dies"
    finally:
        first.stop()

    with start_host(env, app=APP, ready_timeout=120) as second:
        client = httpx.Client(base_url=second.base_url, timeout=30)
        done = _wait(client, run_id, until={"Completed", "Failed"})
        assert done["status"] == "Completed", (done, second.logs)
        results = client.get(f"/api/backtests/{run_id}/results", headers=auth_headers()).json()
    assert results["symbols"]["GOOG"]["digest"] == _direct_digest(goog, LARGE_GRID)
    assert done["chunkStats"]["total"] == done["progress"]["chunksTotal"] > 8
