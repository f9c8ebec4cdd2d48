"""Execution drift (GET /api/journal/drift): the trader's trades on a scope against a replay
of a strategy over the same bars. Read-only: viewers read their own journal, admins any
(`?account=`). The work is in `shared.drift`. Also the broker accounts' execution terms
the replay takes its commission, slippage and sizing from (`shared.journal.broker_accounts`)."""

from __future__ import annotations

import asyncio

import azure.functions as func
from pydantic import ConfigDict, Field

from functions.http import audit_change, endpoint, json_response, parse_body, parse_query
from shared.api_model import ApiModel
from shared.auth.caller import Caller
from shared.drift import DriftReport, DriftRequest, drift_report
from shared.journal.broker_accounts import (
    BrokerAccountTerms,
    BrokerAccountTermsIn,
    check_name,
    save_terms,
    stored_terms,
)
from shared.journal.service import journal_of, owner
from shared.storage.factory import document_store

bp = func.Blueprint()


class AccountQuery(ApiModel):
    model_config = ConfigDict(extra="forbid")

    account: str | None = Field(None, max_length=255, description="Admins only: whose journal.")


@bp.function_name("journal_drift")
@bp.route(route="journal/drift", methods=["GET"])
@endpoint(
    role="viewer",
    summary="Execution drift: my trades against a strategy's replay, each difference costed",
    description="Replays the strategy (a registered name with `params`, or a saved "
    "`strategyId`/`strategyVersion`) over the lake's bars of `symbols` in `start..end` with "
    "the execution model given here, matches its trades to the journal's closed trades of "
    "`brokerAccount` (same symbol and side, holding times overlapping within `toleranceBars` "
    "bars) and attributes the P&L difference to missed and extra trades, size, timing, price "
    "and fees; the causes sum exactly to `difference`. 404: unknown strategy; 422: bad "
    "parameters or execution fields, or a scope with no bars.",
    query=DriftRequest,
    response=DriftReport,
    errors=(404, 422),
    tags=("journal",),
)
async def journal_drift(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    request = parse_query(req, DriftRequest)
    journal = journal_of(owner(caller, request.account))
    report = await asyncio.to_thread(drift_report, request, caller, journal)
    return json_response(report)


@bp.function_name("journal_broker_account_terms_get")
@bp.route(route="journal/broker-accounts/{brokerAccount}", methods=["GET"])
@endpoint(
    role="viewer",
    summary="A broker account's execution terms (commission, slippage, sizing)",
    description="The terms stored for the broker account (all null when none are); a drift "
    "report replays with them unless its query sets a field. A paper account (`paper-<id>`) "
    "adds its own where these are null: its starting cash, the paper broker's slippage, no "
    "commission.",
    query=AccountQuery,
    response=BrokerAccountTerms,
    errors=(422,),
    tags=("journal",),
)
async def journal_broker_account_terms_get(
    req: func.HttpRequest, caller: Caller
) -> func.HttpResponse:
    query = parse_query(req, AccountQuery)
    name = check_name(req.route_params["brokerAccount"])
    terms = await asyncio.to_thread(
        stored_terms, document_store(), owner(caller, query.account), name
    )
    return json_response(terms)


@bp.function_name("journal_broker_account_terms_put")
@bp.route(route="journal/broker-accounts/{brokerAccount}", methods=["PUT"])
@endpoint(
    role="trader",
    summary="State a broker account's execution terms (replaces them)",
    body=BrokerAccountTermsIn,
    response=BrokerAccountTerms,
    errors=(422,),
    tags=("journal",),
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
