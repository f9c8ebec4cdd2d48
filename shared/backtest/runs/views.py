"""What the API (and the CLI) show of a run: its view with progress, the list item, the
answers to start and cancel, and the results with signed URLs. Built from the stored run
document (camelCase names; a snake_case one reads the same) and the orchestration's status."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic.alias_generators import to_snake

from shared.api_model import ApiModel
from shared.backtest.runs.messages import Best
from shared.backtest.runs.status import RunStatus

StoredRun = dict[str, Any]


def stored(doc: StoredRun, name: str, default: Any = None) -> Any:
    """Field `name` (camelCase) of a stored run, or its snake_case spelling in an older one."""
    if name in doc:
        return doc[name]
    return doc.get(to_snake(name), default)


class RunLinks(ApiModel):
    status_url: str = Field(description="GET: status and progress.")
    results_url: str = Field(description="GET: the results once Completed.")
    cancel_url: str = Field(description="DELETE: cancel the run.")

    @staticmethod
    def of_run(run_id: str) -> dict[str, str]:
        """The links of run `run_id`, as field values."""
        base = f"/api/backtests/{run_id}"
        return {"status_url": base, "results_url": f"{base}/results", "cancel_url": base}


class RunAccepted(RunLinks):
    """POST /api/backtests: the run started."""

    run_id: str
    status: RunStatus = "Pending"
    combinations: int = Field(description="Combinations times symbols.")


class RunCancelled(RunLinks):
    """DELETE /api/backtests/{runId}: the run is terminated."""

    run_id: str
    status: RunStatus = "Terminated"


class RunProgress(ApiModel):
    stage: str | None = Field(None, description="planning, running, evaluating, aggregating, ...")
    chunks_done: int | None = None
    chunks_total: int | None = None
    percent: float | None = None
    best: Best | None = Field(None, description="The best combination finished so far.")


class RunView(RunLinks):
    """GET /api/backtests/{runId}: a run's status, progress and timings."""

    run_id: str
    account_id: str | None
    status: str = Field(description="Pending, Running, Completed, Failed, Terminated, ...")
    strategy: str | None = None
    strategy_version: int | None = None
    symbols: list[str] | None = None
    combinations: int | None = None
    progress: RunProgress
    created_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    timings: dict[str, float] | None = None
    chunk_stats: dict[str, Any] | None = None
    error: str | None = None
    request: dict[str, Any] | None = None


class RunListItem(RunLinks):
    """One run in GET /api/backtests."""

    run_id: str
    account_id: str | None = None
    status: str | None = None
    strategy: str | None = None
    symbols: list[str] | None = None
    combinations: int | None = None
    created_at: str | None = None
    completed_at: str | None = None

    @classmethod
    def of(cls, doc: StoredRun) -> RunListItem:
        return cls(
            run_id=doc["id"],
            account_id=stored(doc, "accountId"),
            status=stored(doc, "status"),
            strategy=stored(doc, "strategy"),
            symbols=stored(doc, "symbols"),
            combinations=stored(doc, "combinations"),
            created_at=stored(doc, "createdAt"),
            completed_at=stored(doc, "completedAt"),
            **RunLinks.of_run(doc["id"]),
        )


class RunResults(ApiModel):
    """GET /api/backtests/{runId}/results: the summary and signed URLs of every file."""

    run_id: str
    status: RunStatus = "Completed"
    metric: str
    leaderboard: list[dict[str, Any]]
    chunk_stats: dict[str, Any]
    timings: dict[str, float] | None = None
    symbols: dict[str, dict[str, Any]]
    urls: dict[str, dict[str, str]]
    summary_url: str
