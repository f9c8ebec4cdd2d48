"""What the backtest and drift orchestrations share: their retry options and the one way an
activity runs its step (typed message in, JSON out, inside the activity's span)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import azure.durable_functions as df
from pydantic import BaseModel

from shared import telemetry
from shared.backtest.runs.messages import from_wire, wire

CHUNK_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=500, max_number_of_attempts=3)
STEP_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=2)

M = TypeVar("M", bound=BaseModel)


def step(name: str, body: Callable[[M], Any], message: type[M], payload: dict[str, Any]) -> Any:
    """Run activity `name`: its typed input parsed from `payload` inside its span (a malformed
    message is a failed span), its typed output as JSON."""
    with telemetry.activity(name, payload, run_id=payload.get("runId")):
        result = body(from_wire(message, payload))
    return None if result is None else wire(result)
