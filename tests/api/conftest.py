"""In-process calls to the app's HTTP routes, with real dev tokens and real storage."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
import pytest

from functions.openapi import http_routes
from shared.storage.documents import DocumentStore
from shared.storage.factory import document_store
from testsupport.auth import auth_headers


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    mimetype: str

    @property
    def json(self) -> Any:
        return json.loads(self.body)


_ROUTES: dict[tuple[str, str], Any] = {}
OFFLINE_DURABLE_CLIENT = json.dumps(
    {
        "taskHubName": "InProcess",
        "creationUrls": {},
        "managementUrls": {"id": "INSTANCEID"},
        "rpcBaseUrl": "http://127.0.0.1:9/durabletask/",
    }
)
"""The durable client binding an in-process call gets: enough for routes that only start
orchestrations on some inputs (a call that does reach it fails to connect: use a host)."""


def _route_table() -> dict[tuple[str, str], Any]:
    if not _ROUTES:
        import function_app
        from functions.openapi import app_functions

        for function in app_functions(function_app.app):
            trigger = function.get_trigger()
            if trigger is None or trigger.type != "httpTrigger":
                continue
            for method in trigger.methods or []:
                key = (str(getattr(method, "value", method)).upper(), str(trigger.route))
                user = function.get_user_function()
                if any(b.type == "durableClient" for b in function.get_bindings()):
                    user = functools.partial(user, client=OFFLINE_DURABLE_CLIENT)
                _ROUTES[key] = user
    return _ROUTES


async def call_route(
    method: str,
    route: str,
    *,
    params: dict[str, str] | None = None,
    role: str | None = "trader",
    account: str = "alice",
    body: Any = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """Invoke the function registered for (`method`, `route` template) in-process."""
    handler = _route_table()[(method.upper(), route)]
    path = route
    for name, value in (params or {}).items():
        path = path.replace("{" + name + "}", value)
    all_headers = {**(auth_headers(role, account) if role else {}), **(headers or {})}
    raw = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    if raw:
        all_headers.setdefault("Content-Type", "application/json")
    request = func.HttpRequest(
        method.upper(),
        f"http://127.0.0.1:7071/api/{path}",
        headers=all_headers,
        params=query or {},
        route_params=params or {},
        body=raw,
    )
    response = await handler(request)
    return Reply(
        status=response.status_code,
        headers=dict(response.headers),
        body=response.get_body(),
        mimetype=response.mimetype,
    )


@pytest.fixture
def call() -> Callable[..., Any]:
    return call_route


@pytest.fixture
def store() -> DocumentStore:
    return document_store()


def put_quote(store: DocumentStore, symbol: str, price: float, ts: datetime | None = None) -> None:
    """Write the latest quote of `symbol` (stamped `ts`, default now) as the market-data code
    does."""
    store.upsert(
        "quotes",
        {
            "id": symbol,
            "pk": symbol,
            "symbol": symbol,
            "price": price,
            "ts": (ts or datetime.now(UTC)).isoformat(),
            "source": "test",
        },
    )


__all__ = ["Reply", "call_route", "http_routes", "put_quote"]
