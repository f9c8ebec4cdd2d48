"""Every state-changing route writes an audit record carrying the server's request id: one
recipe per POST/PUT/DELETE route, and a guard that a new such route cannot ship without one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.openapi import http_routes
from shared.audit import AuditLog
from shared.storage.factory import document_store
from testsupport.routes import Reply, put_quote

Recipe = Callable[[Any], Awaitable[Reply]]
SPEC = {"strategy": "sma_cross", "grid": {"fast": [5], "slow": [20]}}
COVERED_ELSEWHERE = {
    # the durable client binding: see tests/api/test_backtest_audit.py
    ("POST", "backtests"),
    ("DELETE", "backtests/{run_id}"),
}


async def _watchlist(call) -> str:
    return (await call("POST", "watchlists", body={"name": "w", "symbols": ["AAPL"]})).json["id"]


async def _strategy(call) -> str:
    return (await call("POST", "strategies", body={"name": "s", "spec": SPEC})).json["id"]


async def _paper(call) -> str:
    return (await call("POST", "paper/accounts", body={"startingCash": 1000})).json["id"]


async def _order(call) -> tuple[str, str]:
    account = await _paper(call)
    body = {"symbol": "AAPL", "side": "buy", "type": "limit", "qty": 1, "limitPrice": 5}
    order = await call(
        "POST", "paper/accounts/{accountId}/orders", params={"accountId": account}, body=body
    )
    return account, order.json["id"]


async def _create_watchlist(call) -> Reply:
    return await call("POST", "watchlists", body={"name": "w", "symbols": ["AAPL"]})


async def _replace_watchlist(call) -> Reply:
    one = {"watchlistId": await _watchlist(call)}
    return await call("PUT", "watchlists/{watchlistId}", params=one, body={"name": "n"})


async def _delete_watchlist(call) -> Reply:
    one = {"watchlistId": await _watchlist(call)}
    return await call("DELETE", "watchlists/{watchlistId}", params=one)


async def _create_strategy(call) -> Reply:
    return await call("POST", "strategies", body={"name": "s", "spec": SPEC})


async def _replace_strategy(call) -> Reply:
    one = {"strategyId": await _strategy(call)}
    body = {"name": "s2", "spec": SPEC}
    return await call("PUT", "strategies/{strategyId}", params=one, body=body)


async def _delete_strategy(call) -> Reply:
    one = {"strategyId": await _strategy(call)}
    return await call("DELETE", "strategies/{strategyId}", params=one)


async def _open_paper(call) -> Reply:
    return await call("POST", "paper/accounts", body={"startingCash": 1000})


async def _place(call) -> Reply:
    account = await _paper(call)
    body = {"symbol": "AAPL", "side": "buy", "qty": 1}
    return await call(
        "POST", "paper/accounts/{accountId}/orders", params={"accountId": account}, body=body
    )


async def _cancel(call) -> Reply:
    account, order = await _order(call)
    params = {"accountId": account, "orderId": order}
    return await call("POST", "paper/accounts/{accountId}/orders/{orderId}/cancel", params=params)


async def _match(call) -> Reply:
    return await call("POST", "paper/match", role="admin", account="root")


async def _backfill(call) -> Reply:
    body = {"symbols": ["AAPL"], "start": "2025-01-02", "end": "2025-01-03", "provider": "sample"}
    return await call("POST", "ops/backfill", role="admin", account="root", body=body)


EXECUTION = {
    "symbol": "AAPL",
    "side": "buy",
    "quantity": 1,
    "price": 10,
    "executedAt": "2024-03-04T09:30:00-05:00",
}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
GENERIC_CSV = (
    "broker_account,symbol,side,quantity,price,fees,executed_at,currency,external_id\n"
    "U1,AAPL,buy,1,10,0,2024-03-04T09:30:00-05:00,USD,x-1\n"
)


async def _execution(call) -> str:
    return (await call("POST", "journal/executions", body=EXECUTION)).json["id"]


async def _trade(call) -> str:
    await _execution(call)
    trades = await call("GET", "journal/trades", query={"status": "open"})
    return trades.json["items"][0]["id"]


async def _slot(call) -> Reply:
    one = {"tradeId": await _trade(call)}
    body = {"contentType": "image/png", "size": len(PNG)}
    return await call("POST", "journal/trades/{tradeId}/screenshots", params=one, body=body)


async def _record_execution(call) -> Reply:
    return await call("POST", "journal/executions", body=EXECUTION)


async def _edit_execution(call) -> Reply:
    one = {"executionId": await _execution(call)}
    return await call(
        "PUT", "journal/executions/{executionId}", params=one, body={**EXECUTION, "price": 11}
    )


async def _delete_execution(call) -> Reply:
    one = {"executionId": await _execution(call)}
    return await call("DELETE", "journal/executions/{executionId}", params=one)


async def _annotate(call) -> Reply:
    one = {"tradeId": await _trade(call)}
    body = {"notes": "late entry", "tags": ["gap"]}
    return await call("PUT", "journal/trades/{tradeId}/annotation", params=one, body=body)


async def _import(call) -> Reply:
    body = {"format": "generic", "content": GENERIC_CSV, "filename": "trades.csv"}
    return await call("POST", "journal/imports", body=body)


async def _upload(call) -> Reply:
    slot = (await _slot(call)).json
    owner, upload = slot["uploadUrl"].split("?")[0].split("/")[-2:]
    return await call(
        "PUT",
        "journal/uploads/{owner}/{uploadId}",
        params={"owner": owner, "uploadId": upload},
        role=None,
        body=PNG,
        headers={"Content-Type": "image/png"},
    )


RECIPES: dict[tuple[str, str], Recipe] = {
    ("POST", "watchlists"): _create_watchlist,
    ("PUT", "watchlists/{watchlistId}"): _replace_watchlist,
    ("DELETE", "watchlists/{watchlistId}"): _delete_watchlist,
    ("POST", "strategies"): _create_strategy,
    ("PUT", "strategies/{strategyId}"): _replace_strategy,
    ("DELETE", "strategies/{strategyId}"): _delete_strategy,
    ("POST", "paper/accounts"): _open_paper,
    ("POST", "paper/accounts/{accountId}/orders"): _place,
    ("POST", "paper/accounts/{accountId}/orders/{orderId}/cancel"): _cancel,
    ("POST", "paper/match"): _match,
    ("POST", "ops/backfill"): _backfill,
    ("POST", "journal/executions"): _record_execution,
    ("PUT", "journal/executions/{executionId}"): _edit_execution,
    ("DELETE", "journal/executions/{executionId}"): _delete_execution,
    ("PUT", "journal/trades/{tradeId}/annotation"): _annotate,
    ("POST", "journal/imports"): _import,
    ("POST", "journal/trades/{tradeId}/screenshots"): _slot,
    ("PUT", "journal/uploads/{owner}/{uploadId}"): _upload,
}


def test_every_state_changing_route_has_an_audit_recipe():
    mutating = {
        (route.method, route.path)
        for route, _ in http_routes()
        if route.method in ("POST", "PUT", "PATCH", "DELETE")
    }
    missing = mutating - set(RECIPES) - COVERED_ELSEWHERE
    assert not missing, f"state-changing routes without an audit test: {sorted(missing)}"
    assert not (set(RECIPES) | COVERED_ELSEWHERE) - mutating, "a recipe for a route that is gone"


def _records() -> list[dict[str, Any]]:
    month = datetime.now(UTC).strftime("%Y-%m")
    records, _ = AuditLog(document_store()).page(month, limit=500)
    return [r.model_dump(mode="json", by_alias=True) for r in records]


@pytest.mark.parametrize("key", sorted(RECIPES), ids=lambda k: f"{k[0]} {k[1]}")
async def test_a_state_changing_call_is_audited_with_the_server_request_id(call, store, key):
    put_quote(store, "AAPL", 10.0)
    recipe = RECIPES[key]
    before = {r["id"] for r in _records()}
    reply = await recipe(call)
    assert reply.status < 300, reply.body
    new = [r for r in _records() if r["id"] not in before]  # the recipe's set-up calls too
    mine = [r for r in new if r["requestId"] == reply.headers["X-Request-Id"]]
    assert mine, f"{key} changed state without an audit record"
    assert all(r["actor"] for r in mine)
    assert all(len(r["requestId"]) == 32 for r in new), "every record has a server request id"
