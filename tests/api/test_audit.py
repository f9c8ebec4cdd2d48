"""The audit log: sign-in denials with reasons, order actions, config changes, admin-only,
append-only."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime

import pytest

from functions.openapi import http_routes
from shared.audit import AuditLog
from shared.errors import Conflict
from testsupport.auth import auth_headers
from testsupport.routes import app_function, assert_problem, put_quote


async def audit(call, **query):
    reply = await call("GET", "audit", role="admin", account="root", query=query)
    assert reply.status == 200, reply.body
    return reply.json["items"]


async def a_limit_buy(call, store, limit_price: float) -> tuple[str, dict]:
    """AAPL quoted at 100, a new paper account of alice's with 1000 cash and an open limit
    buy of 1 AAPL at `limit_price` in it: (account id, order)."""
    put_quote(store, "AAPL", 100.0)
    account_id = (await call("POST", "paper/accounts", body={"startingCash": 1000})).json["id"]
    order = await call(
        "POST",
        "paper/accounts/{accountId}/orders",
        params={"accountId": account_id},
        body={
            "symbol": "AAPL",
            "side": "buy",
            "type": "limit",
            "qty": 1,
            "limitPrice": limit_price,
        },
    )
    assert order.status == 201, order.body
    return account_id, order.json


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
    assert records[0]["requestId"] == forbidden.headers["X-Request-Id"]
    assert len(records[0]["requestId"]) == 32
    assert records[0]["clientRequestId"] == "deny-1"
    assert records[1]["clientRequestId"] == ""
    assert records[0]["path"].endswith("/api/watchlists")
    assert records[0]["at"].endswith("Z")


async def test_order_actions_are_recorded(call, store):
    account_id, order = await a_limit_buy(call, store, 1)
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
    assert_problem(bad, 422, "Invalid input", "month must look like 2026-11")
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
    reports: list[int] = []
    limiter = DenialLimiter(2, reports.append, clock=lambda: now[0])
    assert [limiter.admit() for _ in range(4)] == [True, True, False, False]
    assert reports == []
    now[0] = 61.0
    assert limiter.admit() is True
    assert reports == [2]
    assert limiter.admit() is True
    limiter.flush()
    assert reports == [2]


def test_suppressed_denials_are_reported_by_a_timer_without_a_later_denial():
    from shared.audit import DenialLimiter

    reports: list[int] = []
    reported = threading.Event()

    def report(count: int) -> None:
        reports.append(count)
        reported.set()

    limiter = DenialLimiter(2, report, window_seconds=0.3)
    while True:  # start at the beginning of a window so all five land in one
        if time.monotonic() % 0.3 < 0.05:
            break
        time.sleep(0.005)
    assert [limiter.admit() for _ in range(5)] == [True, True, False, False, False]
    assert reported.wait(2.0), "the summary waited for another denial"
    assert reports == [3]


async def test_a_flood_of_denials_then_quiet_still_writes_its_summary(call, monkeypatch):
    import functions.http
    from shared.audit import DenialLimiter

    limiter = DenialLimiter(3, functions.http._report_suppressed, window_seconds=3600)
    monkeypatch.setattr(functions.http, "_denials", limiter)
    for _ in range(10):
        assert (await call("GET", "watchlists", role=None)).status == 401
    limiter.flush()  # what the timer does when the window ends (no later denial arrives)
    records = await audit(call, kind="auth")
    actions = [r["action"] for r in records]
    assert actions.count("auth.denied") == 3
    summary = next(r for r in records if r["action"] == "auth.denied.suppressed")
    assert summary["detail"]["count"] == 7
    assert summary["requestId"] == ""


async def test_the_summary_timer_writes_the_record_over_real_time(call, monkeypatch):
    import functions.http
    from shared.audit import DenialLimiter

    limiter = DenialLimiter(1, functions.http._report_suppressed, window_seconds=0.5)
    monkeypatch.setattr(functions.http, "_denials", limiter)
    for _ in range(4):
        await call("GET", "watchlists", role=None)
    for _ in range(40):
        await asyncio.sleep(0.1)
        records = await audit(call, kind="auth")
        if any(r["action"] == "auth.denied.suppressed" for r in records):
            break
    counted = sum(r["detail"]["count"] for r in records if r["action"] == "auth.denied.suppressed")
    denied = sum(r["action"] == "auth.denied" for r in records)
    assert denied + counted == 4
    assert counted >= 1


async def test_a_record_keeps_the_server_id_apart_from_the_client_id(call):
    reply = await call(
        "POST",
        "watchlists",
        body={"name": "ids", "symbols": ["AAPL"]},
        headers={"X-Request-Id": "client-7"},
    )
    assert reply.status == 201
    server_id = reply.headers["X-Request-Id"]
    assert server_id != "client-7"
    assert len(server_id) == 32
    assert reply.headers["X-Client-Request-Id"] == "client-7"
    [record] = await audit(call, kind="config")
    assert (record["requestId"], record["clientRequestId"]) == (server_id, "client-7")
    spoof = await call(
        "POST", "watchlists", body={"name": "two"}, headers={"X-Request-Id": server_id}
    )
    assert spoof.headers["X-Request-Id"] != server_id, "a client cannot choose the server id"


async def test_matching_on_demand_is_audited_with_each_fill(call, store):
    account_id, order = await a_limit_buy(call, store, 90)
    put_quote(store, "AAPL", 80.0)
    reply = await call("POST", "paper/match", role="admin", account="root")
    assert reply.status == 200
    assert reply.json["filled"] == 1
    ops = await audit(call, kind="ops")
    assert [(r["action"], r["actor"], r["detail"]["filled"]) for r in ops] == [
        ("paper.matched", "root", 1)
    ]
    assert ops[0]["requestId"] == reply.headers["X-Request-Id"]
    orders = await audit(call, kind="order")
    assert [(r["action"], r["actor"], r["target"]) for r in orders] == [
        ("order.filled", "root", f"paper/{account_id}/{order['id']}"),
        ("order.placed", "alice", f"paper/{account_id}/{order['id']}"),
    ]
    assert orders[0]["requestId"] == reply.headers["X-Request-Id"]


async def test_the_matching_timer_audits_its_fills_as_the_system(call, store):
    timer = app_function("paper_matching_timer").get_user_function()
    await a_limit_buy(call, store, 90)
    put_quote(store, "AAPL", 85.0)
    await timer(None)
    records = await audit(call, kind="order")
    assert next((r["action"], r["actor"], r["requestId"]) for r in records) == (
        "order.filled",
        "system",
        "",
    )
    assert [r["action"] for r in records] == ["order.filled", "order.placed"]


async def test_backfill_is_audited(call, monkeypatch):
    from shared.ingest.sync import Ingestor, RunReport

    def backfill(self, symbols, start, end, **kwargs):
        return RunReport("sample", datetime(2026, 1, 2, tzinfo=UTC))

    monkeypatch.setattr(Ingestor, "backfill", backfill)
    body = {"symbols": ["aapl", "MSFT"], "start": "2025-01-01", "end": "2025-01-31"}
    reply = await call(
        "POST",
        "ops/backfill",
        role="admin",
        account="root",
        body=body,
        headers={"X-Request-Id": "bf-1"},
    )
    assert reply.status == 200, reply.body
    [record] = await audit(call, kind="ops")
    assert record["action"] == "ops.backfill"
    assert record["actor"] == "root"
    assert record["outcome"] == "ok"
    assert record["detail"]["symbols"] == ["AAPL", "MSFT"]
    assert (record["detail"]["start"], record["detail"]["end"]) == ("2025-01-01", "2025-01-31")
    assert record["clientRequestId"] == "bf-1"


async def test_a_failed_backfill_is_audited_as_failed(call, monkeypatch):
    from shared.ingest.sync import Ingestor

    def backfill(self, *args, **kwargs):
        raise RuntimeError("provider fell over")

    monkeypatch.setattr(Ingestor, "backfill", backfill)
    body = {"symbols": ["AAPL"], "start": "2025-01-01", "end": "2025-01-31"}
    reply = await call("POST", "ops/backfill", role="admin", account="root", body=body)
    assert reply.status == 500
    [record] = await audit(call, kind="ops")
    assert (record["action"], record["outcome"]) == ("ops.backfill", "failed")
    assert record["detail"]["error"] == "RuntimeError"
