"""The contract between the run service and the Durable orchestrations: their names, the
block instance ids, and the progress an orchestration keeps in its custom status."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from shared.api_model import ApiModel
from shared.backtest.runs.messages import Best, wire
from shared.backtest.sweep import rank_key

RUN_ORCHESTRATOR = "backtest_run"
BLOCK_ORCHESTRATOR = "backtest_block"
PLAN_ACTIVITY = "backtest_plan"
CHUNK_ACTIVITY = "backtest_chunk"
EVALUATE_ACTIVITY = "backtest_evaluate"
AGGREGATE_ACTIVITY = "backtest_aggregate"
FAILED_ACTIVITY = "backtest_failed"


def block_instance_id(run_id: str, block: int) -> str:
    """The instance id of a run's block sub-orchestration: deterministic, so the service can
    find (and cancel) every child from the run id alone."""
    return f"{run_id}:b{block:03d}"


def better(best: Best | None, candidate: Best | None) -> Best | None:
    """The better of two chunk winners by `rank_key` (ruined after surviving, no value last)."""
    if candidate is None or candidate.value is None:
        return best
    if best is None or rank_key(candidate.value, candidate.ruined) < rank_key(
        best.value, best.ruined
    ):
        return candidate
    return best


class Progress(ApiModel):
    """An orchestration's custom status: how far the run is (the routes and the CLI read it)."""

    stage: str | None = Field(
        "planning", description="planning, running, evaluating, aggregating, done or failed."
    )
    chunks_done: int = 0
    chunks_total: int | None = None
    blocks: int | None = Field(None, description="Block sub-orchestrations, when fanned out so.")
    best: Best | None = Field(None, description="The best combination finished so far.")

    def to_status(self) -> dict[str, Any]:
        """The custom status as JSON (no `blocks` key unless the run has blocks)."""
        return wire(self, exclude={"blocks"} if self.blocks is None else None)

    @classmethod
    def of(cls, custom_status: Any) -> Progress:
        """The progress in a custom status; an empty one for anything else (a run that did not
        start yet, or a status written by another version)."""
        if isinstance(custom_status, dict):
            try:
                return cls.model_validate(custom_status)
            except ValueError:
                pass
        return cls(stage=None)
