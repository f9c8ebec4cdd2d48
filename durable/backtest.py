"""The backtest orchestration: plan, fan out chunk activities (with retries, progress in the
custom status, sub-orchestrations when the chunk count is large), fan in an aggregate. The
work is in `shared.backtest.runs`; here only the orchestrators and one-line activities, which
pass typed messages as JSON (`wire`) across the Durable boundary."""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.Task import TaskState

from durable.steps import CHUNK_RETRY, STEP_RETRY, step
from shared.backtest.runs import (
    AGGREGATE_ACTIVITY,
    BLOCK_ORCHESTRATOR,
    CHUNK_ACTIVITY,
    EVALUATE_ACTIVITY,
    FAILED_ACTIVITY,
    PLAN_ACTIVITY,
    RUN_ORCHESTRATOR,
    AggregateTask,
    BlockJob,
    ChunkItem,
    ChunkSummary,
    ChunkTask,
    EvaluateTask,
    FailedTask,
    Plan,
    Progress,
    RunJob,
    SweepJob,
    WindowOutcome,
    aggregate_run,
    better,
    block_instance_id,
    evaluate_item,
    finish_failed,
    from_wire,
    plan_run,
    run_chunk_item,
    wire,
)

bp = df.Blueprint()


Orchestration = Generator[Any, Any, Any]
_NESTED_FAILURE = re.compile(r"^(?:Failed: )?Orchestrator function '[^']*' failed: ")


class ChunkFailed(Exception):
    """A chunk still failed after its retries; the message names it."""


def _describe(item: ChunkItem) -> str:
    return item.describe(CHUNK_RETRY.max_number_of_attempts)


def _summaries(result: Any) -> list[ChunkSummary]:
    """A chunk's summary, or a block's list of them."""
    return [from_wire(ChunkSummary, r) for r in (result if isinstance(result, list) else [result])]


def _fan_out(
    context: df.DurableOrchestrationContext,
    tasks: list[Any],
    labels: list[str],
    weights: list[int],
    progress: Progress,
) -> Orchestration:
    """Wait for every task, one completion at a time, keeping progress in the custom status.
    A failed task (after its retries) raises `ChunkFailed` naming it. Returns every chunk
    summary, in task order."""
    pending = list(range(len(tasks)))
    results: list[list[ChunkSummary]] = [[] for _ in tasks]
    context.set_custom_status(progress.to_status())
    while pending:
        finished = yield context.task_any([tasks[i] for i in pending])
        index = next(i for i in pending if tasks[i] is finished)
        pending.remove(index)
        if finished.state is TaskState.FAILED:
            reason = _NESTED_FAILURE.sub("", str(finished.result).split(" \n ", 1)[0])
            raise ChunkFailed(f"{labels[index]} failed: {reason}")
        results[index] = _summaries(finished.result)
        progress.chunks_done += weights[index]
        for summary in results[index]:
            progress.best = better(progress.best, summary.best)
        context.set_custom_status(progress.to_status())
    return [summary for result in results for summary in result]


def _chunks(
    context: df.DurableOrchestrationContext, sweep: SweepJob, items: list[ChunkItem]
) -> list[Any]:
    return [
        context.call_activity_with_retry(CHUNK_ACTIVITY, CHUNK_RETRY, wire(sweep.chunk_task(i)))
        for i in items
    ]


@bp.orchestration_trigger(context_name="context", orchestration=RUN_ORCHESTRATOR)
def backtest_run(context: df.DurableOrchestrationContext) -> Orchestration:
    job = from_wire(RunJob, context.get_input())
    progress = Progress()
    context.set_custom_status(progress.to_status())
    try:
        planned = yield context.call_activity_with_retry(PLAN_ACTIVITY, STEP_RETRY, wire(job))
        plan = from_wire(Plan, planned)
        if plan.done is not None:  # one chunk, run to its end by the plan activity
            progress.stage, progress.chunks_total, progress.chunks_done = "done", 1, 1
            progress.best = plan.done.chunk.best
            context.set_custom_status(progress.to_status())
            return wire(plan.done.output)
        sweep = SweepJob.of(job, plan.data)
        items = plan.items
        limit = plan.max_chunks_per_orchestration
        progress.stage, progress.chunks_total = "running", len(items)
        if len(items) <= limit:
            labels = [_describe(i) for i in items]
            tasks = _chunks(context, sweep, items)
            summaries = yield from _fan_out(context, tasks, labels, [1] * len(items), progress)
        else:
            blocks = _blocks(items, limit)
            progress.blocks = len(blocks)
            children = [
                context.call_sub_orchestrator(
                    BLOCK_ORCHESTRATOR,
                    wire(BlockJob(items=block, **dict(sweep))),
                    instance_id=block_instance_id(context.instance_id, n),
                )
                for n, block in enumerate(blocks)
            ]
            labels = [f"block {n} of {len(blocks)} ({len(b)} chunks)" for n, b in enumerate(blocks)]
            weights = [len(b) for b in blocks]
            summaries = yield from _fan_out(context, children, labels, weights, progress)
        evaluations: list[WindowOutcome] = []
        if plan.evaluations:
            progress.stage = "evaluating"
            context.set_custom_status(progress.to_status())
            outcomes = yield context.task_all(
                [
                    context.call_activity_with_retry(
                        EVALUATE_ACTIVITY,
                        STEP_RETRY,
                        wire(
                            sweep.evaluate_task(
                                e,
                                [
                                    s.ref
                                    for s in summaries
                                    if s.symbol == e.symbol and s.window == e.window.index
                                ],
                            )
                        ),
                    )
                    for e in plan.evaluations
                ]
            )
            evaluations = [from_wire(WindowOutcome, o) for o in outcomes]
        progress.stage = "aggregating"
        context.set_custom_status(progress.to_status())
        task = AggregateTask.of(job, plan, summaries, evaluations)
        result = yield context.call_activity_with_retry(AGGREGATE_ACTIVITY, STEP_RETRY, wire(task))
        progress.stage = "done"
        context.set_custom_status(progress.to_status())
        return result
    except Exception as error:
        message = str(error).split(" \n ", 1)[0]
        progress.stage = "failed"
        context.set_custom_status(progress.to_status())
        failed = FailedTask(run_id=job.run_id, account_id=job.account_id, error=message)
        yield context.call_activity(FAILED_ACTIVITY, wire(failed))
        raise ChunkFailed(message) from None


def _blocks(items: list[ChunkItem], limit: int) -> list[list[ChunkItem]]:
    """Chunks grouped per symbol, each group cut into blocks of at most `limit`."""
    blocks: list[list[ChunkItem]] = []
    by_symbol: dict[str, list[ChunkItem]] = {}
    for item in items:
        by_symbol.setdefault(item.symbol, []).append(item)
    for group in by_symbol.values():
        blocks.extend(group[i : i + limit] for i in range(0, len(group), limit))
    return blocks


@bp.orchestration_trigger(context_name="context", orchestration=BLOCK_ORCHESTRATOR)
def backtest_block(context: df.DurableOrchestrationContext) -> Orchestration:
    """One block of chunks of a large sweep, so no single history grows without bound."""
    block = from_wire(BlockJob, context.get_input())
    progress = Progress(stage="running", chunks_total=len(block.items))
    labels = [_describe(i) for i in block.items]
    tasks = _chunks(context, block, block.items)
    summaries = yield from _fan_out(context, tasks, labels, [1] * len(tasks), progress)
    return [wire(s) for s in summaries]


@bp.activity_trigger(input_name="job", activity=PLAN_ACTIVITY)
def backtest_plan(job: dict[str, Any]) -> dict[str, Any]:
    return step(PLAN_ACTIVITY, plan_run, RunJob, job)


@bp.activity_trigger(input_name="job", activity=CHUNK_ACTIVITY)
def backtest_chunk(job: dict[str, Any]) -> dict[str, Any]:
    return step(CHUNK_ACTIVITY, run_chunk_item, ChunkTask, job)


@bp.activity_trigger(input_name="job", activity=EVALUATE_ACTIVITY)
def backtest_evaluate(job: dict[str, Any]) -> dict[str, Any]:
    return step(EVALUATE_ACTIVITY, evaluate_item, EvaluateTask, job)


@bp.activity_trigger(input_name="job", activity=AGGREGATE_ACTIVITY)
def backtest_aggregate(job: dict[str, Any]) -> dict[str, Any]:
    return step(AGGREGATE_ACTIVITY, aggregate_run, AggregateTask, job)


@bp.activity_trigger(input_name="job", activity=FAILED_ACTIVITY)
def backtest_failed(job: dict[str, Any]) -> None:
    step(FAILED_ACTIVITY, finish_failed, FailedTask, job)
