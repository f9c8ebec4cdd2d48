"""Watchlist routes: /api/watchlists[/{watchlistId}] (viewer reads, trader writes)."""

from __future__ import annotations

import asyncio
from typing import Any

import azure.functions as func

from functions.http import (
    Routes,
    audit_change,
    created,
    if_match,
    no_content,
    parse_body,
    reply,
    versioned,
)
from shared.auth.caller import Caller
from shared.openapi import IF_MATCH
from shared.storage.factory import document_store
from shared.watchlists import Watchlist, WatchlistIn, WatchlistStore

bp = func.Blueprint()
TAGS = ("watchlists",)
route = Routes(bp, tags=TAGS)
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


route.account_list(
    "watchlists",
    name="watchlists_list",
    summary="List my watchlists (admins: every account's)",
    item=Watchlist,
    lister=lambda: _store().list_page,
)


@route(
    "POST",
    "watchlists",
    role="trader",
    summary="Create a watchlist",
    description=LIMITS,
    body=WatchlistIn,
    body_examples=(("tech", {"name": "tech", "symbols": ["AAPL"]}),),
    response=Watchlist,
    status=201,
)
async def watchlists_create(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    data = parse_body(req, WatchlistIn)
    item = await asyncio.to_thread(_store().create, caller, data)
    await asyncio.to_thread(_audit, caller, "watchlist.created", item, {"symbols": data.symbols})
    return created(item, f"/api/watchlists/{item.id}", etag=item.etag)


@route(
    "GET",
    "watchlists/{watchlistId}",
    role="viewer",
    summary="Read a watchlist",
    response=Watchlist,
    errors=(404,),
)
async def watchlists_get(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    return await reply(_store().get, caller, req.route_params["watchlistId"], etag=True)


@route(
    "PUT",
    "watchlists/{watchlistId}",
    role="trader",
    summary="Replace a watchlist's name and symbols",
    description=LIMITS,
    body=WatchlistIn,
    response=Watchlist,
    headers=(IF_MATCH,),
    errors=(404, 412),
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
    return versioned(after)


@route(
    "DELETE",
    "watchlists/{watchlistId}",
    role="trader",
    summary="Delete a watchlist",
    status=204,
    headers=(IF_MATCH,),
    errors=(404, 412),
)
async def watchlists_delete(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    gone = await asyncio.to_thread(
        _store().delete, caller, req.route_params["watchlistId"], if_match(req)
    )
    await asyncio.to_thread(_audit, caller, "watchlist.deleted", gone, {"symbols": gone.symbols})
    return no_content()
