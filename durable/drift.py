"""The drift orchestration: one activity per symbol (with retries), progress in the custom
status, then the fan-in. The work is in `shared.drift.runs`; messages are its models."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.Task import TaskState

from shared import telemetry
from shared.drift.runs import (
    DRIFT_ORCHESTRATOR,
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

CHUNK_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=500, max_number_of_attempts=3)
STEP_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=2)

Orchestration = Generator[Any, Any, Any]


def _message(model: Any) -> dict[str, Any]:
    return dict(model.model_dump(mode="json", by_alias=True))


def _status(context: df.DurableOrchestrationContext, progress: DriftProgress) -> None:
    context.set_custom_status(_message(progress))


@bp.orchestration_trigger(context_name="context", orchestration=DRIFT_ORCHESTRATOR)
def drift_run(context: df.DurableOrchestrationContext) -> Orchestration:
    job = DriftJob.model_validate(context.get_input())
    symbols = job.plan.request.symbols
    progress = DriftProgress(stage="running", symbols_done=0, symbols_total=len(symbols))
    _status(context, progress)
    try:
        tasks = [
            context.call_activity_with_retry(
                "drift_symbol",
                CHUNK_RETRY,
                _message(
                    SymbolTask(
                        run_id=job.run_id,
                        plan=job.plan,
                        symbol=symbol,
                        trace_context=job.trace_context,
                    )
                ),
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
                raise RuntimeError(f"symbol {symbols[index]} failed: {reason}")
            part = SymbolDone.model_validate(finished.result)
            parts.append(part)
            progress.symbols_done += 1
            progress.pairs += part.pairs
            progress.missed += part.missed
            progress.extra += part.extra
            _status(context, progress)
        progress.stage = "combining"
        _status(context, progress)
        yield context.call_activity_with_retry(
            "drift_finish",
            STEP_RETRY,
            _message(
                FinishTask(
                    run_id=job.run_id, plan=job.plan, parts=parts, trace_context=job.trace_context
                )
            ),
        )
        progress.stage = "done"
        _status(context, progress)
        return {"runId": job.run_id}
    except Exception as error:
        message = str(error).split(" \n ", 1)[0]
        progress.stage = "failed"
        _status(context, progress)
        yield context.call_activity(
            "drift_failed",
            _message(FailTask(run_id=job.run_id, account_id=job.plan.account_id, error=message)),
        )
        raise RuntimeError(message) from None


@bp.activity_trigger(input_name="task")
def drift_symbol(task: dict[str, Any]) -> dict[str, Any]:
    parsed = SymbolTask.model_validate(task)
    with telemetry.activity("drift_symbol", task, run_id=parsed.run_id):
        return _message(run_symbol(parsed))


@bp.activity_trigger(input_name="task")
def drift_finish(task: dict[str, Any]) -> None:
    parsed = FinishTask.model_validate(task)
    with telemetry.activity("drift_finish", task, run_id=parsed.run_id):
        finish_run(parsed)


@bp.activity_trigger(input_name="task")
def drift_failed(task: dict[str, Any]) -> None:
    fail_run(FailTask.model_validate(task))
