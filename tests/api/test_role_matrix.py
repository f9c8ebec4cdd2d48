"""Every HTTP route of the app x anonymous / viewer / trader / admin / another account.

Routes are enumerated from function_app's registrations, so a new route is covered the
moment it is registered: its `endpoint(role=...)` fixes who gets 401/403, and the table
below fixes the exact status of the callers that pass. A route missing from the table
still gets the role checks and must not answer 5xx.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from functions.openapi import http_routes
from shared.auth.caller import ROLE_RANK
from shared.storage.documents_sqlite import SqliteDocumentStore
from testsupport.auth import auth_headers
from testsupport.host import start_host
from testsupport.routes import put_quote

IDENTITIES: dict[str, tuple[str | None, str]] = {
    "anonymous": (None, ""),
    "viewer": ("viewer", "alice"),
    "trader": ("trader", "alice"),
    "admin": ("admin", "root"),
    "other": ("trader", "bob"),
}

WATCHLIST = {"name": "tech", "symbols": ["aapl", "msft"]}
STRATEGY = {"name": "x", "spec": {"strategy": "sma_cross", "grid": {"fast": [5], "slow": [20]}}}
ORDER = {"symbol": "AAPL", "side": "buy", "type": "limit", "qty": 1, "limitPrice": 50}

# (method, route) -> (request body, {identity: status}); viewer/trader act on alice's data.
OWN_READ = {"viewer": 200, "trader": 200, "admin": 200, "other": 404}
OWN_WRITE = {"viewer": 403, "trader": 200, "admin": 200, "other": 404}
LIST = {"viewer": 200, "trader": 200, "admin": 200, "other": 200}
CREATE = {"viewer": 403, "trader": 201, "admin": 201, "other": 201}
ADMIN_ONLY = {"viewer": 403, "trader": 403, "admin": 200, "other": 403}
PUBLIC = {"anonymous": 200, "viewer": 200, "trader": 200, "admin": 200, "other": 200}

EXPECTED: dict[tuple[str, str], tuple[Any, dict[str, int]]] = {
    ("GET", "watchlists"): (None, LIST),
    ("POST", "watchlists"): (WATCHLIST, CREATE),
    ("GET", "watchlists/{watchlistId}"): (None, OWN_READ),
    ("PUT", "watchlists/{watchlistId}"): (WATCHLIST, OWN_WRITE),
    ("DELETE", "watchlists/{watchlistId}"): (None, {**OWN_WRITE, "trader": 204, "admin": 204}),
    ("GET", "strategies"): (None, LIST),
    ("POST", "strategies"): (STRATEGY, CREATE),
    ("GET", "strategies/{strategyId}"): (None, OWN_READ),
    ("PUT", "strategies/{strategyId}"): (STRATEGY, OWN_WRITE),
    ("DELETE", "strategies/{strategyId}"): (None, {**OWN_WRITE, "trader": 204, "admin": 204}),
    ("GET", "strategies/{strategyId}/versions"): (None, OWN_READ),
    ("GET", "strategies/{strategyId}/versions/{version}"): (None, OWN_READ),
    ("GET", "paper/accounts"): (None, LIST),
    ("POST", "paper/accounts"): ({"startingCash": 1000}, CREATE),
    ("GET", "paper/accounts/{accountId}"): (None, OWN_READ),
    ("GET", "paper/accounts/{accountId}/orders"): (None, OWN_READ),
    ("POST", "paper/accounts/{accountId}/orders"): (
        ORDER,
        {**OWN_WRITE, "trader": 201, "admin": 201},
    ),
    ("GET", "paper/accounts/{accountId}/orders/{orderId}"): (None, OWN_READ),
    ("POST", "paper/accounts/{accountId}/orders/{orderId}/cancel"): (None, OWN_WRITE),
    ("POST", "paper/match"): (None, ADMIN_ONLY),
    ("GET", "audit"): (None, ADMIN_ONLY),
    ("GET", "openapi.json"): (None, PUBLIC),
    ("GET", "docs"): (None, PUBLIC),
    # Other areas' routes, with inputs whose answer does not depend on their data.
    ("GET", "health"): (None, PUBLIC),
    ("GET", "feed/page"): (None, PUBLIC),
    ("GET", "quotes"): (None, {**LIST, "viewer": 422, "trader": 422, "admin": 422, "other": 422}),
    ("GET", "bars/{symbol}"): (None, {k: 404 for k in LIST}),
    ("GET", "backtests"): (None, LIST),
    ("GET", "backtests/{run_id}"): (None, {k: 404 for k in LIST}),
    ("GET", "backtests/{run_id}/results"): (None, {k: 404 for k in LIST}),
    ("DELETE", "backtests/{run_id}"): (None, {**OWN_WRITE, "trader": 404, "admin": 404}),
    ("POST", "backtests"): ({}, {**CREATE, "trader": 422, "admin": 422, "other": 422}),
}

ROUTES = sorted(
    {(route.method, route.path): route for route, _ in http_routes()}.values(),
    key=lambda r: (r.path, r.method),
)
CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$|^[A-Z0-9^][A-Z0-9.^-]*$")


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    """One local host for the module, over real HTTP (routes with Durable client bindings
    only run inside a host)."""
    data = tmp_path_factory.mktemp("matrix-host")
    # the matrix writes one resource per cell into alice's account: above the default limits
    env = {"LOCAL_DATA_DIR": str(data), "WATCHLISTS_PER_ACCOUNT": "500"}
    with start_host(env=env) as running:
        store = SqliteDocumentStore(data / "documents.sqlite3")
        put_quote(store, "AAPL", 100.0)
        with httpx.Client(base_url=running.base_url, timeout=30) as client:
            host = Host(client, store)
            host.shared = alice_resources(host)
            yield host


class Host:
    def __init__(self, client: httpx.Client, store: SqliteDocumentStore) -> None:
        self.client = client
        self.store = store
        self.shared: dict[str, str] = {}

    def send(
        self, method: str, path: str, role: str | None, account: str, body: Any = None
    ) -> httpx.Response:
        headers = auth_headers(role, account) if role else {}
        return self.client.request(
            method, f"/api/{path}", headers=headers, json=body if body is not None else None
        )


def alice_resources(host: Host) -> dict[str, str]:
    made = {}
    made["watchlistId"] = host.send("POST", "watchlists", "trader", "alice", WATCHLIST).json()["id"]
    made["strategyId"] = host.send("POST", "strategies", "trader", "alice", STRATEGY).json()["id"]
    made["accountId"] = host.send(
        "POST", "paper/accounts", "trader", "alice", {"startingCash": 1000}
    ).json()["id"]
    made["orderId"] = host.send(
        "POST", f"paper/accounts/{made['accountId']}/orders", "trader", "alice", ORDER
    ).json()["id"]
    made["version"] = "1"
    made["symbol"] = "AAPL"
    return made


def camel_keys(value: Any, path: str = "") -> list[str]:
    """Keys that are not camelCase, outside free-form maps (grid/params/detail)."""
    bad: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if not CAMEL.match(key):
                bad.append(f"{path}.{key}")
            if key not in ("grid", "params", "detail", "errors"):
                bad.extend(camel_keys(item, f"{path}.{key}"))
    elif isinstance(value, list):
        for item in value:
            bad.extend(camel_keys(item, path))
    return bad


def test_every_route_declares_its_role_through_endpoint():
    missing = [f"{r.method} {r.path}" for r, declared in http_routes() if not declared]
    assert missing == [], f"routes without functions.http.endpoint(role=...): {missing}"


def test_the_table_names_only_real_routes():
    real = {(r.method, r.path) for r in ROUTES}
    assert set(EXPECTED) <= real, set(EXPECTED) - real


@pytest.mark.e2e
@pytest.mark.parametrize("identity", list(IDENTITIES))
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_role_matrix(route, identity, host):
    role, account = IDENTITIES[identity]
    destructive = route.method == "DELETE" or route.path.endswith("/cancel")
    params = alice_resources(host) if destructive else host.shared
    path = re.sub(r"\{(\w+)[^}]*\}", lambda m: params.get(m.group(1), "x"), route.path)
    body, table = EXPECTED.get((route.method, route.path), ({}, {}))
    sends_body = route.method in ("POST", "PUT", "PATCH")
    if body is None and sends_body and route.spec.body:
        body = {}
    reply = host.send(route.method, path, role, account or "nobody", body if sends_body else None)
    assert "no function serves" not in reply.text, (
        f"the local host does not serve {route.function_name} (in error, as Azure would "
        f"refuse it); see the host log: {reply.text}"
    )
    assert reply.headers.get("X-Request-Id"), "every response carries X-Request-Id"
    needed = route.spec.role
    if identity in table:
        expected = table[identity]
    elif needed is None:
        expected = None
    elif role is None:
        expected = 401
    elif ROLE_RANK[role] < ROLE_RANK[needed]:
        expected = 403
    else:
        expected = None
    detail = f"{route.method} /api/{path} as {identity}: {reply.text[:300]!r}"
    if expected is not None:
        assert reply.status_code == expected, detail
    else:
        assert reply.status_code not in (401, 403), detail
        assert reply.status_code < 500, detail
    media = reply.headers.get("Content-Type", "")
    if identity == "other" and reply.status_code == 200 and media.startswith("application/json"):
        items = reply.json().get("items", []) if isinstance(reply.json(), dict) else []
        owners = {item.get("account", item.get("accountId")) for item in items}
        assert "alice" not in owners, f"another account's list shows alice's items: {detail}"
    if reply.status_code == 401:
        assert reply.headers.get("WWW-Authenticate", "").startswith("Bearer"), detail
    if reply.status_code >= 400:
        assert media.startswith("application/problem+json"), detail
        problem = reply.json()
        assert problem["status"] == reply.status_code
        assert {"type", "title", "detail"} <= set(problem)
    elif (
        route.path != "openapi.json"
        and (route.method, route.path) in EXPECTED
        and media.startswith("application/json")
    ):
        assert camel_keys(reply.json()) == [], detail
