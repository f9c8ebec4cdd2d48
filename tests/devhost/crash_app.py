"""A Function app whose activities can kill their own worker process, for the crash-isolation
tests of the local durable host."""

from __future__ import annotations

import ctypes
import time
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func

bp = df.Blueprint()


@bp.activity_trigger(input_name="job")
def segfault(job: dict[str, Any]) -> str:
    """Dereferences NULL (a real SIGSEGV, as a kernel with a wild index gives) unless the
    counter file says this attempt should pass."""
    counter = job.get("counter")
    if counter:
        path = Path(counter)
        calls = int(path.read_text()) if path.exists() else 0
        path.write_text(str(calls + 1))
        if calls >= job.get("crashes", 1):
            return f"ok after {calls + 1}"
    ctypes.string_at(0)
    return "unreachable"


@bp.activity_trigger(input_name="seconds")
def slow_square(seconds: float) -> float:
    time.sleep(seconds)
    return seconds * seconds


@bp.orchestration_trigger(context_name="context")
def crashing(context: df.DurableOrchestrationContext):
    """Calls `segfault` with three attempts (the backtest orchestrator's retry shape)."""
    retry = df.RetryOptions(first_retry_interval_in_milliseconds=50, max_number_of_attempts=3)
    return (yield context.call_activity_with_retry("segfault", retry, context.get_input()))


@bp.orchestration_trigger(context_name="context")
def squares(context: df.DurableOrchestrationContext):
    """Fans out `count` slow activities (another account's unrelated run)."""
    job = context.get_input()
    tasks = [context.call_activity("slow_square", job["seconds"]) for _ in range(job["count"])]
    return (yield context.task_all(tasks))


app = func.FunctionApp()
app.register_functions(bp)
