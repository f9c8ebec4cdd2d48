"""Backtest routes: start a sweep (Durable orchestration), status and progress, results with
signed URLs, cancel, and the caller's runs."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
import azure.functions as func
from pydantic import Field

from durable import runs
from durable.backtest import RUN_ORCHESTRATOR, block_instance_id
from functions.http import (
    SPEC_ATTRIBUTE,
    AccountListQuery,
    QueryModel,
    audit_change,
    endpoint,
    endpoint_spec,
    json_response,
    page_response,
    parse_body,
    parse_query,
)
from shared import offload, telemetry
from shared.auth.caller import Caller
from shared.auth.scope import list_scope
from shared.errors import Conflict, InvalidInput, NotFound
from shared.storage.documents import Filter
from shared.storage.factory import document_store
from shared.strategies_store.store import StrategyStore

bp = df.Blueprint()
log = logging.getLogger(__name__)

TERMINAL = frozenset({"Completed", "Failed", "Terminated", "Canceled"})
RESULT_URL_LIFETIME = timedelta(hours=1)
CANCEL_SETTLE_SECONDS = 10.0
MAX_WAIT_SECONDS = 30.0
WAIT_FIRST_INTERVAL = 0.01
WAIT_MAX_INTERVAL = 0.5

_client: ContextVar[df.DurableOrchestrationClient] = ContextVar("durable_client")


def _links(run_id: str) -> dict[str, str]:
    base = f"/api/backtests/{run_id}"
    return {"statusUrl": base, "resultsUrl": f"{base}/results", "cancelUrl": base}


def _run_for(caller: Caller, run_id: str) -> dict[str, Any]:
    """The caller's run document; admins see every account's."""
    if caller.is_admin:
        found = document_store().query_all(runs.RUNS_CONTAINER, None, [Filter("id", "=", run_id)])
        if not found:
            raise NotFound(f"no backtest run {run_id!r}")
        return found[0]
    return runs.read_run(caller.account_id, run_id)


async def _durable_status(run_id: str) -> Any:
    """The run's orchestration status; for a sweep fanned out in blocks, `chunksDone` counts
    the chunks finished inside the block sub-orchestrations too."""
    client = _client.get()
    status = await client.get_status(run_id)
    if not status or status.runtime_status is None:
        return None
    custom = status.custom_status
    if isinstance(custom, dict) and custom.get("blocks") and custom.get("stage") == "running":
        blocks = await asyncio.gather(
            *(client.get_status(block_instance_id(run_id, n)) for n in range(int(custom["blocks"])))
        )
        done = sum(
            int((b.custom_status or {}).get("chunksDone", 0))
            for b in blocks
            if b and isinstance(b.custom_status, dict)
        )
        custom["chunksDone"] = max(int(custom.get("chunksDone", 0)), done)
    return status


def _view(doc: dict[str, Any], status: Any) -> dict[str, Any]:
    runtime = status.runtime_status.value if status is not None else doc["status"]
    custom = (status.custom_status if status is not None else None) or {}
    total = custom.get("chunksTotal") or doc.get("chunkStats", {}).get("total")
    done = custom.get("chunksDone", doc.get("chunkStats", {}).get("done", 0))
    if runtime == "Completed":
        done = total
    error = doc.get("error")
    if runtime == "Failed" and not error and status is not None:
        error = str(status.output)
    return {
        "runId": doc["id"],
        "accountId": doc["accountId"],
        "status": runtime,
        "strategy": doc.get("strategy"),
        "strategyVersion": doc.get("strategyVersion"),
        "symbols": doc.get("symbols"),
        "combinations": doc.get("combinations"),
        "progress": {
            "stage": custom.get("stage"),
            "chunksDone": done,
            "chunksTotal": total,
            "percent": round(100.0 * (done or 0) / total, 1) if total else None,
            "best": custom.get("best"),
        },
        "createdAt": doc.get("createdAt"),
        "startedAt": doc.get("startedAt"),
        "completedAt": doc.get("completedAt"),
        "timings": doc.get("timings"),
        "chunkStats": doc.get("chunkStats"),
        "error": error,
        "request": doc.get("request"),
        **_links(doc["id"]),
    }


def _resolve_strategy(request: runs.BacktestRequest, caller: Caller) -> runs.BacktestRequest:
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


def _parse(req: func.HttpRequest, caller: Caller) -> runs.BacktestRequest:
    """Parse and resolve a saved strategy (grid sizes and parameter rules are checked as the
    spec is parsed, from range arithmetic: bounded cost)."""
    return _resolve_strategy(parse_body(req, runs.BacktestRequest), caller)


@endpoint(
    role="trader",
    summary="Start a backtest sweep",
    body=runs.BacktestRequest,
    status=202,
    errors=(401, 403, 422),
    tags=("backtests",),
)
async def start_backtest(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    request = await asyncio.to_thread(_parse, req, caller)
    # building the combinations and reading the bars is CPU work: in the request worker
    # process, so that it never holds this process's event loop (issue 12)
    combinations = await offload.run_cpu(runs.validate_request, request)
    run_id = uuid.uuid4().hex
    doc = runs.run_document(run_id, caller.account_id, request, combinations)
    await asyncio.to_thread(document_store().create, runs.RUNS_CONTAINER, doc)
    job = {"runId": run_id, "accountId": caller.account_id, "request": doc["request"]}
    telemetry.with_trace(job)
    await _client.get().start_new(RUN_ORCHESTRATOR, run_id, job)
    # audit (owned by the audit log's code; keep this call when editing the route)
    await asyncio.to_thread(
        audit_change,
        caller,
        "backtest.started",
        kind="backtest",
        account=caller.account_id,
        target=f"backtests/{run_id}",
        detail={"symbols": doc.get("symbols"), "combinations": doc.get("combinations")},
    )
    body = {
        "runId": run_id,
        "status": "Pending",
        "combinations": doc["combinations"],
        **_links(run_id),
    }
    return json_response(
        body, status=202, headers={"Location": body["statusUrl"], "Retry-After": "2"}
    )


class StatusQuery(QueryModel):
    """`?waitSeconds=` of the status route: a long-poll."""

    wait_seconds: float = Field(
        0.0,
        ge=0.0,
        le=MAX_WAIT_SECONDS,
        allow_inf_nan=False,
        description="Answer as soon as the run has ended, or after this many seconds "
        f"(at most {MAX_WAIT_SECONDS:g}), whichever comes first; 0 (the default) answers at "
        "once. A client that waits this way sees the end of a small sweep within "
        "milliseconds, without polling.",
    )


async def _wait_for_end(run_id: str, status: Any, seconds: float) -> Any:
    """Re-read the orchestration status until it has ended or `seconds` passed: every
    10 ms at first, then 1.1x longer each time up to 0.5 s (a short run is seen ending
    within a few ms; a long one costs a status read every 0.5 s)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    interval = WAIT_FIRST_INTERVAL
    while status is not None and status.runtime_status.value not in TERMINAL:
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        await asyncio.sleep(min(interval, remaining))
        interval = min(interval * 1.1, WAIT_MAX_INTERVAL)
        status = await _durable_status(run_id)
    return status


@endpoint(
    role="viewer",
    summary="A backtest's status and progress",
    query=StatusQuery,
    errors=(401, 403, 404, 422),
    tags=("backtests",),
)
async def get_backtest(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    query = parse_query(req, StatusQuery)
    doc = await asyncio.to_thread(_run_for, caller, req.route_params["run_id"])
    status = await _durable_status(doc["id"])
    if query.wait_seconds > 0 and status is not None:
        before = status.runtime_status.value
        status = await _wait_for_end(doc["id"], status, query.wait_seconds)
        if status is not None and status.runtime_status.value != before:
            doc = await asyncio.to_thread(_run_for, caller, doc["id"])  # timings, results
    return json_response(_view(doc, status))


@endpoint(
    role="viewer",
    summary="A finished backtest's summary and signed result URLs",
    errors=(401, 403, 404, 409),
    tags=("backtests",),
)
async def get_backtest_results(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    doc = await asyncio.to_thread(_run_for, caller, req.route_params["run_id"])
    view = _view(doc, await _durable_status(doc["id"]))
    if view["status"] != "Completed" or not doc.get("results"):
        raise Conflict(f"run {doc['id']} is {view['status']}; results exist once it is Completed")
    # the files behind the URLs are written on the first request (BACKTEST_LAZY_FILES): CPU
    # work, so in the request worker process, not on this process's event loop (issue 12)
    await offload.run_cpu(runs.write_result_files, doc)
    return json_response(await asyncio.to_thread(_results, doc))


def _results(doc: dict[str, Any]) -> dict[str, Any]:
    store = runs.results_store()
    summary = json.loads(store.get(doc["results"]["summary"]))
    urls: dict[str, dict[str, str]] = {}
    for symbol, item in summary["symbols"].items():
        files = item.get("files") or {}
        urls[symbol] = {
            kind: store.signed_url(name, RESULT_URL_LIFETIME)
            for kind, name in files.items()
            if isinstance(name, str)
        }
    return {
        "runId": doc["id"],
        "status": "Completed",
        "metric": summary["metric"],
        "leaderboard": summary.get("leaderboard", []),
        "chunkStats": summary["chunkStats"],
        "timings": doc.get("timings"),
        "symbols": {
            symbol: {k: v for k, v in item.items() if k != "files"}
            for symbol, item in summary["symbols"].items()
        },
        "urls": urls,
        "summaryUrl": store.signed_url(doc["results"]["summary"], RESULT_URL_LIFETIME),
    }


async def _terminate_blocks(run_id: str, reason: str) -> list[str]:
    """Terminate the run's block sub-orchestrations: in Azure, terminating a parent leaves its
    children running. Waits (briefly) for the parent to end so that no block it schedules
    afterwards is missed, then terminates every block its custom status counts; a block that
    never started or already ended is skipped. Returns the block ids terminated."""
    client = _client.get()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CANCEL_SETTLE_SECONDS
    status = await client.get_status(run_id)
    while (
        status is not None
        and status.runtime_status is not None
        and status.runtime_status.value not in TERMINAL
        and loop.time() < deadline
    ):
        await asyncio.sleep(0.2)
        status = await client.get_status(run_id)
    custom = status.custom_status if status is not None else None
    blocks = int(custom.get("blocks") or 0) if isinstance(custom, dict) else 0
    terminated: list[str] = []
    for n in range(blocks):
        child = block_instance_id(run_id, n)
        child_status = await client.get_status(child)
        if (
            child_status is None
            or child_status.runtime_status is None
            or child_status.runtime_status.value in TERMINAL
        ):
            continue
        try:
            await client.terminate(child, reason)
        except Exception as error:  # the SDK raises a bare Exception for a 404
            log.warning("cancel %s: block %s not terminated: %s", run_id, child, error)
            continue
        terminated.append(child)
    return terminated


@endpoint(
    role="trader",
    summary="Cancel a running backtest",
    status=202,
    errors=(401, 403, 404, 409),
    tags=("backtests",),
)
async def cancel_backtest(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    doc = await asyncio.to_thread(_run_for, caller, req.route_params["run_id"])
    status = await _durable_status(doc["id"])
    runtime = status.runtime_status.value if status is not None else doc["status"]
    if runtime in TERMINAL:
        raise Conflict(f"run {doc['id']} already ended ({runtime})")
    reason = f"cancelled by {caller.account_id}"
    await _client.get().terminate(doc["id"], reason)
    await _terminate_blocks(doc["id"], reason)
    await asyncio.to_thread(
        runs.update_run,
        doc["pk"],
        doc["id"],
        status="Terminated",
        completedAt=runs.now_iso(),
        error=f"cancelled by {caller.account_id}",
    )
    # audit (owned by the audit log's code; keep this call when editing the route)
    await asyncio.to_thread(
        audit_change,
        caller,
        "backtest.cancelled",
        kind="backtest",
        account=doc["accountId"],
        target=f"backtests/{doc['id']}",
        detail={"previousStatus": runtime},
    )
    return json_response(
        {"runId": doc["id"], "status": "Terminated", **_links(doc["id"])}, status=202
    )


@endpoint(
    role="viewer",
    summary="The caller's backtest runs, newest first (admins: every account's, or ?account=)",
    query=AccountListQuery,
    errors=(401, 403, 422),
    tags=("backtests",),
)
async def list_backtests(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    query = parse_query(req, AccountListQuery)
    page = await asyncio.to_thread(
        document_store().query,
        runs.RUNS_CONTAINER,
        list_scope(caller, query.account),
        order_by="createdAt",
        descending=True,
        limit=query.limit,
        continuation=query.continuation_token,
    )
    items = [
        {
            "runId": d["id"],
            "accountId": d.get("accountId"),
            "status": d["status"],
            "strategy": d.get("strategy"),
            "symbols": d.get("symbols"),
            "combinations": d.get("combinations"),
            "createdAt": d.get("createdAt"),
            "completedAt": d.get("completedAt"),
            **_links(d["id"]),
        }
        for d in page.items
    ]
    return page_response(items, page.continuation)


def _documented(route: Any) -> Any:
    """Carry the route's OpenAPI contract onto the registered function."""

    def mark(function: Any) -> Any:
        setattr(function, SPEC_ATTRIBUTE, endpoint_spec(route))
        return function

    return mark


async def _with_client(
    route: Any, req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    token = _client.set(client)
    try:
        return await route(req)
    finally:
        _client.reset(token)


@bp.route(route="backtests", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
@_documented(start_backtest)
async def backtests_start(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    return await _with_client(start_backtest, req, client)


@bp.route(route="backtests", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@_documented(list_backtests)
async def backtests_list(req: func.HttpRequest) -> func.HttpResponse:
    return await list_backtests(req)


@bp.route(route="backtests/{run_id}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
@_documented(get_backtest)
async def backtests_status(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    return await _with_client(get_backtest, req, client)


@bp.route(route="backtests/{run_id}/results", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
@_documented(get_backtest_results)
async def backtests_results(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    return await _with_client(get_backtest_results, req, client)


@bp.route(route="backtests/{run_id}", methods=["DELETE"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
@_documented(cancel_backtest)
async def backtests_cancel(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    return await _with_client(cancel_backtest, req, client)
