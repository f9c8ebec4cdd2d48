"""The drift orchestration: one activity per symbol (with retries), progress in the custom
status, then the fan-in. The work is in `shared.drift.runs`; here only the orchestrator and
one-line activities, which pass its typed messages as JSON (`wire`), as `durable/backtest.py`
does for backtests."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.Task import TaskState

from durable.steps import CHUNK_RETRY, STEP_RETRY, step
from shared.backtest.runs.messages import wire
from shared.drift.runs import (
    DRIFT_ORCHESTRATOR,
    FAILED_ACTIVITY,
    FINISH_ACTIVITY,
    SYMBOL_ACTIVITY,
    DriftJob,
    DriftProgress,
    FailTask,
    FinishTask,
    SymbolDone,
    SymbolTask,
    fail_run,
    finish_run,
    run_symbol,
)

bp = df.Blueprint()


Orchestration = Generator[Any, Any, Any]


class SymbolFailed(Exception):
    """A symbol's chunk still failed after its retries; the message names it."""


@bp.orchestration_trigger(context_name="context", orchestration=DRIFT_ORCHESTRATOR)
def drift_run(context: df.DurableOrchestrationContext) -> Orchestration:
    job = DriftJob.model_validate(context.get_input())
    symbols = job.plan.request.symbols
    progress = DriftProgress(stage="running", symbols_done=0, symbols_total=len(symbols))
    context.set_custom_status(progress.to_status())
    try:
        tasks = [
            context.call_activity_with_retry(
                SYMBOL_ACTIVITY, CHUNK_RETRY, wire(job.symbol_task(symbol))
            )
            for symbol in symbols
        ]
        pending = list(range(len(tasks)))
        parts: list[SymbolDone] = []
        while pending:
            finished = yield context.task_any([tasks[i] for i in pending])
            index = next(i for i in pending if tasks[i] is finished)
            pending.remove(index)
            if finished.state is TaskState.FAILED:
                reason = str(finished.result).split(" \n ", 1)[0]
                raise SymbolFailed(
                    f"symbol {symbols[index]} failed after "
                    f"{CHUNK_RETRY.max_number_of_attempts} attempts: {reason}"
                )
            part = SymbolDone.model_validate(finished.result)
            parts.append(part)
            progress.add(part)
            context.set_custom_status(progress.to_status())
        progress.stage = "combining"
        context.set_custom_status(progress.to_status())
        yield context.call_activity_with_retry(
            FINISH_ACTIVITY, STEP_RETRY, wire(job.finish_task(parts))
        )
        progress.stage = "done"
        context.set_custom_status(progress.to_status())
        return {"runId": job.run_id}
    except Exception as error:
        message = str(error).split(" \n ", 1)[0]
        progress.stage = "failed"
        context.set_custom_status(progress.to_status())
        yield context.call_activity(FAILED_ACTIVITY, wire(job.failed_task(message)))
        raise SymbolFailed(message) from None


@bp.activity_trigger(input_name="task", activity=SYMBOL_ACTIVITY)
def drift_symbol(task: dict[str, Any]) -> dict[str, Any]:
    return step(SYMBOL_ACTIVITY, run_symbol, SymbolTask, task)


@bp.activity_trigger(input_name="task", activity=FINISH_ACTIVITY)
def drift_finish(task: dict[str, Any]) -> None:
    step(FINISH_ACTIVITY, finish_run, FinishTask, task)


@bp.activity_trigger(input_name="task", activity=FAILED_ACTIVITY)
def drift_failed(task: dict[str, Any]) -> None:
    step(FAILED_ACTIVITY, fail_run, FailTask, task)
