"""The backtest orchestration: plan, fan out chunk activities (with retries, progress in the
custom status, sub-orchestrations when the chunk count is large), fan in an aggregate."""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.Task import TaskState

from durable import runs
from shared import telemetry
from shared.backtest.sweep import rank_key

bp = df.Blueprint()

RUN_ORCHESTRATOR = "backtest_run"
BLOCK_ORCHESTRATOR = "backtest_block"
CHUNK_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=500, max_number_of_attempts=3)
STEP_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=2)

Orchestration = Generator[Any, Any, Any]
_NESTED_FAILURE = re.compile(r"^(?:Failed: )?Orchestrator function '[^']*' failed: ")


def block_instance_id(run_id: str, block: int) -> str:
    """The instance id of a run's block sub-orchestration: deterministic, so the routes can
    find (and cancel) every child from the run id alone."""
    return f"{run_id}:b{block:03d}"


class ChunkFailed(Exception):
    """A chunk still failed after its retries; the message names it."""


def _better(best: dict[str, Any] | None, candidate: dict[str, Any] | None) -> dict[str, Any] | None:
    if candidate is None or candidate.get("value") is None:
        return best
    if best is None or rank_key(candidate["value"], candidate.get("ruined")) < rank_key(
        best["value"], best.get("ruined")
    ):
        return candidate
    return best


def _describe(item: dict[str, Any]) -> str:
    chunk = item["chunk"]
    window = item.get("window")
    where = f", walk-forward window {window['index']}" if window else ""
    return (
        f"chunk {item['id']} ({item['symbol']}{where}, combinations "
        f"{chunk['start']}..{chunk['stop'] - 1}) "
        f"after {CHUNK_RETRY.max_number_of_attempts} attempts"
    )


def _chunk_job(job: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    chunk = {
        "runId": job["runId"],
        "accountId": job["accountId"],
        "request": job["request"],
        "data": job["data"][item["symbol"]],
        "item": item,
    }
    return dict(telemetry.carry(job, chunk))


def _fan_out(
    context: df.DurableOrchestrationContext,
    tasks: list[Any],
    labels: list[str],
    weights: list[int],
    status: dict[str, Any],
) -> Orchestration:
    """Wait for every task, one completion at a time, keeping progress in the custom status.
    A failed task (after its retries) raises `ChunkFailed` naming it."""
    pending = list(range(len(tasks)))
    results: list[Any] = [None] * len(tasks)
    context.set_custom_status(status)
    while pending:
        finished = yield context.task_any([tasks[i] for i in pending])
        index = next(i for i in pending if tasks[i] is finished)
        pending.remove(index)
        if finished.state is TaskState.FAILED:
            reason = _NESTED_FAILURE.sub("", str(finished.result).split(" \n ", 1)[0])
            raise ChunkFailed(f"{labels[index]} failed: {reason}")
        result = finished.result
        results[index] = result
        summaries = result if isinstance(result, list) else [result]
        status["chunksDone"] += weights[index]
        for summary in summaries:
            status["best"] = _better(status.get("best"), summary.get("best"))
        context.set_custom_status(status)
    return results


@bp.orchestration_trigger(context_name="context", orchestration=RUN_ORCHESTRATOR)
def backtest_run(context: df.DurableOrchestrationContext) -> Orchestration:
    job = context.get_input()
    status: dict[str, Any] = {
        "stage": "planning",
        "chunksDone": 0,
        "chunksTotal": None,
        "best": None,
    }
    context.set_custom_status(status)
    try:
        plan = yield context.call_activity_with_retry("backtest_plan", STEP_RETRY, job)
        job = {**job, "data": plan["data"], "planSeconds": plan["planSeconds"]}
        items: list[dict[str, Any]] = plan["items"]
        limit = int(plan["maxChunksPerOrchestration"])
        status.update(stage="running", chunksTotal=len(items))
        if len(items) <= limit:
            tasks = [
                context.call_activity_with_retry("backtest_chunk", CHUNK_RETRY, _chunk_job(job, i))
                for i in items
            ]
            summaries = yield from _fan_out(
                context, tasks, [_describe(i) for i in items], [1] * len(items), status
            )
        else:
            blocks = _blocks(items, limit)
            status["blocks"] = len(blocks)
            children = [
                context.call_sub_orchestrator(
                    BLOCK_ORCHESTRATOR,
                    {
                        "job": {k: job[k] for k in ("runId", "accountId", "request", "data")},
                        "items": block,
                    },
                    instance_id=block_instance_id(context.instance_id, n),
                )
                for n, block in enumerate(blocks)
            ]
            labels = [f"block {n} of {len(blocks)} ({len(b)} chunks)" for n, b in enumerate(blocks)]
            nested = yield from _fan_out(
                context, children, labels, [len(b) for b in blocks], status
            )
            summaries = [summary for block in nested for summary in block]
        evaluations: list[dict[str, Any]] = []
        if plan["evaluations"]:
            status["stage"] = "evaluating"
            context.set_custom_status(status)
            evaluations = yield context.task_all(
                [
                    context.call_activity_with_retry(
                        "backtest_evaluate",
                        STEP_RETRY,
                        {
                            **_chunk_job(job, {"symbol": e["symbol"], "id": -1}),
                            "window": e["window"],
                            "refs": [
                                s["ref"]
                                for s in summaries
                                if s["symbol"] == e["symbol"]
                                and s["window"] == e["window"]["index"]
                            ],
                        },
                    )
                    for e in plan["evaluations"]
                ]
            )
        status["stage"] = "aggregating"
        context.set_custom_status(status)
        result = yield context.call_activity_with_retry(
            "backtest_aggregate",
            STEP_RETRY,
            telemetry.carry(
                job,
                {
                    **{k: job[k] for k in ("runId", "accountId", "request", "data", "planSeconds")},
                    "chunks": [
                        {k: s[k] for k in ("symbol", "ref", "seconds", "window")} for s in summaries
                    ],
                    "evaluations": evaluations,
                },
            ),
        )
        status["stage"] = "done"
        context.set_custom_status(status)
        return result
    except Exception as error:
        message = str(error).split(" \n ", 1)[0]
        status["stage"] = "failed"
        context.set_custom_status(status)
        yield context.call_activity(
            "backtest_failed", {**{k: job[k] for k in ("runId", "accountId")}, "error": message}
        )
        raise ChunkFailed(message) from None


def _blocks(items: list[dict[str, Any]], limit: int) -> list[list[dict[str, Any]]]:
    """Chunks grouped per symbol, each group cut into blocks of at most `limit`."""
    blocks: list[list[dict[str, Any]]] = []
    by_symbol: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        by_symbol.setdefault(item["symbol"], []).append(item)
    for group in by_symbol.values():
        blocks.extend(group[i : i + limit] for i in range(0, len(group), limit))
    return blocks


@bp.orchestration_trigger(context_name="context", orchestration=BLOCK_ORCHESTRATOR)
def backtest_block(context: df.DurableOrchestrationContext) -> Orchestration:
    """One block of chunks of a large sweep, so no single history grows without bound."""
    payload = context.get_input()
    job, items = payload["job"], payload["items"]
    status: dict[str, Any] = {
        "stage": "running",
        "chunksDone": 0,
        "chunksTotal": len(items),
        "best": None,
    }
    tasks = [
        context.call_activity_with_retry("backtest_chunk", CHUNK_RETRY, _chunk_job(job, i))
        for i in items
    ]
    summaries = yield from _fan_out(
        context, tasks, [_describe(i) for i in items], [1] * len(items), status
    )
    return summaries


@bp.activity_trigger(input_name="job")
def backtest_plan(job: dict[str, Any]) -> dict[str, Any]:
    with telemetry.activity("backtest_plan", job, run_id=job["runId"]):
        return runs.plan_run(job)


@bp.activity_trigger(input_name="job")
def backtest_chunk(job: dict[str, Any]) -> dict[str, Any]:
    with telemetry.activity("backtest_chunk", job, run_id=job["runId"]):
        return runs.run_chunk_item(job)


@bp.activity_trigger(input_name="job")
def backtest_evaluate(job: dict[str, Any]) -> dict[str, Any]:
    with telemetry.activity("backtest_evaluate", job, run_id=job["runId"]):
        return runs.evaluate_item(job)


@bp.activity_trigger(input_name="job")
def backtest_aggregate(job: dict[str, Any]) -> dict[str, Any]:
    with telemetry.activity("backtest_aggregate", job, run_id=job["runId"]):
        return runs.aggregate_run(job)


@bp.activity_trigger(input_name="job")
def backtest_failed(job: dict[str, Any]) -> None:
    runs.finish_failed(job)
