"""The one in-process harness for the app's functions: a route called by (method, route
template) with a real dev token, as the Functions host would call it, and any registered
function (a timer, say) found by name. Everything comes from `function_app.app`, the app
that is deployed, so a test reaches a route only through its real registration."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
import httpx

from shared.ingest.state import QUOTES, quote_document
from shared.market.models import Quote
from shared.storage.documents import DocumentStore
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

    @property
    def problem(self) -> tuple[str, str]:
        """(`type`, `title`) of a problem+json reply: which error it is, not just its status."""
        assert self.mimetype == "application/problem+json", (self.status, self.body[:300])
        body = self.json
        return body["type"], body["title"]


def assert_problem(
    reply: Reply | httpx.Response,
    status: int,
    title: str,
    names: str = "",
    type_: str = "about:blank",
) -> None:
    """`reply` (in-process or over HTTP) is the problem+json of one error: its status, `type`
    and `title`, and a detail that contains `names` (what tells it from the other problems
    sharing its status)."""
    if isinstance(reply, httpx.Response):
        got, media, body = reply.status_code, reply.headers.get("content-type", ""), reply.content
    else:
        got, media, body = reply.status, reply.mimetype, reply.body
    assert media.split(";")[0] == "application/problem+json", (got, media, body[:300])
    problem = json.loads(body)
    assert (got, problem["type"], problem["title"]) == (status, type_, title), body[:500]
    assert names in problem["detail"], problem["detail"]


_ROUTES: dict[tuple[str, str], Any] = {}


def app_functions() -> list[Any]:
    """Every function `function_app.app` registers (imported on first use)."""
    import function_app
    from functions.openapi import app_functions as registered

    return registered(function_app.app)


def app_function(name: str) -> Any:
    """The registered function called `name` (its trigger, bindings and user function)."""
    (function,) = [f for f in app_functions() if f.get_function_name() == name]
    return function


def _route_table() -> dict[tuple[str, str], Any]:
    if not _ROUTES:
        for function in app_functions():
            trigger = function.get_trigger()
            if trigger is None or trigger.type != "httpTrigger":
                continue
            for method in trigger.methods or []:
                key = (str(getattr(method, "value", method)).upper(), str(trigger.route))
                _ROUTES[key] = function.get_user_function()
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
    """Invoke the function registered for (`method`, `route` template) in-process: `params`
    fill the route's `{names}`, `query` is the query string, `role=None` sends no token."""
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


def put_quote(store: DocumentStore, symbol: str, price: float, ts: datetime | None = None) -> None:
    """Write the latest quote of `symbol` (stamped `ts`, default now) as the market-data code
    does."""
    quote = Quote(symbol=symbol, price=price, ts=ts or datetime.now(UTC), source="test")
    store.upsert(QUOTES, quote_document(quote))
