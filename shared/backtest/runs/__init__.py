"""A backtest run, the core service behind POST /api/backtests, the CLI and the benches.

    service = RunService(durable_client)            # any `OrchestrationClient`
    accepted = await service.start(request, account_id)   # validate, store, orchestrate
    view = await service.view(run_for(caller, run_id))    # status + progress
    results = await service.results(doc)                   # signed URLs once Completed
    answer, previous = await service.cancel(doc, by=caller.account_id)

Modules: `request` (the request and its validation), `messages` (typed messages between the
steps), `orchestration` (orchestration names, the custom status `Progress`), `status` (the
one set of terminal states), `activities` and `fanin` (the activity bodies), `result_files`
(the lazy result files, written once per run at a time), `documents` (the run document and
its one update path), `data` (bars and result blobs), `views` (what the API shows), `service`
(the run service). `durable/` holds only the orchestrators and one-line
activities over these."""

from shared.backtest.runs.activities import (
    chunk_blob,
    evaluate_item,
    finish_failed,
    plan_run,
    run_chunk_item,
)
from shared.backtest.runs.data import load_snapshot, read_bars, results_store
from shared.backtest.runs.documents import (
    RUNS_CONTAINER,
    RunDocument,
    new_run_document,
    now_iso,
    read_run,
    run_document,
    update_run,
)
from shared.backtest.runs.fanin import (
    aggregate_run,
    overall_leaderboard,
    ranked,
    write_result_files,
)
from shared.backtest.runs.messages import (
    AggregateTask,
    Best,
    BlockJob,
    ChunkItem,
    ChunkRef,
    ChunkStats,
    ChunkSummary,
    ChunkTask,
    DataRef,
    EvaluateTask,
    Evaluation,
    FailedTask,
    Plan,
    RunJob,
    RunOutput,
    SweepJob,
    WindowOutcome,
    from_wire,
    wire,
)
from shared.backtest.runs.orchestration import (
    AGGREGATE_ACTIVITY,
    BLOCK_ORCHESTRATOR,
    CHUNK_ACTIVITY,
    EVALUATE_ACTIVITY,
    FAILED_ACTIVITY,
    PLAN_ACTIVITY,
    RUN_ORCHESTRATOR,
    Progress,
    better,
    block_instance_id,
)
from shared.backtest.runs.request import BacktestRequest, WalkForwardRequest, validate_request
from shared.backtest.runs.service import (
    MAX_WAIT_SECONDS,
    OrchestrationClient,
    PreparedRun,
    RunService,
    list_page,
    prepare_run,
    resolve_strategy,
    results_of,
    run_for,
    runtime_of,
    view_of,
)
from shared.backtest.runs.status import TERMINAL, RunStatus, is_terminal
from shared.backtest.runs.views import (
    RunAccepted,
    RunCancelled,
    RunListItem,
    RunResults,
    RunView,
)

__all__ = [
    "AGGREGATE_ACTIVITY",
    "BLOCK_ORCHESTRATOR",
    "CHUNK_ACTIVITY",
    "EVALUATE_ACTIVITY",
    "FAILED_ACTIVITY",
    "MAX_WAIT_SECONDS",
    "PLAN_ACTIVITY",
    "RUNS_CONTAINER",
    "RUN_ORCHESTRATOR",
    "TERMINAL",
    "AggregateTask",
    "BacktestRequest",
    "Best",
    "BlockJob",
    "ChunkItem",
    "ChunkRef",
    "ChunkStats",
    "ChunkSummary",
    "ChunkTask",
    "DataRef",
    "EvaluateTask",
    "Evaluation",
    "FailedTask",
    "OrchestrationClient",
    "Plan",
    "PreparedRun",
    "Progress",
    "RunAccepted",
    "RunCancelled",
    "RunDocument",
    "RunJob",
    "RunListItem",
    "RunOutput",
    "RunResults",
    "RunService",
    "RunStatus",
    "RunView",
    "SweepJob",
    "WalkForwardRequest",
    "WindowOutcome",
    "aggregate_run",
    "better",
    "block_instance_id",
    "chunk_blob",
    "evaluate_item",
    "finish_failed",
    "from_wire",
    "is_terminal",
    "list_page",
    "load_snapshot",
    "new_run_document",
    "now_iso",
    "overall_leaderboard",
    "plan_run",
    "prepare_run",
    "ranked",
    "read_bars",
    "read_run",
    "resolve_strategy",
    "results_of",
    "results_store",
    "run_chunk_item",
    "run_document",
    "run_for",
    "runtime_of",
    "update_run",
    "validate_request",
    "view_of",
    "wire",
    "write_result_files",
]
