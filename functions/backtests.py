"""Backtest routes: start a sweep (Durable orchestration), status and progress, results with
signed URLs, cancel, and the caller's runs. Thin: the run service (`shared.backtest.runs`)
does the work; the Durable client arrives as the function's binding argument."""

from __future__ import annotations

import asyncio

import azure.durable_functions as df
import azure.functions as func
from pydantic import Field

from functions.http import (
    AccountListQuery,
    Page,
    QueryModel,
    Routes,
    audit_change,
    json_response,
    page_response,
    parse_body,
)
from shared.auth.caller import Caller
from shared.auth.scope import list_scope
from shared.backtest.runs import (
    MAX_WAIT_SECONDS,
    BacktestRequest,
    RunAccepted,
    RunCancelled,
    RunListItem,
    RunResults,
    RunService,
    RunView,
    list_page,
    resolve_strategy,
    run_for,
)

bp = df.Blueprint()
route = Routes(bp, tags=("backtests",))


def _parse(req: func.HttpRequest, caller: Caller) -> BacktestRequest:
    """Parse and resolve a saved strategy (grid sizes and parameter rules are checked as the
    spec is parsed, from range arithmetic: bounded cost)."""
    return resolve_strategy(parse_body(req, BacktestRequest), caller)


@route(
    "POST",
    "backtests",
    role="trader",
    summary="Start a backtest sweep",
    body=BacktestRequest,
    body_examples=(
        (
            "sweep",
            {
                "symbols": ["GOOG"],
                "start": "2005-01-01",
                "strategy": {"strategy": "sma_cross", "grid": {"fast": [5, 10], "slow": [20, 40]}},
            },
        ),
    ),
    response=RunAccepted,
    status=202,
    durable_client=True,
)
async def backtests_start(
    req: func.HttpRequest, caller: Caller, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    request = await asyncio.to_thread(_parse, req, caller)
    accepted = await RunService(client).start(request, caller.account_id)
    # audit (owned by the audit log's code; keep this call when editing the route)
    await asyncio.to_thread(
        audit_change,
        caller,
        "backtest.started",
        kind="backtest",
        account=caller.account_id,
        target=f"backtests/{accepted.run_id}",
        detail={"symbols": request.symbols, "combinations": accepted.combinations},
    )
    return json_response(
        accepted, status=202, headers={"Location": accepted.status_url, "Retry-After": "2"}
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
        "once. A client that waits so sees a small sweep end within milliseconds, without "
        "polling.",
    )


@route(
    "GET",
    "backtests/{run_id}",
    role="viewer",
    summary="A backtest's status and progress",
    query=StatusQuery,
    response=RunView,
    errors=(404,),
    durable_client=True,
)
async def backtests_status(
    req: func.HttpRequest,
    caller: Caller,
    query: StatusQuery,
    client: df.DurableOrchestrationClient,
) -> func.HttpResponse:
    doc = await asyncio.to_thread(run_for, caller, req.route_params["run_id"])
    return json_response(await RunService(client).view(doc, wait_seconds=query.wait_seconds))


@route(
    "GET",
    "backtests/{run_id}/results",
    role="viewer",
    summary="A finished backtest's summary and signed result URLs",
    description="The first request writes the files behind the URLs, once per run; one "
    "made while another process is still writing them answers 503 "
    "(/problems/results-preparing) with Retry-After.",
    response=RunResults,
    errors=(404, 409, 503),
    durable_client=True,
)
async def backtests_results(
    req: func.HttpRequest, caller: Caller, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    doc = await asyncio.to_thread(run_for, caller, req.route_params["run_id"])
    return json_response(await RunService(client).results(doc))


@route(
    "DELETE",
    "backtests/{run_id}",
    role="trader",
    summary="Cancel a running backtest",
    response=RunCancelled,
    status=202,
    errors=(404, 409),
    durable_client=True,
)
async def backtests_cancel(
    req: func.HttpRequest, caller: Caller, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    doc = await asyncio.to_thread(run_for, caller, req.route_params["run_id"])
    cancelled, previous = await RunService(client).cancel(doc, by=caller.account_id)
    # audit (owned by the audit log's code; keep this call when editing the route)
    await asyncio.to_thread(
        audit_change,
        caller,
        "backtest.cancelled",
        kind="backtest",
        account=doc["accountId"],
        target=f"backtests/{doc['id']}",
        detail={"previousStatus": previous},
    )
    return json_response(cancelled, status=202)


@route(
    "GET",
    "backtests",
    role="viewer",
    summary="The caller's backtest runs, newest first (admins: every account's, or ?account=)",
    query=AccountListQuery,
    response=Page[RunListItem],
)
async def backtests_list(
    req: func.HttpRequest, caller: Caller, query: AccountListQuery
) -> func.HttpResponse:
    items, token = await asyncio.to_thread(
        list_page,
        list_scope(caller, query.account),
        limit=query.limit,
        continuation=query.continuation_token,
    )
    return page_response(items, token)
