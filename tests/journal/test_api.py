"""Journal routes: roles and scoping, audited writes, annotations, analytics, 4xx shapes."""

from __future__ import annotations

import pytest

from shared.storage.factory import document_store
from testsupport.routes import assert_problem

ONE = "journal/executions/{executionId}"


def execution(side: str, qty: float, price: float, minute: int, **extra):
    return {
        "symbol": "AAPL",
        "side": side,
        "quantity": qty,
        "price": price,
        "fees": 1.0,
        "executedAt": f"2024-03-04T09:{minute:02d}:00-05:00",
        "brokerAccount": "U1",
        **extra,
    }


async def round_trip(call, account="alice"):
    first = await call(
        "POST", "journal/executions", body=execution("buy", 100, 10, 30), account=account
    )
    second = await call(
        "POST", "journal/executions", body=execution("sell", 100, 12, 45), account=account
    )
    assert (first.status, second.status) == (201, 201)
    return first.json, second.json


def audit_actions(account="alice"):
    records = document_store().query_all("audit", None)
    return [r["action"] for r in records if r["account"] == account]


async def test_record_read_and_trade_appears_with_figures(call):
    buy, _ = await round_trip(call)
    assert buy["executedAt"] == "2024-03-04T14:30:00Z"
    assert buy["source"] == "manual"
    read = await call("GET", ONE, params={"executionId": buy["id"]}, role="viewer")
    assert read.status == 200
    assert read.json == buy
    trades = await call("GET", "journal/trades", role="viewer")
    assert trades.status == 200
    [trade] = trades.json["items"]
    assert trade["netPnl"] == pytest.approx(198)
    assert trade["side"] == "long"
    assert trade["holdingSeconds"] == 900
    stats = await call("GET", "journal/stats", role="viewer")
    assert stats.json["trades"] == 1
    assert stats.json["netPnl"] == pytest.approx(198)
    assert audit_actions() == ["journal.execution.created"] * 2


async def test_external_id_makes_a_second_post_a_no_op(call):
    body = execution("buy", 1, 10, 30, externalId="E-1")
    first = await call("POST", "journal/executions", body=body)
    again = await call("POST", "journal/executions", body=body)
    assert (first.status, again.status) == (201, 200)
    assert first.json["id"] == again.json["id"]
    listed = await call("GET", "journal/executions")
    assert len(listed.json["items"]) == 1
    assert audit_actions() == ["journal.execution.created"]


async def test_roles_and_accounts(call):
    buy, _ = await round_trip(call)
    params = {"executionId": buy["id"]}
    denied = await call("POST", "journal/executions", body=execution("buy", 1, 1, 1), role="viewer")
    assert denied.status == 403
    assert (await call("GET", ONE, params=params, account="bob")).status == 404
    assert (await call("DELETE", ONE, params=params, account="bob")).status == 404
    assert (await call("GET", "journal/trades", account="bob")).json["items"] == []
    # a viewer cannot read another account by naming it; an admin can
    sneaky = await call(
        "GET", "journal/stats", role="viewer", account="bob", query={"account": "alice"}
    )
    assert sneaky.json["trades"] == 0
    admin = await call(
        "GET", "journal/stats", role="admin", account="root", query={"account": "alice"}
    )
    assert admin.json["trades"] == 1
    read = await call(
        "GET", ONE, params=params, role="admin", account="root", query={"account": "alice"}
    )
    assert read.status == 200
    assert (await call("GET", "journal/stats")).status == 200
    assert (await call("GET", "journal/stats", role=None)).status == 401


async def test_edit_and_delete_recompute_and_are_audited(call):
    _, sell = await round_trip(call)
    params = {"executionId": sell["id"]}
    changed = execution("sell", 100, 13, 45)
    stale = await call("PUT", ONE, params=params, body=changed, headers={"If-Match": "nope"})
    assert_problem(stale, 412, "Precondition failed", "was changed by someone else")
    assert stale.mimetype == "application/problem+json"
    ok = await call("PUT", ONE, params=params, body=changed, headers={"If-Match": sell["etag"]})
    assert ok.status == 200
    assert (await call("GET", "journal/stats")).json["netPnl"] == pytest.approx(298)
    gone = await call("DELETE", ONE, params=params)
    assert gone.status == 204
    assert (await call("GET", "journal/stats")).json["trades"] == 0
    open_trades = await call("GET", "journal/trades", query={"status": "open"})
    assert [t["status"] for t in open_trades.json["items"]] == ["open"]
    assert audit_actions()[-2:] == ["journal.execution.updated", "journal.execution.deleted"]


async def test_annotation_feeds_r_filters_and_breakdowns(call):
    await round_trip(call)
    [trade] = (await call("GET", "journal/trades")).json["items"]
    body = {"notes": "# Plan\nheld", "tags": ["orb"], "setup": "Opening range", "plannedStop": 9.5}
    note = await call(
        "PUT", "journal/trades/{tradeId}/annotation", params={"tradeId": trade["id"]}, body=body
    )
    assert note.status == 200
    assert note.json["tags"] == ["orb"]
    detail = await call("GET", "journal/trades/{tradeId}", params={"tradeId": trade["id"]})
    assert detail.json["trade"]["r"] == pytest.approx(198 / 50)
    assert detail.json["trade"]["notes"] == "# Plan\nheld"
    assert len(detail.json["executions"]) == 2
    assert (await call("GET", "journal/stats", query={"tags": "orb"})).json["trades"] == 1
    assert (await call("GET", "journal/stats", query={"tags": "other"})).json["trades"] == 0
    setups = await call("GET", "journal/breakdowns/{by}", params={"by": "setup"})
    assert setups.json["groups"][0]["key"] == "Opening range"
    hours = await call(
        "GET", "journal/breakdowns/{by}", params={"by": "hour"}, query={"tz": "America/New_York"}
    )
    assert [g["key"] for g in hours.json["groups"]] == ["09"]
    daily = await call("GET", "journal/daily")
    assert daily.json["points"][0]["date"] == "2024-03-04"
    stale = await call(
        "PUT",
        "journal/trades/{tradeId}/annotation",
        params={"tradeId": trade["id"]},
        body=body,
        headers={"If-Match": "old"},
    )
    assert_problem(stale, 412, "Precondition failed", "was changed by someone else")
    assert "journal.trade.annotated" in audit_actions()


async def test_bad_input_is_a_named_4xx(call):
    bad_tz = await call("GET", "journal/stats", query={"tz": "Nowhere/City"})
    assert bad_tz.status == 422
    assert "IANA" in bad_tz.json["detail"]
    naive = await call(
        "POST",
        "journal/executions",
        body={**execution("buy", 1, 1, 1), "executedAt": "2024-03-04T09:30:00"},
    )
    assert naive.status == 422
    assert "time zone" in naive.json["detail"]
    negative = await call("POST", "journal/executions", body=execution("buy", -1, 1, 1))
    assert negative.status == 422
    assert "quantity" in negative.json["detail"]
    symbol = await call(
        "POST", "journal/executions", body=execution("buy", 1, 1, 1, symbol="<script>")
    )
    assert_problem(symbol, 422, "Invalid input", "symbol '<script>' is not 1-40 characters")
    huge = await call("POST", "journal/executions", body={"x": "a" * 300_000})
    assert huge.status == 400
    assert "larger than" in huge.json["detail"]
    missing = await call(
        "PUT",
        "journal/trades/{tradeId}/annotation",
        params={"tradeId": "t-none"},
        body={"notes": "x"},
    )
    assert_problem(missing, 404, "Not found", "trade 't-none' not found")
    long_notes = await call(
        "PUT",
        "journal/trades/{tradeId}/annotation",
        params={"tradeId": "t-none"},
        body={"notes": "x" * 20_001},
    )
    assert_problem(long_notes, 422, "Invalid input", "notes: String should have at most 20000")
    by = await call("GET", "journal/breakdowns/{by}", params={"by": "moon"})
    assert by.status == 404
    assert "moon" in by.json["detail"]
    page = await call("GET", "journal/trades", query={"continuationToken": "abc"})
    assert_problem(page, 422, "Invalid input", "continuationToken: String should match pattern")


async def test_strategy_link_must_name_a_saved_version(call):
    await round_trip(call)
    [trade] = (await call("GET", "journal/trades")).json["items"]
    params = {"tradeId": trade["id"]}
    spec = {"name": "x", "spec": {"strategy": "sma_cross", "grid": {"fast": [5], "slow": [20]}}}
    strategy = (await call("POST", "strategies", body=spec)).json
    route = "journal/trades/{tradeId}/annotation"
    linked = await call(
        "PUT", route, params=params, body={"strategyId": strategy["id"], "strategyVersion": 1}
    )
    assert linked.status == 200
    assert linked.json["strategyVersion"] == 1
    missing = await call(
        "PUT", route, params=params, body={"strategyId": strategy["id"], "strategyVersion": 9}
    )
    assert missing.status == 422
    assert "no version 9" in missing.json["detail"]
    theirs = await call(
        "PUT", route, params=params, body={"strategyId": "st-nope", "strategyVersion": 1}
    )
    assert_problem(theirs, 422, "Invalid input", "st-nope")
    half = await call("PUT", route, params=params, body={"strategyId": strategy["id"]})
    assert half.status == 422
    assert "go together" in half.json["detail"]
