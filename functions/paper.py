"""Paper-trading routes (/api/paper/...); the matching triggers are in `paper_matching`."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from typing import Literal

import azure.functions as func
from pydantic import Field

from functions.http import (
    PROBLEM_JSON,
    ListQuery,
    Page,
    Routes,
    audit_change,
    created,
    json_response,
    page_response,
    parse_body,
    reply,
)
from shared.audit import audit_log
from shared.auth.caller import Caller
from shared.config import get_settings
from shared.errors import Conflict, DomainError
from shared.openapi import IDEMPOTENCY_KEY
from shared.paper import (
    Claim,
    IdempotencyStore,
    MatchReport,
    Order,
    OrderIn,
    PaperAccount,
    PaperAccountIn,
    PaperBroker,
    StoredResponse,
)
from shared.storage.factory import document_store

log = logging.getLogger("functions.paper")

bp = func.Blueprint()
TAGS = ("paper trading",)
route = Routes(bp, tags=TAGS)


class OrderListQuery(ListQuery):
    status: (
        Literal["open", "filled", "partially_filled", "cancelled", "rejected", "expired"] | None
    ) = Field(None, description="Only orders in this status.")


def _broker() -> PaperBroker:
    return PaperBroker(document_store(), get_settings())


route.account_list(
    "paper/accounts",
    name="paper_accounts_list",
    summary="List my paper accounts",
    item=PaperAccount,
    lister=lambda: _broker().list_accounts,
)


@route(
    "POST",
    "paper/accounts",
    role="trader",
    summary="Open a paper account with starting cash",
    body=PaperAccountIn,
    body_examples=(("account", {"name": "t", "startingCash": 1000}),),
    response=PaperAccount,
    status=201,
)
async def paper_accounts_create(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    data = parse_body(req, PaperAccountIn)
    account = await asyncio.to_thread(_broker().create_account, caller, data)
    await asyncio.to_thread(
        audit_change,
        caller,
        "paper_account.created",
        account=account.account,
        target=f"paper/{account.id}",
        detail={"startingCash": account.starting_cash},
    )
    return created(account, f"/api/paper/accounts/{account.id}")


@route(
    "GET",
    "paper/accounts/{accountId}",
    role="viewer",
    summary="A paper account: cash, positions, realized and unrealized P&L",
    response=PaperAccount,
    errors=(404,),
)
async def paper_accounts_get(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    return await reply(_broker().get_account, caller, req.route_params["accountId"])


@route(
    "GET",
    "paper/accounts/{accountId}/orders",
    role="viewer",
    summary="List a paper account's orders, newest first",
    query=OrderListQuery,
    response=Page[Order],
    errors=(404,),
)
async def paper_orders_list(
    req: func.HttpRequest, caller: Caller, query: OrderListQuery
) -> func.HttpResponse:
    items, token = await asyncio.to_thread(
        _broker().list_orders,
        caller,
        req.route_params["accountId"],
        status=query.status,
        limit=query.limit,
        continuation=query.continuation_token,
    )
    return page_response(items, token)


def _replay(stored: StoredResponse) -> func.HttpResponse:
    headers = {"Idempotent-Replayed": "true"}
    if stored.status == 201:
        headers["Location"] = _order_location(stored.body["paperAccountId"], stored.body["id"])
    return func.HttpResponse(
        json.dumps(stored.body),
        status_code=stored.status,
        mimetype=stored.media_type or "application/json",
        headers=headers,
    )


@route(
    "POST",
    "paper/accounts/{accountId}/orders",
    role="trader",
    summary="Place an order (filled at once when the latest quote allows)",
    description=(
        "Market orders fill at the last price plus slippage; limit and stop orders stay "
        "open until the price crosses. Only quotes younger than PAPER_MAX_QUOTE_AGE_SECONDS "
        "count: a market order without one is refused with 422 (No fresh quote). "
        "A buy holds back its cost while open; an order "
        "the account cannot cover is refused with 422. With an Idempotency-Key, a retry "
        "returns the first response (header Idempotent-Replayed: true) and places nothing."
    ),
    body=OrderIn,
    response=Order,
    status=201,
    headers=(IDEMPOTENCY_KEY,),
    errors=(404, 409),
)
async def paper_orders_create(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    data = parse_body(req, OrderIn)
    account_id = req.route_params["accountId"]
    broker = _broker()
    key = req.headers.get("Idempotency-Key")
    if key is None:
        order = await asyncio.to_thread(broker.place_order, caller, account_id, data)
        return _created(order)
    settings = get_settings()
    keys = IdempotencyStore(document_store(), settings.idempotency_ttl_seconds)
    request_hash = hashlib.sha256(f"{account_id}\n{data.model_dump_json()}".encode()).hexdigest()
    scope = f"paper-order:{account_id}"
    claim = await asyncio.to_thread(keys.begin, caller.account_id, scope, key, request_hash)
    if isinstance(claim, StoredResponse):
        return _replay(claim)
    return await _place_claimed(broker, keys, claim, caller, account_id, data)


async def _place_claimed(
    broker: PaperBroker,
    keys: IdempotencyStore,
    claim: Claim,
    caller: Caller,
    account_id: str,
    data: OrderIn,
) -> func.HttpResponse:
    try:
        order = None
        if claim.recovered:
            order = await asyncio.to_thread(
                broker.find_by_idempotency_ref, caller, account_id, claim.ref
            )
        if order is None:
            order = await asyncio.to_thread(
                broker.place_order, caller, account_id, data, idempotency_ref=claim.ref
            )
    except Conflict:
        await asyncio.to_thread(keys.abandon, caller.account_id, claim)
        raise
    except DomainError as error:
        body = {"type": "about:blank", "title": error.title, "status": error.status}
        body["detail"] = error.detail
        await asyncio.to_thread(
            keys.complete, caller.account_id, claim, error.status, body, PROBLEM_JSON
        )
        raise
    except Exception:
        await asyncio.to_thread(_release_claim, broker, keys, claim, caller, account_id)
        raise
    body = order.model_dump(mode="json", by_alias=True)
    await asyncio.to_thread(keys.complete, caller.account_id, claim, 201, body, "application/json")
    return _created(order)


def _release_claim(
    broker: PaperBroker, keys: IdempotencyStore, claim: Claim, caller: Caller, account_id: str
) -> None:
    """After an unexpected failure, forget the claim so a retry runs afresh, unless the
    order was already recorded: then the claim stays pending and a retry, once it may take
    over, finds that order instead of placing a second one."""
    try:
        if broker.find_by_idempotency_ref(caller, account_id, claim.ref) is None:
            keys.abandon(caller.account_id, claim)
    except Exception:
        log.exception("idempotency claim %s left pending after a failure", claim.ref)


def _order_location(paper_account_id: str, order_id: str) -> str:
    return f"/api/paper/accounts/{paper_account_id}/orders/{order_id}"


def _created(order: Order) -> func.HttpResponse:
    return created(order, _order_location(order.paper_account_id, order.id))


@route(
    "GET",
    "paper/accounts/{accountId}/orders/{orderId}",
    role="viewer",
    summary="Read an order",
    response=Order,
    errors=(404,),
)
async def paper_orders_get(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    params = req.route_params
    return await reply(_broker().get_order, caller, params["accountId"], params["orderId"])


@route(
    "POST",
    "paper/accounts/{accountId}/orders/{orderId}/cancel",
    role="trader",
    summary="Cancel an open order (409 if it already settled or another cancel won)",
    response=Order,
    errors=(404, 409),
)
async def paper_orders_cancel(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    params = req.route_params
    return await reply(_broker().cancel_order, caller, params["accountId"], params["orderId"])


@route(
    "POST",
    "paper/match",
    role="admin",
    summary="Run one matching pass now (the timer runs it on SCHEDULE_PAPER_MATCHING)",
    response=MatchReport,
)
async def paper_match(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    report = await asyncio.to_thread(_broker().match, actor=caller.account_id)
    await asyncio.to_thread(
        audit_log().try_append,
        "ops",
        "paper.matched",
        actor=caller.account_id,
        target="paper/match",
        detail=report.model_dump(mode="json", by_alias=True),
    )
    return json_response(report)
