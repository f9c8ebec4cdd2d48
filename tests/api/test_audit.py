"""The audit log: sign-in denials with reasons, order actions, config changes, admin-only,
append-only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from functions.openapi import http_routes
from shared.audit import AuditLog
from shared.errors import Conflict
from tests.api.conftest import put_quote
from tests.support.auth import auth_headers


async def audit(call, **query):
    reply = await call("GET", "audit", role="admin", account="root", query=query)
    assert reply.status == 200, reply.body
    return reply.json["items"]


async def test_sign_in_denials_are_recorded_with_their_reason(call):
    token = auth_headers("trader", "alice")["Authorization"]
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert (await call("GET", "watchlists", role=None)).status == 401
    assert (
        await call("GET", "watchlists", role=None, headers={"Authorization": tampered})
    ).status == 401
    forbidden = await call(
        "POST",
        "watchlists",
        role="viewer",
        account="vic",
        body={"name": "x"},
        headers={"X-Request-Id": "deny-1"},
    )
    assert forbidden.status == 403
    records = await audit(call, kind="auth")
    reasons = [(r["reason"], r["outcome"]) for r in records]
    assert reasons == [
        ("insufficient_role", "403"),
        ("signature", "401"),
        ("missing_token", "401"),
    ]
    assert records[0]["actor"] == "vic"
    assert records[0]["requestId"] == "deny-1"
    assert records[0]["path"].endswith("/api/watchlists")
    assert records[0]["at"].endswith("Z")


async def test_order_actions_are_recorded(call, store):
    put_quote(store, "AAPL", 100.0)
    account_id = (await call("POST", "paper/accounts", body={"startingCash": 1000})).json["id"]
    order = (
        await call(
            "POST",
            "paper/accounts/{accountId}/orders",
            params={"accountId": account_id},
            body={"symbol": "AAPL", "side": "buy", "type": "limit", "qty": 1, "limitPrice": 1},
        )
    ).json
    await call(
        "POST",
        "paper/accounts/{accountId}/orders/{orderId}/cancel",
        params={"accountId": account_id, "orderId": order["id"]},
    )
    records = await audit(call, kind="order", account="alice")
    assert [(r["action"], r["outcome"]) for r in records] == [
        ("order.cancelled", "cancelled"),
        ("order.placed", "open"),
    ]
    assert records[0]["target"] == f"paper/{account_id}/{order['id']}"


async def test_reading_is_for_admins_and_months_are_validated(call):
    assert (await call("GET", "audit", role="trader")).status == 403
    bad = await call("GET", "audit", role="admin", account="root", query={"month": "2026-13"})
    assert bad.status == 422
    empty = await call("GET", "audit", role="admin", account="root", query={"month": "2001-01"})
    assert empty.json == {"items": [], "continuationToken": None}


def test_the_log_has_no_update_path(store):
    log = AuditLog(store)
    public = {name for name in dir(log) if not name.startswith("_")}
    assert public == {"append", "try_append", "page", "store"}
    record = log.append("config", "test.done", actor="root")
    document = store.read("audit", record.id, datetime.now(UTC).strftime("%Y-%m"))
    with pytest.raises(Conflict):
        store.create("audit", document)
    audit_routes = {(r.method, r.path) for r, _ in http_routes() if r.path.startswith("audit")}
    assert audit_routes == {("GET", "audit")}


def test_denial_limiter_caps_a_minute_and_reports_the_excess_later():
    from shared.audit import DenialLimiter

    now = [0.0]
    limiter = DenialLimiter(2, clock=lambda: now[0])
    assert [limiter.admit() for _ in range(4)] == [(True, 0), (True, 0), (False, 0), (False, 0)]
    now[0] = 61.0
    assert limiter.admit() == (True, 2)
    assert limiter.admit() == (True, 0)


async def test_a_flood_of_denials_writes_a_bounded_number_of_records(call, monkeypatch):
    import functions.http
    from shared.audit import DenialLimiter

    now = [0.0]
    monkeypatch.setattr(functions.http, "_denials", DenialLimiter(3, clock=lambda: now[0]))
    for _ in range(10):
        assert (await call("GET", "watchlists", role=None)).status == 401
    now[0] = 60.0
    assert (await call("GET", "watchlists", role=None)).status == 401
    records = await audit(call, kind="auth")
    actions = [r["action"] for r in records]
    assert actions.count("auth.denied") == 4
    summary = next(r for r in records if r["action"] == "auth.denied.suppressed")
    assert summary["detail"]["count"] == 7
