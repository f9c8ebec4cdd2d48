"""Find the orchestrator and activity functions of a FunctionApp, and run an activity."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from azure.durable_functions.models.utils.df_serialization import df_dumps, df_loads

ORCHESTRATION_TRIGGER = "orchestrationTrigger"
ACTIVITY_TRIGGER = "activityTrigger"


@dataclass(frozen=True)
class DurableFunction:
    """An orchestrator or activity: its durable name, the callable the host runs, and the
    parameter the trigger value is passed as."""

    name: str
    trigger_type: str
    call: Callable[..., Any]
    parameter: str


def durable_function(
    function_name: str, trigger: dict[str, Any], call: Callable[..., Any]
) -> DurableFunction | None:
    """The durable view of one indexed function, or None for other trigger types.

    The trigger's `orchestration` / `activity` key renames the function (as in function.json).
    """
    kind = str(trigger.get("type", ""))
    if kind == ORCHESTRATION_TRIGGER:
        name = trigger.get("orchestration") or function_name
    elif kind == ACTIVITY_TRIGGER:
        name = trigger.get("activity") or function_name
    else:
        return None
    return DurableFunction(str(name), kind, call, str(trigger.get("name", "")))


def index_app(app_ref: str) -> dict[str, DurableFunction]:
    """Import `module:attribute` (a FunctionApp) and return its durable functions by name."""
    from devhost.index import index_app as index_functions
    from devhost.index import load_app

    found: dict[str, DurableFunction] = {}
    logging.disable(logging.WARNING)  # "Auth level is not applied to non http function app"
    try:
        functions = index_functions(load_app(app_ref))
    finally:
        logging.disable(logging.NOTSET)
    for function in functions:
        item = durable_function(function.name, dict(function.trigger), function.user_function)
        if item is not None:
            found[item.name] = item
    return found


def call_activity(function: DurableFunction, input_text: str | None) -> str:
    """Run an activity as the Functions worker does: the input decoded with `df_loads`, the
    return value encoded with `df_dumps`. Exceptions propagate."""
    value = df_loads(input_text) if input_text is not None else None
    result = function.call(**{function.parameter: value})
    if inspect.isawaitable(result):
        result = asyncio.run(_await(result))
    return df_dumps(result)


async def _await(awaitable: Any) -> Any:
    return await awaitable


def describe_failure(error: BaseException) -> tuple[str, str]:
    """(Reason, Details) of a TaskFailed event for `error`."""
    reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return reason, "".join(traceback.format_exception(error)).strip()


_WORKER_FUNCTIONS: dict[str, DurableFunction] = {}


def init_worker(app_ref: str) -> None:
    """Process-pool initializer: exit with the host (even after kill -9), run compiled
    kernels single-threaded (the pool, one worker per core, is the parallelism; set
    NUMBA_NUM_THREADS to override), and index the app once."""
    parent = os.getppid()
    threads = int(os.environ.setdefault("NUMBA_NUM_THREADS", "1"))

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="orphan-watchdog", daemon=True).start()
    _WORKER_FUNCTIONS.clear()
    _WORKER_FUNCTIONS.update(index_app(app_ref))
    numba = sys.modules.get("numba")
    if numba is not None:
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))


def run_in_worker(name: str, input_text: str | None) -> tuple[bool, str, str]:
    """Run activity `name` in a pool worker: (True, result JSON, "") or (False, reason, details)."""
    function = _WORKER_FUNCTIONS.get(name)
    if function is None or function.trigger_type != ACTIVITY_TRIGGER:
        return (
            False,
            f"The function '{name}' doesn't exist, is disabled, or is not an activity function.",
            "",
        )
    try:
        return True, call_activity(function, input_text), ""
    except Exception as error:
        reason, details = describe_failure(error)
        return False, reason, details


def warm_worker() -> int:
    """A no-op task that makes the pool start a worker process (and index the app)."""
    return os.getpid()
