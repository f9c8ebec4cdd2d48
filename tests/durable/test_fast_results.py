"""A small sweep completes on its summary: the files behind its result URLs are written on the
first results request, byte for byte what the aggregate wrote before (BACKTEST_LAZY_FILES), once
per run however many ask at once (one write in a process; across processes the lease holder's,
the others wait, then 503 with Retry-After; an expired lease is taken over); a
sweep of one chunk runs inside the plan activity (BACKTEST_INLINE_SMALL_SWEEPS) with the same
results and, on a failure, falls back to the activities; the status route's long-poll
(`?waitSeconds=`) answers as soon as the run ends."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
import httpx
import pytest
from azure.durable_functions.models.utils import http_utils

from devhost.durable.engine import DurableEngine
from devhost.durable.plugin import DurablePlugin
from shared import offload
from shared.backtest import ExecutionSettings, StrategySpec, run_sweep, runs
from shared.backtest.runs import fanin, result_files
from shared.backtest.runs.documents import release_files_lease
from shared.backtest.runs.views import StoredRun
from shared.config import get_settings
from shared.storage.documents import UpdateContended
from shared.storage.factory import document_store
from testsupport.auth import auth_headers
from testsupport.bars import write_bars
from testsupport.host import in_process_host
from testsupport.routes import Reply, assert_problem, endpoint_of

APP = "tests.durable.apps.backtest_app:app"
GRID = {"fast": "5:20:5", "slow": "30:90:20"}
BODY = {"symbols": ["GOOG"], "strategy": {"strategy": "sma_cross", "grid": GRID}, "topN": 5}
FILES = ("leaderboard", "metrics", "equity", "trades", "heatmap", "chart")


@pytest.fixture
async def engine(
    isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[DurableEngine]:
    monkeypatch.setenv("BACKTEST_CHUNK_TARGET_SECONDS", "0.00022")
    get_settings.cache_clear()
    durable = DurableEngine(app_ref=APP, data_dir=isolated_settings, workers=0)
    await durable.start()
    yield durable
    await durable.stop()


def _activities(done: dict[str, Any]) -> list[str]:
    return [e["Name"] for e in done["history"] if e["EventType"] == 4]  # TaskScheduled


def _setenv(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()


async def _start(engine: DurableEngine, run_id: str) -> dict[str, Any]:
    request = runs.BacktestRequest.model_validate(BODY)
    doc = runs.run_document(run_id, "alice", request, runs.validate_request(request))
    document_store().create(runs.RUNS_CONTAINER, doc)
    job = {"runId": run_id, "accountId": "alice", "request": doc["request"]}
    engine.start_new("backtest_run", run_id, json.dumps(job))
    return await engine.wait(run_id, 180)


async def _run(engine: DurableEngine, run_id: str) -> dict[str, Any]:
    done = await _start(engine, run_id)
    assert done["runtimeStatus"] == "Completed", done["output"]
    return json.loads(runs.results_store().get(done["output"]["summary"]))


async def test_lazy_files_are_the_eager_files_written_on_first_request(
    engine: DurableEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    bars = write_bars()
    store = runs.results_store()
    monkeypatch.setenv("BACKTEST_LAZY_FILES", "false")
    get_settings.cache_clear()
    eager = await _run(engine, "eager")
    monkeypatch.delenv("BACKTEST_LAZY_FILES")
    get_settings.cache_clear()
    assert get_settings().backtest_lazy_files  # the default
    lazy = await _run(engine, "lazy")

    # the summary (what the results call returns) is the same, the names and times aside
    for summary in (lazy, eager):
        del summary["chunkStats"]
    assert json.loads(json.dumps(lazy).replace("lazy", "eager")) == eager
    direct = run_sweep(bars, StrategySpec(strategy="sma_cross", grid=GRID), ExecutionSettings())
    assert lazy["symbols"]["GOOG"]["digest"] == direct.digest()
    files = lazy["symbols"]["GOOG"]["files"]
    assert not any(store.exists(files[kind]) for kind in FILES)  # nothing written yet
    eager_files = eager["symbols"]["GOOG"]["files"]
    assert all(store.exists(eager_files[kind]) for kind in FILES)

    doc = runs.read_run("alice", "lazy")
    assert runs.write_result_files(doc) == 1
    assert runs.write_result_files(doc) == 0  # once: the chart, written last, is there
    for kind in FILES:
        assert store.get(files[kind]) == store.get(eager_files[kind]), kind
    assert store.get(files["chart"]).startswith(b"\x89PNG\r\n\x1a\n")


async def test_write_result_files_leaves_unfinished_and_walk_forward_runs_alone(
    engine: DurableEngine,
) -> None:
    write_bars()
    await _run(engine, "done")
    doc = runs.read_run("alice", "done")
    assert runs.write_result_files({**doc, "status": "Running"}) == 0
    walk = {
        **doc,
        "request": {**doc["request"], "walkForward": {"trainBars": 500, "testBars": 250}},
    }
    assert runs.write_result_files(walk) == 0
    assert not runs.results_store().exists(doc["results"]["symbols"]["GOOG"]["files"]["chart"])


async def test_status_long_poll_answers_when_the_run_ends(
    isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKTEST_WORKERS", "0")
    monkeypatch.setenv("ENVIRONMENT", "ci")
    monkeypatch.setenv("BACKTEST_FAULT_INJECTION", "delay:0.6")
    get_settings.cache_clear()
    write_bars()
    async with (
        in_process_host(APP, plugins=[DurablePlugin()]) as host,
        httpx.AsyncClient(base_url=host.base_url, timeout=60) as client,
    ):
        for bad in ("-1", "31", "nan", "inf", "1e999", "soon"):
            response = await client.get(
                f"/api/backtests/nope?waitSeconds={bad}", headers=auth_headers("viewer")
            )
            assert response.status_code == 422, (bad, response.text)
            assert "waitSeconds" in response.text

        started = await client.post("/api/backtests", json=BODY, headers=auth_headers())
        assert started.status_code == 202, started.text
        run_id = started.json()["runId"]
        status_url = f"/api/backtests/{run_id}"

        began = time.monotonic()  # a short wait ends with the run still going
        view = (await client.get(f"{status_url}?waitSeconds=0.2", headers=auth_headers())).json()
        assert view["status"] in ("Pending", "Running")
        assert 0.2 <= time.monotonic() - began < 0.6

        view = (await client.get(f"{status_url}?waitSeconds=30", headers=auth_headers())).json()
        assert view["status"] == "Completed", view  # one call, no polling
        assert set(view["timings"]) == {"planSeconds", "chunkSeconds", "aggregateSeconds"}
        assert view["progress"]["chunksDone"] == view["progress"]["chunksTotal"]

        began = time.monotonic()  # an ended run answers at once
        again = await client.get(f"{status_url}?waitSeconds=30", headers=auth_headers())
        assert again.json()["status"] == "Completed"
        assert time.monotonic() - began < 5.0

        doc = runs.read_run("alice", run_id)
        chart = doc["results"]["symbols"]["GOOG"]["files"]["chart"]
        assert not runs.results_store().exists(chart)
        results = await client.get(f"{status_url}/results", headers=auth_headers("viewer"))
        assert results.status_code == 200, results.text
        assert set(results.json()["urls"]["GOOG"]) == set(FILES)
        assert runs.results_store().get(chart).startswith(b"\x89PNG")
        await asyncio.sleep(0)
    await http_utils._close_session()


async def test_one_chunk_runs_inside_the_plan_with_the_same_results(
    engine: DurableEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    bars = write_bars()
    _setenv(monkeypatch, BACKTEST_CHUNK_TARGET_SECONDS="3", BACKTEST_INLINE_SMALL_SWEEPS="false")
    apart = await _start(engine, "apart")
    _setenv(monkeypatch, BACKTEST_INLINE_SMALL_SWEEPS="true")
    inline = await _start(engine, "inline")
    assert apart["runtimeStatus"] == inline["runtimeStatus"] == "Completed"
    assert _activities(apart) == ["backtest_plan", "backtest_chunk", "backtest_aggregate"]
    assert _activities(inline) == ["backtest_plan"]

    direct = run_sweep(bars, StrategySpec(strategy="sma_cross", grid=GRID), ExecutionSettings())
    assert inline["output"]["symbols"]["GOOG"]["digest"] == direct.digest()
    assert (
        json.loads(json.dumps(inline["output"]).replace("inline", "apart"))["symbols"]
        == (apart["output"]["symbols"])
    )
    assert inline["customStatus"] == apart["customStatus"]  # done, 1 of 1, the same best
    assert inline["customStatus"]["stage"] == "done"
    assert inline["customStatus"]["best"]["symbol"] == "GOOG"
    store = runs.results_store()
    first, second = (json.loads(store.get(done["output"]["summary"])) for done in (inline, apart))
    for summary in (first, second):
        del summary["chunkStats"]
    assert json.loads(json.dumps(first).replace("inline", "apart")) == second
    doc = runs.read_run("alice", "inline")
    assert doc["status"] == "Completed"
    assert doc["chunkStats"]["total"] == doc["chunkStats"]["done"] == 1
    assert set(doc["timings"]) == {"planSeconds", "chunkSeconds", "aggregateSeconds"}


@pytest.mark.parametrize("fault", ["always:0", "once:0"])
async def test_an_inline_failure_falls_back_to_the_activities(
    engine: DurableEngine, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    write_bars()
    _setenv(
        monkeypatch,
        BACKTEST_CHUNK_TARGET_SECONDS="3",
        ENVIRONMENT="ci",
        BACKTEST_FAULT_INJECTION=fault,
    )
    done = await _start(engine, "faulty")
    activities = _activities(done)
    assert activities[:2] == ["backtest_plan", "backtest_chunk"]
    if fault == "always:0":  # the chunk's own retries, then the error names it as before
        assert done["runtimeStatus"] == "Failed"
        assert activities.count("backtest_chunk") == 3
        error = runs.read_run("alice", "faulty")["error"]
        assert error.startswith("chunk 0 (GOOG, combinations 0..")
        assert "after 3 attempts failed: RuntimeError: injected fault" in error
    else:
        assert done["runtimeStatus"] == "Completed"
        assert activities == ["backtest_plan", "backtest_chunk", "backtest_aggregate"]


class NoStatus:
    """A stand-in Durable client that knows no orchestration: a run's status is its
    document's (Completed once its aggregate ran)."""

    async def start_new(self, name: str, instance_id: str, client_input: Any, /) -> Any:
        raise AssertionError("no run starts here")

    async def get_status(self, instance_id: str, /) -> Any:
        return None

    async def terminate(self, instance_id: str, reason: str, /) -> Any:
        raise AssertionError("no run ends here")


def _spy_writes(monkeypatch: pytest.MonkeyPatch, fail_first: bool = False) -> list[int | str]:
    """Each call of the lazy write (what it returned, or "failed"), and below it each merge
    of a symbol's chunks (the CPU work: `sweep_of`) as "merge SYMBOL"."""
    calls: list[int | str] = []
    real_write, real_merge = fanin.write_result_files, fanin.sweep_of

    def write(doc: StoredRun) -> int:
        if fail_first and not calls:
            calls.append("failed")
            raise RuntimeError("disk full")
        written = real_write(doc)
        calls.append(written)
        return written

    def merge(*args: Any) -> Any:
        calls.append(f"merge {args[2]}")
        return real_merge(*args)

    assert not offload.in_processes()  # so the spies run: the write is in a thread here
    monkeypatch.setattr(result_files, "write_result_files", write)
    monkeypatch.setattr(fanin, "sweep_of", merge)
    return calls


def _unsigned(answer: runs.RunResults) -> Any:
    """A results answer without its URLs' signatures (they carry the signing second)."""
    return json.loads(re.sub(r"\?se=\d+&sig=[^\"]+", "", answer.model_dump_json()))


def _lease(run_id: str, holder: str, seconds: float) -> None:
    """Record `holder`'s files lease ending `seconds` from now, as another process would."""
    expires = datetime.now(UTC) + timedelta(seconds=seconds)
    runs.update_run(
        "alice", run_id, filesLease={"holder": holder, "expiresAt": expires.isoformat()}
    )


async def _eager_and_lazy(
    engine: DurableEngine, monkeypatch: pytest.MonkeyPatch, lazy: str
) -> tuple[dict[str, str], dict[str, str]]:
    """Run the sweep with the files written by the aggregate, then lazily as `lazy`; their
    file names."""
    write_bars()
    _setenv(monkeypatch, BACKTEST_LAZY_FILES="false")
    eager = await _run(engine, "eager")
    _setenv(monkeypatch, BACKTEST_LAZY_FILES="true")
    files = (await _run(engine, lazy))["symbols"]["GOOG"]["files"]
    assert not runs.results_store().exists(files["chart"])
    return eager["symbols"]["GOOG"]["files"], files


def _assert_same_files(files: dict[str, str], expected: dict[str, str]) -> None:
    store = runs.results_store()
    for kind in FILES:
        assert store.get(files[kind]) == store.get(expected[kind]), kind


async def test_concurrent_first_results_calls_write_the_files_once(
    engine: DurableEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    eager, files = await _eager_and_lazy(engine, monkeypatch, "lazy")
    doc = runs.read_run("alice", "lazy")
    service = runs.RunService(NoStatus())

    # the one write fails: every caller waiting on it gets its error, and it does not stick
    calls = _spy_writes(monkeypatch, fail_first=True)
    failed = await asyncio.gather(*(service.results(doc) for _ in range(6)), return_exceptions=True)
    assert [str(error) for error in failed] == ["disk full"] * 6
    assert all(isinstance(error, RuntimeError) for error in failed)
    assert calls == ["failed"]
    assert "filesLease" not in runs.read_run("alice", "lazy")  # released
    assert not result_files._in_flight

    calls = _spy_writes(monkeypatch)
    answers = await asyncio.gather(*(service.results(doc) for _ in range(8)))
    assert calls == ["merge GOOG", 1]  # one write, one merge, for eight callers
    assert all(_unsigned(answer) == _unsigned(answers[0]) for answer in answers)
    assert set(answers[0].urls["GOOG"]) == set(FILES)
    _assert_same_files(files, eager)
    assert "filesLease" not in runs.read_run("alice", "lazy")
    assert not result_files._in_flight

    again = await service.results(doc)  # the files are there: nothing is written again
    assert calls == ["merge GOOG", 1]
    assert _unsigned(again) == _unsigned(answers[0])


def _results_request(run_id: str) -> func.HttpRequest:
    return func.HttpRequest(
        "GET",
        f"http://127.0.0.1:7071/api/backtests/{run_id}/results",
        headers=auth_headers("viewer"),
        params={},
        route_params={"run_id": run_id},
        body=b"",
    )


async def _get_results(run_id: str) -> Reply:
    """GET /api/backtests/{run_id}/results through the registered route."""
    response = await endpoint_of("backtests_results")(_results_request(run_id), client=NoStatus())
    return Reply(
        status=response.status_code,
        headers=dict(response.headers),
        body=response.get_body(),
        mimetype=response.mimetype,
    )


async def test_a_lease_held_elsewhere_is_waited_for_then_answered_503_until_it_expires(
    engine: DurableEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    eager, files = await _eager_and_lazy(engine, monkeypatch, "held")
    store = runs.results_store()
    calls = _spy_writes(monkeypatch)
    _setenv(monkeypatch, BACKTEST_FILES_WAIT_SECONDS="0.3")
    _lease("held", "other-host:4242:writing", 60)

    began = time.monotonic()
    reply = await _get_results("held")
    assert 0.3 <= time.monotonic() - began < 5.0  # it waited, bounded
    assert_problem(
        reply,
        503,
        "Results being prepared",
        "the result files of run held are being prepared by another request",
        type_="/problems/results-preparing",
    )
    assert reply.headers["Retry-After"] == "2"
    assert reply.json["retryAfter"] == 2
    assert calls == []  # it did not do the holder's work
    assert not store.exists(files["chart"])
    assert runs.read_run("alice", "held")["filesLease"]["holder"] == "other-host:4242:writing"

    # the holder died: once its lease expired the next caller takes over and writes
    _lease("held", "other-host:4242:writing", -1)
    reply = await _get_results("held")
    assert reply.status == 200, reply.body
    assert calls == ["merge GOOG", 1]
    _assert_same_files(files, eager)
    assert "filesLease" not in runs.read_run("alice", "held")


async def test_a_caller_waits_for_the_files_another_process_writes(
    engine: DurableEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    eager, files = await _eager_and_lazy(engine, monkeypatch, "shared")
    calls = _spy_writes(monkeypatch)
    _setenv(monkeypatch, BACKTEST_FILES_WAIT_SECONDS="20")
    holder = "other-host:4242:writing"
    _lease("shared", holder, 60)
    doc = runs.read_run("alice", "shared")

    def other_process() -> None:
        time.sleep(0.2)
        assert fanin.write_result_files(doc) == 1  # the real write, not the spied one
        release_files_lease("alice", "shared", holder)

    reply, _ = await asyncio.gather(_get_results("shared"), asyncio.to_thread(other_process))
    assert reply.status == 200, reply.body
    assert set(reply.json["urls"]["GOOG"]) == set(FILES)
    assert calls == ["merge GOOG"]  # the holder's: this caller waited and wrote nothing
    _assert_same_files(files, eager)


async def test_the_writer_renews_its_lease_while_it_writes(
    isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _setenv(monkeypatch, BACKTEST_FILES_LEASE_SECONDS="5")  # renewed every 5/3 s
    request = runs.BacktestRequest.model_validate(BODY)
    doc = {**runs.run_document("long", "alice", request, 1), "status": "Completed"}
    document_store().create(runs.RUNS_CONTAINER, doc)
    leases: list[str] = []

    def slow_write(doc: StoredRun) -> int:
        for _ in range(3):
            leases.append(runs.read_run("alice", "long")["filesLease"]["expiresAt"])
            time.sleep(1.0)
        return 1

    monkeypatch.setattr(result_files, "write_result_files", slow_write)
    await result_files.ensure_result_files(doc)
    first = datetime.fromisoformat(leases[0])
    last = datetime.fromisoformat(leases[-1])
    assert last - first >= timedelta(seconds=1.5)  # renewed: a long write is not taken over
    assert "filesLease" not in runs.read_run("alice", "long")


async def test_a_lease_that_cannot_be_released_leaves_the_written_files_served(
    engine: DurableEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    eager, files = await _eager_and_lazy(engine, monkeypatch, "lazy")
    doc = runs.read_run("alice", "lazy")
    calls = _spy_writes(monkeypatch)

    def contended(*_: Any) -> None:
        raise UpdateContended("the run document kept changing")

    monkeypatch.setattr(result_files, "release_files_lease", contended)
    answers = await asyncio.gather(*(runs.RunService(NoStatus()).results(doc) for _ in range(3)))
    assert calls == ["merge GOOG", 1]
    assert all(set(answer.urls["GOOG"]) == set(FILES) for answer in answers)
    _assert_same_files(files, eager)
    lease = runs.read_run("alice", "lazy")["filesLease"]  # left to expire by itself
    assert datetime.fromisoformat(lease["expiresAt"]) > datetime.now(UTC)
