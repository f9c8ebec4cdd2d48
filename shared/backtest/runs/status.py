"""A run's status: the words of the Durable runtime (`shared.orchestration`), of which a run
document holds these."""

from __future__ import annotations

from typing import Literal

from shared.orchestration import TERMINAL

RunStatus = Literal["Pending", "Running", "Completed", "Failed", "Terminated"]


def is_terminal(status: str | None) -> bool:
    """Whether a run (or its orchestration) in `status` has ended for good."""
    return status in TERMINAL


__all__ = ["TERMINAL", "RunStatus", "is_terminal"]
