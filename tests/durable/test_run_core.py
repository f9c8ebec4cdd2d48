"""The run core (`shared.backtest.runs`) on its own: the run document's one update path loses
no update under racing writers and keeps an ended run ended; typed messages survive the JSON
round trip the Durable SDK gives them and stay small; the progress contract; views read a
run document stored with snake_case names as one with camelCase names."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.backtest import ExecutionSettings, StrategySpec
from shared.backtest.runs import (
    RUNS_CONTAINER,
    TERMINAL,
    BacktestRequest,
    Best,
    ChunkItem,
    ChunkSummary,
    ChunkTask,
    DataRef,
    Progress,
    RunJob,
    SweepJob,
    from_wire,
    read_run,
    run_document,
    update_run,
    view_of,
    wire,
)
from shared.backtest.runs.messages import ChunkRange, Window
from shared.errors import InvalidInput
from shared.orchestration import TERMINAL as RUNTIME_TERMINAL
from shared.storage.documents import DocumentStore, UpdateContended
from shared.storage.factory import document_store

BODY = {
    "symbols": ["GOOG"],
    "strategy": {"strategy": "sma_cross", "grid": {"fast": "5:20:5", "slow": "30:90:20"}},
}


@pytest.fixture
def stored_run(isolated_settings: Path) -> str:
    request = BacktestRequest.model_validate(BODY)
    document_store().create(RUNS_CONTAINER, run_document("r1", "alice", request, 16))
    return "r1"


def test_racing_updates_all_land(stored_run: str) -> None:
    """20 threads each set their own field at once: every one is in the document."""
    barrier = threading.Barrier(20)

    def write(n: int) -> None:
        barrier.wait()
        update_run("alice", stored_run, **{f"field{n}": n})

    threads = [threading.Thread(target=write, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    doc = read_run("alice", stored_run)
    assert {k: doc[k] for k in doc if k.startswith("field")} == {f"field{n}": n for n in range(20)}


def test_an_ended_run_keeps_its_status_end_and_error(stored_run: str) -> None:
    update_run("alice", stored_run, status="Terminated", completedAt="t1", error="cancelled by a")
    update_run(
        "alice", stored_run, status="Running", completedAt="t2", error="late", timings={"x": 1.0}
    )
    doc = read_run("alice", stored_run)
    assert (doc["status"], doc["completedAt"], doc["error"]) == (
        "Terminated",
        "t1",
        "cancelled by a",
    )
    assert doc["timings"] == {"x": 1.0}


def test_a_missing_run_is_left_alone(isolated_settings: Path) -> None:
    update_run("alice", "nope", status="Running")
    assert document_store().query_all(RUNS_CONTAINER, None) == []


def test_an_update_that_keeps_losing_raises_instead_of_vanishing(
    stored_run: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = document_store()
    real = DocumentStore.update

    def impatient(self: DocumentStore, *args: Any, **kwargs: Any) -> Any:
        return real(self, *args, **{**kwargs, "attempts": 3, "timeout": 1.0})

    def always_stale(*args: Any, **kwargs: Any) -> Any:
        from shared.storage.documents import StaleEtag

        raise StaleEtag("someone else wrote it")

    monkeypatch.setattr(type(store), "update", impatient)
    monkeypatch.setattr(store, "upsert", always_stale)
    monkeypatch.setattr("shared.backtest.runs.documents.document_store", lambda: store)
    with pytest.raises(UpdateContended):
        update_run("alice", stored_run, status="Running")


def test_one_set_of_terminal_states() -> None:
    assert TERMINAL is RUNTIME_TERMINAL
    assert {"Completed", "Failed", "Terminated", "Canceled"} == TERMINAL


def _job() -> RunJob:
    return RunJob(
        run_id="r1",
        account_id="alice",
        request=BacktestRequest.model_validate(BODY),
        trace_context={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"},
    )


def test_messages_survive_the_sdk_json_round_trip() -> None:
    job = _job()
    back = from_wire(RunJob, json.loads(json.dumps(wire(job))))
    assert back == job
    assert wire(job)["runId"] == "r1"
    assert wire(job)["traceContext"] == job.trace_context
    data = {"GOOG": DataRef(symbol="GOOG", blob="runs/r1/data/GOOG.parquet", bars=2148)}
    item = ChunkItem(
        id=3,
        symbol="GOOG",
        chunk=ChunkRange(index=3, start=12, stop=16),
        window=Window(index=1, train_start=250, train_stop=750, test_start=750, test_stop=1000),
    )
    task = SweepJob.of(job, data).chunk_task(item)
    payload = json.loads(json.dumps(wire(task)))
    assert from_wire(ChunkTask, payload) == task
    assert "request" not in payload  # the chunk carries its own work, not the run's request
    assert payload["item"]["window"]["trainStart"] == 250
    assert payload["metric"] == "sharpe_ratio"
    assert len(json.dumps(payload)) < 2_000
    assert task.item.describe(3) == (
        "chunk 3 (GOOG, walk-forward window 1, combinations 12..15) after 3 attempts"
    )


def test_a_chunk_task_does_not_recheck_the_spec_against_its_strategy() -> None:
    """Validated once at the edge: inside the run a spec is read as trusted (no strategy
    declaration check, which would fail here for an unregistered name)."""
    task = SweepJob.of(_job(), {"GOOG": DataRef(symbol="GOOG", blob="b", bars=1)}).chunk_task(
        ChunkItem(id=0, symbol="GOOG", chunk=ChunkRange(index=0, start=0, stop=4))
    )
    payload = wire(task)
    payload["spec"]["strategy"] = "not_registered_here"
    assert from_wire(ChunkTask, payload).spec.strategy == "not_registered_here"
    with pytest.raises(InvalidInput, match="unknown strategy 'not_registered_here'"):
        ChunkTask.model_validate(payload)


@settings(max_examples=50, deadline=None)
@given(
    done=st.integers(0, 10_000),
    total=st.one_of(st.none(), st.integers(0, 10_000)),
    blocks=st.one_of(st.none(), st.integers(1, 50)),
    value=st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
)
def test_progress_round_trips_through_the_custom_status(
    done: int, total: int | None, blocks: int | None, value: float | None
) -> None:
    best = Best(symbol="GOOG", combo=2, params={"fast": 5, "slow": 30}, value=value, ruined=False)
    progress = Progress(
        stage="running", chunks_done=done, chunks_total=total, blocks=blocks, best=best
    )
    status = json.loads(json.dumps(progress.to_status()))
    assert ("blocks" in status) == (blocks is not None)
    assert Progress.of(status) == progress


def test_progress_of_anything_else_is_empty() -> None:
    for custom in (None, "waiting", {"unknown": 1}, [1, 2]):
        assert Progress.of(custom) == Progress(stage=None)


def test_a_snake_case_run_document_reads_like_a_camel_case_one(isolated_settings: Path) -> None:
    request = BacktestRequest.model_validate(BODY)
    camel = run_document("r1", "alice", request, 16) | {
        "status": "Completed",
        "startedAt": "2026-01-01T00:00:01Z",
        "chunkStats": {"total": 4, "done": 4},
        "timings": {"planSeconds": 1.0},
    }
    snake = {
        (k if k in ("id", "pk") else "".join(f"_{c.lower()}" if c.isupper() else c for c in k)): v
        for k, v in camel.items()
    }
    assert "account_id" in snake
    assert "chunk_stats" in snake
    assert view_of(snake, None) == view_of(camel, None)
    view = view_of(snake, None)
    assert (view.account_id, view.status, view.progress.chunks_done) == ("alice", "Completed", 4)
    assert view.progress.percent == 100.0


def test_chunk_summaries_keep_their_wire_names() -> None:
    summary = ChunkSummary(
        id=1, symbol="GOOG", window=None, ref="runs/r/chunks/x", combinations=4, seconds=0.5
    )
    assert wire(summary) == {
        "id": 1,
        "symbol": "GOOG",
        "window": None,
        "ref": "runs/r/chunks/x",
        "combinations": 4,
        "seconds": 0.5,
        "best": None,
    }
    assert StrategySpec.model_validate(wire(_job())["request"]["strategy"]).grid["fast"] == [
        5,
        10,
        15,
        20,
    ]
    assert ExecutionSettings.model_validate(wire(_job())["request"]["execution"]) == (
        ExecutionSettings()
    )


def test_the_routes_take_the_durable_client_as_their_binding_argument() -> None:
    """Each backtest function's signature is what the worker binds: the request and, but for
    the list, the Durable client (`endpoint` passes a handler's bindings through)."""
    import inspect

    import azure.functions as func

    from functions.backtests import bp

    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    app.register_functions(bp)  # a fresh app: an app's get_functions runs only once
    found = {}
    for function in app.get_functions():
        name = str(function.get_function_name())
        if not name.startswith("backtests_"):
            continue
        bindings = {
            b.get_dict_repr()["type"]: b.get_dict_repr()["name"] for b in function.get_bindings()
        }
        found[name] = (list(inspect.signature(function.get_user_function()).parameters), bindings)
    assert found == {
        "backtests_start": (
            ["req", "client"],
            {"httpTrigger": "req", "durableClient": "client", "http": "$return"},
        ),
        "backtests_list": (["req"], {"httpTrigger": "req", "http": "$return"}),
        "backtests_status": (
            ["req", "client"],
            {"httpTrigger": "req", "durableClient": "client", "http": "$return"},
        ),
        "backtests_results": (
            ["req", "client"],
            {"httpTrigger": "req", "durableClient": "client", "http": "$return"},
        ),
        "backtests_cancel": (
            ["req", "client"],
            {"httpTrigger": "req", "durableClient": "client", "http": "$return"},
        ),
    }
