"""Watchlist routes: /api/watchlists[/{watchlistId}] (viewer reads, trader writes)."""

from __future__ import annotations

import asyncio
from typing import Any

import azure.functions as func

from functions.http import (
    AccountListQuery,
    Page,
    account_list_response,
    audit_change,
    endpoint,
    if_match,
    json_response,
    no_content,
    parse_body,
)
from shared.auth.caller import Caller
from shared.openapi import IF_MATCH
from shared.storage.factory import document_store
from shared.watchlists import Watchlist, WatchlistIn, WatchlistStore

bp = func.Blueprint()
TAGS = ("watchlists",)
LIMITS = (
    "Per account at most WATCHLISTS_PER_ACCOUNT lists and WATCHLIST_SYMBOLS_PER_ACCOUNT "
    "distinct symbols across them; a write over a limit is refused with 422 problem+json "
    "(title 'Limit exceeded', members `limit` and `setting`)."
)


def _store() -> WatchlistStore:
    return WatchlistStore(document_store())


def _audit(caller: Caller, action: str, watchlist: Watchlist, detail: dict[str, Any]) -> None:
    audit_change(
        caller,
        action,
        account=watchlist.account,
        target=f"watchlists/{watchlist.id}",
        detail=detail,
    )


@bp.function_name("watchlists_list")
@bp.route(route="watchlists", methods=["GET"])
@endpoint(
    role="viewer",
    summary="List my watchlists (admins: every account's)",
    query=AccountListQuery,
    response=Page[Watchlist],
    tags=TAGS,
)
async def watchlists_list(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    return await account_list_response(req, caller, _store().list_page)


@bp.function_name("watchlists_create")
@bp.route(route="watchlists", methods=["POST"])
@endpoint(
    role="trader",
    summary="Create a watchlist",
    description=LIMITS,
    body=WatchlistIn,
    response=Watchlist,
    status=201,
    tags=TAGS,
)
async def watchlists_create(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    data = parse_body(req, WatchlistIn)
    created = await asyncio.to_thread(_store().create, caller, data)
    await asyncio.to_thread(_audit, caller, "watchlist.created", created, {"symbols": data.symbols})
    headers = {"Location": f"/api/watchlists/{created.id}", "ETag": created.etag}
    return json_response(created, status=201, headers=headers)


@bp.function_name("watchlists_get")
@bp.route(route="watchlists/{watchlistId}", methods=["GET"])
@endpoint(role="viewer", summary="Read a watchlist", response=Watchlist, errors=(404,), tags=TAGS)
async def watchlists_get(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    found = await asyncio.to_thread(_store().get, caller, req.route_params["watchlistId"])
    return json_response(found, headers={"ETag": found.etag})


@bp.function_name("watchlists_replace")
@bp.route(route="watchlists/{watchlistId}", methods=["PUT"])
@endpoint(
    role="trader",
    summary="Replace a watchlist's name and symbols",
    description=LIMITS,
    body=WatchlistIn,
    response=Watchlist,
    headers=(IF_MATCH,),
    errors=(404, 412),
    tags=TAGS,
)
async def watchlists_replace(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    data = parse_body(req, WatchlistIn)
    before, after = await asyncio.to_thread(
        _store().replace,
        caller,
        req.route_params["watchlistId"],
        data,
        if_match(req),
    )
    detail = {"before": before.symbols, "after": after.symbols, "name": after.name}
    await asyncio.to_thread(_audit, caller, "watchlist.updated", after, detail)
    return json_response(after, headers={"ETag": after.etag})


@bp.function_name("watchlists_delete")
@bp.route(route="watchlists/{watchlistId}", methods=["DELETE"])
@endpoint(
    role="trader",
    summary="Delete a watchlist",
    status=204,
    headers=(IF_MATCH,),
    errors=(404, 412),
    tags=TAGS,
)
async def watchlists_delete(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    gone = await asyncio.to_thread(
        _store().delete, caller, req.route_params["watchlistId"], if_match(req)
    )
    await asyncio.to_thread(_audit, caller, "watchlist.deleted", gone, {"symbols": gone.symbols})
    return no_content()
