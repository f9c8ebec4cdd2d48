"""The run service: start, read, list, view, cancel a run and read its results. The routes,
the CLI and the benches all start runs here; the orchestrations run behind an
`OrchestrationClient` (the Durable client in Azure and the local host, an adapter over the
in-process engine in the CLI)."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from shared import offload, telemetry
from shared.auth.caller import Caller
from shared.backtest.runs.data import results_store
from shared.backtest.runs.documents import (
    create_run,
    find_run,
    list_runs,
    new_run_document,
    now_iso,
    read_run,
    update_run,
)
from shared.backtest.runs.messages import RunJob, wire
from shared.backtest.runs.orchestration import RUN_ORCHESTRATOR, Progress, block_instance_id
from shared.backtest.runs.request import BacktestRequest, validate_request
from shared.backtest.runs.result_files import ensure_result_files
from shared.backtest.runs.status import TERMINAL
from shared.backtest.runs.views import (
    RunAccepted,
    RunCancelled,
    RunLinks,
    RunListItem,
    RunProgress,
    RunResults,
    RunView,
    StoredRun,
    stored,
)
from shared.errors import Conflict, InvalidInput
from shared.storage.factory import document_store
from shared.strategies_store.store import StrategyStore

log = logging.getLogger(__name__)

RESULT_URL_LIFETIME = timedelta(hours=1)
CANCEL_SETTLE_SECONDS = 10.0
MAX_WAIT_SECONDS = 30.0
"""The longest a status request may wait for its run to end (`view(wait_seconds=...)`)."""
WAIT_FIRST_INTERVAL = 0.01
WAIT_MAX_INTERVAL = 0.5


class OrchestrationClient(Protocol):
    """What the service needs of a Durable client (`DurableOrchestrationClient` has it)."""

    async def start_new(self, name: str, instance_id: str, client_input: Any, /) -> Any: ...

    async def get_status(self, instance_id: str, /) -> Any: ...

    async def terminate(self, instance_id: str, reason: str, /) -> Any: ...


def runtime_of(status: Any) -> str | None:
    """An orchestration status's runtime status as text (None: no such instance)."""
    if status is None or status.runtime_status is None:
        return None
    value = status.runtime_status
    return str(getattr(value, "value", value))


def resolve_strategy(request: BacktestRequest, caller: Caller) -> BacktestRequest:
    """Fill in the spec of a saved strategy (`strategyId`, `strategyVersion` or its latest)."""
    if request.strategy_id is None:
        return request
    if request.strategy is not None:
        raise InvalidInput(
            "give either 'strategy' (a spec) or 'strategyId' (a saved one), not both"
        )
    store = StrategyStore(document_store())
    if request.strategy_version is None:
        head = store.get(caller, request.strategy_id)
        spec, version = head.spec, head.version
    else:
        saved = store.version(caller, request.strategy_id, request.strategy_version)
        spec, version = saved.spec, saved.version
    return request.model_copy(update={"strategy": spec, "strategy_version": version})


def run_for(caller: Caller, run_id: str) -> StoredRun:
    """The caller's stored run; admins see every account's."""
    return find_run(run_id) if caller.is_admin else read_run(caller.account_id, run_id)


def list_page(
    scope: str | None, *, limit: int | None, continuation: str | None
) -> tuple[list[RunListItem], str | None]:
    """One page of runs of account `scope` (None: every account's; see
    `shared.auth.scope.list_scope`), newest first."""
    page = list_runs(scope, limit=limit, continuation=continuation)
    return [RunListItem.of(doc) for doc in page.items], page.continuation


def results_of(doc: StoredRun) -> RunResults:
    """A completed run's summary, with a signed URL for each file."""
    store = results_store()
    summary_name = stored(doc, "results")["summary"]
    summary = json.loads(store.get(summary_name))
    urls: dict[str, dict[str, str]] = {}
    for symbol, item in summary["symbols"].items():
        files = item.get("files") or {}
        urls[symbol] = {
            kind: store.signed_url(name, RESULT_URL_LIFETIME)
            for kind, name in files.items()
            if isinstance(name, str)
        }
    return RunResults(
        run_id=doc["id"],
        metric=summary["metric"],
        leaderboard=summary.get("leaderboard", []),
        chunk_stats=summary["chunkStats"],
        timings=stored(doc, "timings"),
        symbols={
            symbol: {k: v for k, v in item.items() if k != "files"}
            for symbol, item in summary["symbols"].items()
        },
        urls=urls,
        summary_url=store.signed_url(summary_name, RESULT_URL_LIFETIME),
    )


def view_of(doc: StoredRun, status: Any) -> RunView:
    """A run's view from its document and its orchestration's status (None: none known)."""
    runtime = runtime_of(status) or stored(doc, "status")
    custom = (status.custom_status if status is not None else None) or {}
    progress = Progress.of(custom)
    chunk_stats = stored(doc, "chunkStats") or {}
    total = progress.chunks_total or chunk_stats.get("total")
    done = progress.chunks_done if "chunksDone" in custom else chunk_stats.get("done", 0)
    if runtime == "Completed":
        done = total
    error = stored(doc, "error")
    if runtime == "Failed" and not error and status is not None:
        error = str(getattr(status, "output", None))
    return RunView(
        run_id=doc["id"],
        account_id=stored(doc, "accountId"),
        status=runtime,
        strategy=stored(doc, "strategy"),
        strategy_version=stored(doc, "strategyVersion"),
        symbols=stored(doc, "symbols"),
        combinations=stored(doc, "combinations"),
        progress=RunProgress(
            stage=progress.stage,
            chunks_done=done,
            chunks_total=total,
            percent=round(100.0 * (done or 0) / total, 1) if total else None,
            best=progress.best,
        ),
        created_at=stored(doc, "createdAt"),
        started_at=stored(doc, "startedAt"),
        completed_at=stored(doc, "completedAt"),
        timings=stored(doc, "timings"),
        chunk_stats=stored(doc, "chunkStats"),
        error=error,
        request=stored(doc, "request"),
        **RunLinks.of_run(doc["id"]),
    )


@dataclass(frozen=True)
class PreparedRun:
    """A validated run whose document is stored: its orchestration input and the answer."""

    job: RunJob
    accepted: RunAccepted


async def prepare_run(request: BacktestRequest, account_id: str) -> PreparedRun:
    """Validate `request` (a resolved spec) against the lake and store the run's document.
    Validation is CPU work (combinations, bars): it runs in the request worker process
    (`shared.offload`), never on the caller's event loop."""
    combinations = await offload.run_cpu(validate_request, request)
    run_id = uuid.uuid4().hex
    doc = new_run_document(run_id, account_id, request, combinations)
    await asyncio.to_thread(create_run, doc)
    job = RunJob(
        run_id=run_id,
        account_id=account_id,
        request=request,
        trace_context=telemetry.current_carrier() or None,
    )
    accepted = RunAccepted(run_id=run_id, combinations=doc.combinations, **RunLinks.of_run(run_id))
    return PreparedRun(job, accepted)


class RunService:
    """Runs through one orchestration client."""

    def __init__(self, client: OrchestrationClient) -> None:
        self.client = client

    async def start(self, request: BacktestRequest, account_id: str) -> RunAccepted:
        """Prepare the run (`prepare_run`) and start its orchestration."""
        return await self.launch(await prepare_run(request, account_id))

    async def launch(self, prepared: PreparedRun) -> RunAccepted:
        """Start the orchestration of a prepared run."""
        await self.client.start_new(RUN_ORCHESTRATOR, prepared.job.run_id, wire(prepared.job))
        return prepared.accepted

    async def status(self, run_id: str) -> Any:
        """The run's orchestration status (None if there is none); for a sweep fanned out in
        blocks, `chunksDone` counts the chunks finished inside the blocks too."""
        status = await self.client.get_status(run_id)
        if runtime_of(status) is None:
            return None
        custom = status.custom_status
        if isinstance(custom, dict) and custom.get("blocks") and custom.get("stage") == "running":
            blocks = await asyncio.gather(
                *(
                    self.client.get_status(block_instance_id(run_id, n))
                    for n in range(int(custom["blocks"]))
                )
            )
            done = sum(
                int((b.custom_status or {}).get("chunksDone", 0))
                for b in blocks
                if b and isinstance(b.custom_status, dict)
            )
            custom["chunksDone"] = max(int(custom.get("chunksDone", 0)), done)
        return status

    async def view(self, doc: StoredRun, *, wait_seconds: float = 0.0) -> RunView:
        """The run's view; with `wait_seconds` a long-poll: answered as soon as the run has
        ended, or after that many seconds (at most `MAX_WAIT_SECONDS`)."""
        status = await self.status(doc["id"])
        if wait_seconds > 0 and runtime_of(status) not in (None, *TERMINAL):
            status = await self.wait_for_end(doc["id"], status, wait_seconds)
            if runtime_of(status) in TERMINAL:  # its steps wrote timings, results
                doc = await asyncio.to_thread(read_run, doc["pk"], doc["id"])
        return view_of(doc, status)

    async def wait_for_end(self, run_id: str, status: Any, seconds: float) -> Any:
        """Read the orchestration status again until the run has ended or `seconds` (at most
        `MAX_WAIT_SECONDS`) passed: every 10 ms at first, then 1.1x longer each time up to
        0.5 s, so a short run is seen ending within a few ms and a long one costs a status
        read every 0.5 s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(seconds, MAX_WAIT_SECONDS)
        interval = WAIT_FIRST_INTERVAL
        while runtime_of(status) not in (None, *TERMINAL):
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await asyncio.sleep(min(interval, remaining))
            interval = min(interval * 1.1, WAIT_MAX_INTERVAL)
            status = await self.status(run_id)
        return status

    async def results(self, doc: StoredRun) -> RunResults:
        """The results of a Completed run; `Conflict` naming its status otherwise. The first
        call writes the files behind the URLs (BACKTEST_LAZY_FILES), once per run at a time:
        CPU work, in the request worker process (`ensure_result_files`); a call while another
        process writes them waits for them, then `ResultsPreparing` (503, Retry-After)."""
        view = await self.view(doc)
        if view.status != "Completed" or not stored(doc, "results"):
            raise Conflict(f"run {doc['id']} is {view.status}; results exist once it is Completed")
        await ensure_result_files(doc)
        return await asyncio.to_thread(results_of, doc)

    async def cancel(self, doc: StoredRun, by: str) -> tuple[RunCancelled, str]:
        """Terminate a run that has not ended (its blocks too) and mark its document
        Terminated; returns the answer and the status it had. `Conflict` if it had ended."""
        runtime = runtime_of(await self.status(doc["id"])) or stored(doc, "status")
        if runtime in TERMINAL:
            raise Conflict(f"run {doc['id']} already ended ({runtime})")
        reason = f"cancelled by {by}"
        await self.client.terminate(doc["id"], reason)
        await self.terminate_blocks(doc["id"], reason)
        await asyncio.to_thread(
            update_run,
            doc["pk"],
            doc["id"],
            status="Terminated",
            completedAt=now_iso(),
            error=reason,
        )
        return RunCancelled(run_id=doc["id"], **RunLinks.of_run(doc["id"])), runtime

    async def terminate_blocks(self, run_id: str, reason: str) -> list[str]:
        """Terminate the run's block sub-orchestrations: in Azure, terminating a parent leaves
        its children running. Waits (briefly) for the parent to end so that no block it
        schedules afterwards is missed, then terminates every block its custom status counts;
        a block that never started or already ended is skipped. Returns the ids terminated."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CANCEL_SETTLE_SECONDS
        status = await self.client.get_status(run_id)
        while runtime_of(status) not in (None, *TERMINAL) and loop.time() < deadline:
            await asyncio.sleep(0.2)
            status = await self.client.get_status(run_id)
        custom = status.custom_status if status is not None else None
        blocks = int(custom.get("blocks") or 0) if isinstance(custom, dict) else 0
        terminated: list[str] = []
        for n in range(blocks):
            child = block_instance_id(run_id, n)
            if runtime_of(await self.client.get_status(child)) in (None, *TERMINAL):
                continue
            try:
                await self.client.terminate(child, reason)
            except Exception as error:  # the SDK raises a bare Exception for a 404
                log.warning("cancel %s: block %s not terminated: %s", run_id, child, error)
                continue
            terminated.append(child)
        return terminated
