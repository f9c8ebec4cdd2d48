"""GET /api/journal/drift over real storage: the lake's bars, executions written through the
journal's own route, viewer reads own, admins any; problem+json for each bad input."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.backtest import ExecutionSettings, run_backtest
from shared.ingest.bars import BarLake
from shared.journal.store import forget_cache
from shared.storage.factory import lake
from tests.drift.conftest import SYMBOL, frame_of, walk
from testsupport.routes import assert_problem, call_route

ROUTE = "journal/drift"
BARS = walk()
REPLAY = run_backtest(frame_of(BARS), "sma_cross", {"fast": 3, "slow": 10}, ExecutionSettings())
QUERY = {
    "strategy": "sma_cross",
    "params": "fast=3,slow=10",
    "symbols": SYMBOL,
    "start": "2024-01-01",
    "end": "2024-06-30",
    "brokerAccount": "U1",
}


@pytest.fixture(autouse=True)
def fresh() -> None:
    forget_cache()
    BarLake(lake()).merge(BARS, ingested_at=datetime.now(UTC))


def fill(side: str, qty: float, price: float, at: datetime) -> dict[str, object]:
    return {
        "symbol": SYMBOL, "side": side, "quantity": qty, "price": price, "fees": 0.0,
        "executedAt": (at + timedelta(hours=15)).isoformat(), "brokerAccount": "U1",
    }  # fmt: skip


async def copy_all_but_first(call) -> None:
    """The trader copies every replay trade except the first, and enters the second one
    a dollar worse than the model."""
    for k in range(1, len(REPLAY.trades)):
        t = REPLAY.trades.iloc[k]
        worse = 1.0 if k == 1 else 0.0
        entry = fill("buy", float(t["size"]), float(t.entry_price) + worse, t.entry_time)
        exit_ = fill("sell", float(t["size"]), float(t.exit_price), t.exit_time)
        for body in (entry, exit_):
            assert (await call("POST", "journal/executions", body=body)).status == 201


async def test_the_report_of_my_scope(call):
    await copy_all_but_first(call)
    reply = await call("GET", ROUTE, query=QUERY, role="viewer")
    assert reply.status == 200, reply.body
    body = reply.json
    t0, t1 = REPLAY.trades.iloc[0], REPLAY.trades.iloc[1]
    assert len(body["pairs"]) == len(REPLAY.trades) - 1
    assert [m["entryBar"] for m in body["missed"]] == [int(t0.entry_bar)]
    assert body["extra"] == []
    assert body["toleranceSeconds"] == {SYMBOL: 86400.0}
    exact = {k: Decimal(v) for k, v in body["exact"].items()}
    assert exact["missed"] == -Decimal(str(round(float(t0.pnl), 6)))
    assert exact["price"] == -Decimal(str(float(t1["size"])))  # a dollar on each unit
    assert exact["size"] == exact["timing"] == exact["fees"] == exact["extra"] == 0
    causes = [exact[c] for c in ("missed", "extra", "size", "timing", "price", "fees")]
    assert sum(causes) == exact["difference"] == exact["traderPnl"] - exact["strategyPnl"]
    assert body["attribution"]["price"] == float(exact["price"])
    pair = next(p for p in body["pairs"] if p["strategy"]["entryBar"] == int(t1.entry_bar))
    assert (pair["entryDelayBars"], pair["exitDelayBars"]) == (0, 0)
    assert pair["entryDelaySeconds"] == 15 * 3600
    assert pair["entrySlippage"] == pytest.approx(1.0)


async def test_a_viewer_sees_only_their_own_journal(call):
    await copy_all_but_first(call)
    mine = (await call("GET", ROUTE, query=QUERY, role="viewer")).json
    other = (await call("GET", ROUTE, query=QUERY, role="viewer", account="bob")).json
    assert mine["pairs"]
    assert other["pairs"] == []
    assert len(other["missed"]) == len(REPLAY.trades)
    snooping = await call(
        "GET", ROUTE, query=QUERY | {"account": "alice"}, role="viewer", account="bob"
    )
    assert snooping.json["pairs"] == []  # `account` is for admins only
    admin = await call(
        "GET", ROUTE, query=QUERY | {"account": "alice"}, role="admin", account="root"
    )
    assert len(admin.json["pairs"]) == len(mine["pairs"])


async def test_no_token_is_401(call):
    assert (await call("GET", ROUTE, query=QUERY, role=None)).status == 401


@pytest.mark.parametrize(
    ("change", "status", "needle"),
    [
        ({"strategy": "nope"}, 404, "strategy 'nope'"),
        ({"params": "fast=30,slow=10"}, 422, "fast"),
        ({"params": "fast=3,speed=10"}, 422, "speed"),
        ({"params": "fast=nan"}, 422, "params.fast"),
        ({"params": "fast"}, 422, "name=value"),
        ({"symbols": "ZZZZ"}, 422, "no 1d bars of ZZZZ"),
        ({"start": "2030-01-01", "end": "2030-02-01"}, 422, "no 1d bars"),
        ({"end": "2023-01-01"}, 422, "before start"),
        ({"commission": "-1"}, 422, "commission"),
        ({"slippageBps": "1e999"}, 422, "slippageBps"),
        ({"toleranceBars": "-1"}, 422, "toleranceBars"),
        ({"strategyId": "abc"}, 422, "either"),
        ({"interval": "7m"}, 422, "interval"),
    ],
)
async def test_bad_input_is_problem_json_naming_it(call, change, status, needle):
    reply = await call("GET", ROUTE, query=QUERY | change, role="viewer")
    assert reply.status == status, reply.body
    assert reply.mimetype == "application/problem+json"
    assert needle in reply.body.decode()


async def test_warm_up_longer_than_the_scope_is_not_enough_bars(call):
    short = QUERY | {"end": "2024-01-08"}  # 8 bars, slow=10 needs more
    reply = await call("GET", ROUTE, query=short, role="viewer")
    assert reply.status == 422
    assert reply.json["type"] == "/problems/not-enough-bars"


async def test_an_unknown_saved_strategy_is_404(call):
    query = {k: v for k, v in QUERY.items() if k not in ("strategy", "params")}
    reply = await call("GET", ROUTE, query=query | {"strategyId": "missing"}, role="viewer")
    assert_problem(reply, 404, "Not found", "strategy 'missing' not found")


async def test_a_saved_strategy_version_replays_the_same(call):
    spec = {"strategy": "sma_cross", "params": {"fast": 3, "slow": 10}}
    saved = await call("POST", "strategies", body={"name": "s", "spec": spec})
    assert saved.status == 201, saved.body
    query = {k: v for k, v in QUERY.items() if k not in ("strategy", "params")}
    query |= {"strategyId": saved.json["id"], "strategyVersion": "1"}
    reply = await call("GET", ROUTE, query=query, role="trader")
    assert reply.status == 200, reply.body
    assert reply.json["params"] == {"fast": 3, "slow": 10}
    assert len(reply.json["missed"]) == len(REPLAY.trades)


FIELDS = [
    "strategy", "params", "options", "strategyId", "strategyVersion", "symbols", "start",
    "end", "brokerAccount", "interval", "toleranceBars", "cash", "fill", "direction",
    "commission", "commissionFixed", "slippageBps", "sizing", "fraction", "stopLossPct",
    "takeProfitPct", "account", "unknown",
]  # fmt: skip
TEXT = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["nan", "1e999", "-1", "0", "fast=3,slow=10", "sma_cross", "2024-02-30"]),
)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(changes=st.dictionaries(st.sampled_from(FIELDS), TEXT, max_size=4))
def test_fuzzed_queries_are_answered_never_a_500(changes):
    BarLake(lake()).merge(BARS[:40], ingested_at=datetime.now(UTC))
    reply = asyncio.run(call_route("GET", ROUTE, query=QUERY | changes, role="viewer"))
    assert reply.status in (200, 404, 422), reply.body
    if reply.status != 200:
        assert reply.mimetype == "application/problem+json"
