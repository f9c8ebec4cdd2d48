"""Strategy routes: /api/strategies[/{strategyId}[/versions[/{version}]]] — versioned specs."""

from __future__ import annotations

import asyncio
from typing import Any

import azure.functions as func

from functions.http import (
    ListQuery,
    Page,
    Routes,
    audit_change,
    created,
    if_match,
    json_response,
    no_content,
    page_response,
    parse_body,
    reply,
    versioned,
)
from shared.auth.caller import Caller
from shared.errors import NotFound
from shared.openapi import IF_MATCH
from shared.storage.factory import document_store
from shared.strategies_store import Strategy, StrategyIn, StrategyStore, StrategyVersion

bp = func.Blueprint()
TAGS = ("strategies",)
route = Routes(bp, tags=TAGS)


def _store() -> StrategyStore:
    return StrategyStore(document_store())


def _audit(caller: Caller, action: str, strategy: Strategy, detail: dict[str, Any]) -> None:
    audit_change(
        caller,
        action,
        account=strategy.account,
        target=f"strategies/{strategy.id}",
        detail={"version": strategy.version, **detail},
    )


route.account_list(
    "strategies",
    name="strategies_list",
    summary="List my strategies at their latest version",
    item=Strategy,
    lister=lambda: _store().list_page,
)


@route(
    "POST",
    "strategies",
    role="trader",
    summary="Save a strategy (version 1)",
    body=StrategyIn,
    body_examples=(
        (
            "smaCross",
            {
                "name": "cross",
                "spec": {"strategy": "sma_cross", "grid": {"fast": [5, 10], "slow": [20, 40]}},
            },
        ),
    ),
    response=Strategy,
    status=201,
)
async def strategies_create(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    data = await asyncio.to_thread(parse_body, req, StrategyIn)
    item = await asyncio.to_thread(_store().create, caller, data)
    await asyncio.to_thread(_audit, caller, "strategy.created", item, {"name": item.name})
    return created(item, f"/api/strategies/{item.id}", etag=item.etag)


@route(
    "GET",
    "strategies/{strategyId}",
    role="viewer",
    summary="Read a strategy at its latest version",
    response=Strategy,
    errors=(404,),
)
async def strategies_get(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    return await reply(_store().get, caller, req.route_params["strategyId"], etag=True)


@route(
    "PUT",
    "strategies/{strategyId}",
    role="trader",
    summary="Save a new version of a strategy",
    body=StrategyIn,
    response=Strategy,
    headers=(IF_MATCH,),
    errors=(404, 412),
)
async def strategies_update(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    data = await asyncio.to_thread(parse_body, req, StrategyIn)
    updated = await asyncio.to_thread(
        _store().update,
        caller,
        req.route_params["strategyId"],
        data,
        if_match(req),
    )
    await asyncio.to_thread(_audit, caller, "strategy.updated", updated, {"name": updated.name})
    return versioned(updated)


@route(
    "DELETE",
    "strategies/{strategyId}",
    role="trader",
    summary="Delete a strategy (its versions stay readable to backtests that ran them)",
    status=204,
    headers=(IF_MATCH,),
    errors=(404, 412),
)
async def strategies_delete(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    gone = await asyncio.to_thread(
        _store().delete, caller, req.route_params["strategyId"], if_match(req)
    )
    await asyncio.to_thread(_audit, caller, "strategy.deleted", gone, {})
    return no_content()


@route(
    "GET",
    "strategies/{strategyId}/versions",
    role="viewer",
    summary="List every version of a strategy, oldest first",
    query=ListQuery,
    response=Page[StrategyVersion],
    errors=(404,),
)
async def strategies_versions(
    req: func.HttpRequest, caller: Caller, query: ListQuery
) -> func.HttpResponse:
    items, token = await asyncio.to_thread(
        _store().versions,
        caller,
        req.route_params["strategyId"],
        limit=query.limit,
        continuation=query.continuation_token,
    )
    return page_response(items, token)


@route(
    "GET",
    "strategies/{strategyId}/versions/{version}",
    role="viewer",
    summary="Read one version of a strategy",
    response=StrategyVersion,
    errors=(404,),
)
async def strategies_version(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    text = req.route_params["version"]
    if not text.isdigit() or len(text) > 9:
        raise NotFound(f"version {text!r} not found; versions are 1, 2, 3, ...")
    found = await asyncio.to_thread(
        _store().version, caller, req.route_params["strategyId"], int(text)
    )
    return json_response(found)
