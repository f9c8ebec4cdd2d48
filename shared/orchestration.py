"""The runtime statuses of an orchestration instance (Durable Functions' words, which a
backtest run's document reuses) and the one definition of the final ones. No SDK import:
the local Durable host, the run service and the tools share it."""

from __future__ import annotations

from typing import Literal

RuntimeStatus = Literal[
    "Pending",
    "Running",
    "Completed",
    "ContinuedAsNew",
    "Failed",
    "Canceled",
    "Terminated",
    "Suspended",
]

TERMINAL: frozenset[str] = frozenset({"Completed", "Failed", "Terminated", "Canceled"})
"""The final statuses: an instance (or run) in one of them never changes again."""
