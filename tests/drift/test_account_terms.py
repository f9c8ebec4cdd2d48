"""The replay's execution model comes from the broker account: its stored terms (PUT
/api/journal/broker-accounts/{brokerAccount}), else a paper account's own (starting cash,
the paper broker's slippage, no commission); the request overrides either field by field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.backtest import ExecutionSettings, run_backtest
from shared.config import get_settings
from shared.ingest.bars import BarLake
from shared.journal.store import forget_cache
from shared.storage.factory import lake
from tests.drift.conftest import SYMBOL, frame_of, walk
from testsupport.routes import assert_problem

BARS = walk()
TERMS_ROUTE = "journal/broker-accounts/{brokerAccount}"
U1 = {"brokerAccount": "U1"}
QUERY = {
    "strategy": "sma_cross",
    "params": "fast=3,slow=10",
    "symbols": SYMBOL,
    "start": "2024-01-01",
    "end": "2024-06-30",
    "brokerAccount": "U1",
}
TERMS = {"cash": 25_000, "commission": 0.002, "slippageBps": 5, "sizing": "fixed_fraction",
         "fraction": 0.5}  # fmt: skip


@pytest.fixture(autouse=True)
def fresh() -> None:
    forget_cache()
    BarLake(lake()).merge(BARS, ingested_at=datetime.now(UTC))


def replay_of(execution: ExecutionSettings) -> tuple[float, list[float]]:
    trades = run_backtest(frame_of(BARS), "sma_cross", {"fast": 3, "slow": 10}, execution).trades
    return round(float(trades.pnl.sum()), 6), [float(s) for s in trades["size"]]


async def test_the_stored_terms_are_the_replays_execution_model(call):
    put = await call("PUT", TERMS_ROUTE, params=U1, body=TERMS, role="trader")
    assert put.status == 200, put.body
    assert (put.json["slippageBps"], put.json["brokerAccount"]) == (5, "U1")
    got = await call("GET", TERMS_ROUTE, params=U1, role="viewer")
    assert {k: got.json[k] for k in TERMS} == TERMS
    assert got.json["commissionFixed"] is None

    reply = await call("GET", "journal/drift", query=QUERY, role="viewer")
    assert reply.status == 200, reply.body
    body = reply.json
    expected = ExecutionSettings(
        cash=25_000, commission=0.002, slippage_bps=5, sizing="fixed_fraction", fraction=0.5
    )
    assert ExecutionSettings.model_validate(body["execution"]) == expected
    assert body["executionSources"] == {
        "cash": "brokerAccount", "fill": "default", "direction": "default",
        "commission": "brokerAccount", "commissionFixed": "default",
        "slippageBps": "brokerAccount", "sizing": "brokerAccount", "fraction": "brokerAccount",
        "stopLossPct": "default", "takeProfitPct": "default",
    }  # fmt: skip
    # the trader has no trades: every strategy trade is missed, as the engine made them
    pnl, sizes = replay_of(expected)
    assert [m["quantity"] for m in body["missed"]] == sizes
    assert -float(body["exact"]["missed"]) == pytest.approx(pnl, abs=1e-6)
    # another broker account's replay keeps the defaults
    other = await call("GET", "journal/drift", query=QUERY | {"brokerAccount": "U2"})
    assert ExecutionSettings.model_validate(other.json["execution"]) == ExecutionSettings()
    assert set(other.json["executionSources"].values()) == {"default"}


async def test_the_request_overrides_the_account_field_by_field(call):
    await call("PUT", TERMS_ROUTE, params=U1, body=TERMS, role="trader")
    query = QUERY | {"commission": "0", "sizing": "fractional"}
    body = (await call("GET", "journal/drift", query=query, role="viewer")).json
    execution = ExecutionSettings.model_validate(body["execution"])
    assert (execution.commission, execution.sizing) == (0.0, "fractional")
    assert (execution.cash, execution.slippage_bps) == (25_000, 5)
    sources = body["executionSources"]
    assert (sources["commission"], sources["sizing"], sources["cash"]) == (
        "request", "request", "brokerAccount",
    )  # fmt: skip
    _, sizes = replay_of(execution)
    assert [m["quantity"] for m in body["missed"]] == sizes


async def test_a_paper_account_states_its_own_terms(call):
    made = await call(
        "POST", "paper/accounts", body={"name": "p", "startingCash": 50_000}, role="trader"
    )
    assert made.status == 201, made.body
    broker_account = f"paper-{made.json['id']}"
    query = QUERY | {"brokerAccount": broker_account}
    body = (await call("GET", "journal/drift", query=query, role="viewer")).json
    execution = ExecutionSettings.model_validate(body["execution"])
    assert execution.cash == 50_000
    assert execution.slippage_bps == get_settings().paper_slippage_bps
    assert (execution.commission, execution.commission_fixed) == (0.0, 0.0)
    assert body["executionSources"]["cash"] == "paperAccount"
    assert body["executionSources"]["sizing"] == "default"
    # stored terms win over the paper account's, field by field
    mine = {"brokerAccount": broker_account}
    put = await call("PUT", TERMS_ROUTE, params=mine, body={"slippageBps": 1}, role="trader")
    assert put.status == 200, put.body
    body = (await call("GET", "journal/drift", query=query, role="viewer")).json
    assert (body["execution"]["slippageBps"], body["execution"]["cash"]) == (1, 50_000)
    assert body["executionSources"]["slippageBps"] == "brokerAccount"
    # another owner's paper account id states nothing for me
    theirs = await call("GET", "journal/drift", query=query, role="viewer", account="bob")
    assert theirs.json["execution"]["cash"] == ExecutionSettings().cash


async def test_terms_are_per_owner(call):
    await call("PUT", TERMS_ROUTE, params=U1, body=TERMS, role="trader")
    bobs = await call("GET", TERMS_ROUTE, params=U1, role="viewer", account="bob")
    assert bobs.json["cash"] is None
    admin = await call(
        "GET", TERMS_ROUTE, params=U1, query={"account": "alice"}, role="admin",
        account="root",
    )  # fmt: skip
    assert admin.json["cash"] == 25_000


@pytest.mark.parametrize(
    ("path", "body", "role", "status", "needle"),
    [
        ("U1", {"commission": 0.7}, "trader", 422, "commission"),
        ("U1", {"slippageBps": -1}, "trader", 422, "slippageBps"),
        ("U1", {"sizing": "martingale"}, "trader", 422, "sizing"),
        ("U1", {"cash": "1e999"}, "trader", 422, "cash"),
        ("U1", {"other": 1}, "trader", 422, "other"),
        ("bad name", {}, "trader", 422, "broker account"),
        ("U1", {}, "viewer", 403, ""),
    ],
)
async def test_bad_terms_are_problem_json_naming_them(call, path, body, role, status, needle):
    reply = await call("PUT", TERMS_ROUTE, params={"brokerAccount": path}, body=body, role=role)
    assert reply.status == status, reply.body
    assert reply.mimetype == "application/problem+json"
    assert needle in reply.body.decode()


async def test_terms_are_kept_for_a_bounded_number_of_broker_accounts(call, monkeypatch):
    """Each broker account's terms are a stored document: a journal may state them for at
    most BROKER_ACCOUNT_TERMS_PER_ACCOUNT accounts; replacing existing terms stays allowed."""
    monkeypatch.setenv("BROKER_ACCOUNT_TERMS_PER_ACCOUNT", "3")
    get_settings.cache_clear()
    for name in ("A1", "A2", "A3"):
        put = await call("PUT", TERMS_ROUTE, params={"brokerAccount": name}, body=TERMS)
        assert put.status == 200, put.body
    fourth = await call("PUT", TERMS_ROUTE, params={"brokerAccount": "A4"}, body=TERMS)
    assert_problem(fourth, 422, "Invalid input", "at most 3 broker accounts")
    replaced = await call("PUT", TERMS_ROUTE, params={"brokerAccount": "A2"}, body={"cash": 7})
    assert (replaced.status, replaced.json["cash"]) == (200, 7)
    missing = await call("GET", TERMS_ROUTE, params={"brokerAccount": "A4"}, role="viewer")
    assert missing.json["cash"] is None
