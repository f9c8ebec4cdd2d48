"""Execution drift (GET /api/journal/drift): the trader's trades on a scope against a replay
of a strategy over the same bars. Read-only: viewers read their own journal, admins any
(`?account=`). The work is in `shared.drift`. Also the broker accounts' execution terms
the replay takes its commission, slippage and sizing from (`shared.journal.broker_accounts`)."""

from __future__ import annotations

import asyncio

import azure.durable_functions as df
import azure.functions as func
from pydantic import ConfigDict, Field

from functions.http import Routes, audit_change, json_response, parse_body
from shared import offload
from shared.api_model import ApiModel
from shared.auth.caller import Caller
from shared.drift import DriftReport, DriftRequest, runs
from shared.drift.runs import DriftRunService, DriftRunView
from shared.drift.service import account_report
from shared.journal.broker_accounts import (
    BrokerAccountTerms,
    BrokerAccountTermsIn,
    check_name,
    save_terms,
    stored_terms,
)
from shared.journal.service import journal_of, owner
from shared.storage.factory import document_store

bp = df.Blueprint()
route = Routes(bp, tags=("journal",))


class AccountQuery(ApiModel):
    model_config = ConfigDict(extra="forbid")

    account: str | None = Field(None, max_length=255, description="Admins only: whose journal.")


@route(
    "GET",
    "journal/drift",
    role="viewer",
    summary="Execution drift: my trades against a strategy's replay, each difference costed",
    description="Replays the strategy (a registered name with `params`, or a saved "
    "`strategyId`/`strategyVersion`) over the lake's bars of `symbols` in `start..end` with "
    "the execution model given here, else the broker account's terms, matches its trades to "
    "the journal's closed trades of `brokerAccount` (same symbol and side, holding times "
    "overlapping within `toleranceBars` bars) and attributes the P&L difference to missed "
    "and extra trades, size, timing, price and fees; the causes sum exactly to `difference`. "
    "A scope that can hold more than DRIFT_SYNC_MAX_BARS bars (symbols x days x bars per "
    "day) runs fanned out per symbol: 202 with the run's `statusUrl` (also `Location`), "
    "where its progress and, once Completed, its report are. 404: unknown strategy; 422: bad "
    "parameters or execution fields, or a scope with no bars.",
    query=DriftRequest,
    response=DriftReport,
    other_responses=((202, DriftRunView),),
    errors=(404, 422),
    durable_client=True,
)
async def journal_drift(
    req: func.HttpRequest,
    caller: Caller,
    query: DriftRequest,
    client: df.DurableOrchestrationClient,
) -> func.HttpResponse:
    request = query
    journal = journal_of(owner(caller, request.account))
    if not runs.is_large(request):
        # replaying and matching is CPU work: in the request worker process (issue 12)
        report = await offload.run_cpu(account_report, request, caller, journal.account)
        return json_response(report)
    view = await DriftRunService(client).start(request, caller, journal)
    await asyncio.to_thread(
        audit_change,
        caller,
        "journal.drift.started",
        kind="backtest",
        account=journal.account,
        target=f"journal/drift/runs/{view.run_id}",
        detail={"symbols": request.symbols, "estimatedBars": view.estimated_bars},
    )
    return json_response(
        view, status=202, headers={"Location": view.status_url, "Retry-After": "2"}
    )


@route(
    "GET",
    "journal/drift/runs/{runId}",
    role="viewer",
    summary="A fanned-out drift run: status, progress and, once Completed, the report",
    description="Progress counts the symbols done (one chunk each) and the pairs, missed and "
    "extra trades found so far. 404: no such run in this journal.",
    query=AccountQuery,
    response=DriftRunView,
    errors=(404,),
    durable_client=True,
)
async def journal_drift_run(
    req: func.HttpRequest,
    caller: Caller,
    query: AccountQuery,
    client: df.DurableOrchestrationClient,
) -> func.HttpResponse:
    account = owner(caller, query.account)
    view = await DriftRunService(client).view(account, req.route_params["runId"])
    return json_response(view)


@route(
    "GET",
    "journal/broker-accounts/{brokerAccount}",
    role="viewer",
    summary="A broker account's execution terms (commission, slippage, sizing)",
    description="The terms stored for the broker account (all null when none are); a drift "
    "report replays with them unless its query sets a field. A paper account (`paper-<id>`) "
    "adds its own where these are null: its starting cash, the paper broker's slippage, no "
    "commission.",
    query=AccountQuery,
    response=BrokerAccountTerms,
    errors=(422,),
)
async def journal_broker_account_terms_get(
    req: func.HttpRequest, caller: Caller, query: AccountQuery
) -> func.HttpResponse:
    name = check_name(req.route_params["brokerAccount"])
    terms = await asyncio.to_thread(
        stored_terms, document_store(), owner(caller, query.account), name
    )
    return json_response(terms)


@route(
    "PUT",
    "journal/broker-accounts/{brokerAccount}",
    role="trader",
    summary="State a broker account's execution terms (replaces them)",
    body=BrokerAccountTermsIn,
    response=BrokerAccountTerms,
    errors=(422,),
)
async def journal_broker_account_terms_put(
    req: func.HttpRequest, caller: Caller
) -> func.HttpResponse:
    data = parse_body(req, BrokerAccountTermsIn)
    name = check_name(req.route_params["brokerAccount"])
    saved = await asyncio.to_thread(save_terms, document_store(), caller.account_id, name, data)
    await asyncio.to_thread(
        audit_change,
        caller,
        "journal.broker_account.terms",
        account=caller.account_id,
        target=f"broker-accounts/{name}",
        detail=data.model_dump(by_alias=True, exclude_none=True),
    )
    return json_response(saved)
