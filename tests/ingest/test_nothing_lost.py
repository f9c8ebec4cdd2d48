"""Every provider fault leaves the lake and quotes as they were, plus any good data."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pyarrow.parquet as pq
import pytest

from shared.ingest.sync import Ingestor, RunReport
from tests.ingest.conftest import AS_OF, next_business_day, snapshot
from testsupport.fake_providers import FakeProviders

LATER = AS_OF + timedelta(days=1)

RUNS: dict[str, Callable[[Ingestor, Any], RunReport]] = {
    "alphavantage": lambda i, when: i.sync_alphavantage(when),
    "yahoo": lambda i, when: i.sync_yahoo(when),
    "coingecko": lambda i, when: i.sync_coingecko(when),
}
# (provider, fault, faulted symbol as the provider names it, our symbol)
CASES = [
    *[
        ("alphavantage", f, "MSFT", "MSFT")
        for f in ("note", "information", "error_message", "500", "timeout", "malformed", "empty")
    ],
    *[
        ("yahoo", f, "MSFT", "MSFT")
        for f in ("429", "500", "timeout", "malformed", "empty", "not_found")
    ],
    *[
        ("coingecko", f, "bitcoin", "BTC-USD")
        for f in ("429", "500", "timeout", "malformed", "empty", "not_found")
    ],
]
LIMITS = ("note", "information", "429")
"""Faults that are the provider's limits (a throttle, a daily cap, HTTP 429 + Retry-After)."""


def _rows(lake: dict[str, bytes], symbol: str) -> set[tuple[Any, ...]]:
    rows: set[tuple[Any, ...]] = set()
    for name, data in lake.items():
        if f"/symbol={symbol}/" in name:
            table = pq.read_table(io.BytesIO(data))
            rows |= {tuple(r.values()) for r in table.to_pylist()}
    return rows


@pytest.mark.parametrize(("provider", "fault", "target", "symbol"), CASES)
def test_fault_keeps_what_was_stored(
    ingestor: Ingestor, fake: FakeProviders, provider: str, fault: str, target: str, symbol: str
) -> None:
    run = RUNS[provider]
    first = run(ingestor, AS_OF)
    assert first.count("failed") == 0, first.as_dict()
    before = snapshot()
    assert _rows(before["lake"], symbol)

    fake.market.last_day = next_business_day(fake.market.last_day)
    repeats = 3 if fault in ("500", "timeout", "429") else 1
    fake.market.fail(provider, fault, symbol=target, times=repeats, retry_after=30)
    report = run(ingestor, LATER)
    after = snapshot()

    outcome = {o.symbol: o for o in report.outcomes}
    state = after["sync_state"][f"{provider}/{symbol}|1d"]
    if fault == "empty":
        assert outcome[symbol].status == "no_data"
    elif fault in LIMITS:
        # A limit is not a failure: the symbol (and the rest of the run) waits for retryAt.
        assert outcome[symbol].status == "deferred", report.as_dict()
        retry_at = outcome[symbol].retry_at
        assert retry_at is not None
        assert state["consecutiveFailures"] == 0
        assert state["retryAt"] == retry_at.isoformat()
        assert state["lastError"]
    else:
        assert outcome[symbol].status == "failed", report.as_dict()
        assert state["consecutiveFailures"] == 1
        assert state["lastError"]
    if fault != "empty":
        assert state["lastBar"] == before["sync_state"][f"{provider}/{symbol}|1d"]["lastBar"]
    assert _rows(after["lake"], symbol) == _rows(before["lake"], symbol)
    if provider == "yahoo":
        key = f"{symbol}/{symbol}"
        assert after["quotes"][key] == before["quotes"][key]

    good = [o for o in report.outcomes if o.status == "ok"]
    for other in good:
        old, new = _rows(before["lake"], other.symbol), _rows(after["lake"], other.symbol)
        assert old < new, f"{other.symbol} should have gained the new day"
    for name in set(before["lake"]) & set(after["lake"]):
        if f"/symbol={symbol}/" in name:
            assert after["lake"][name] == before["lake"][name]


@pytest.mark.parametrize("fault", ["429", "500", "malformed"])
def test_coingecko_price_fault_keeps_quotes(
    ingestor: Ingestor, fake: FakeProviders, fault: str
) -> None:
    ingestor.sync_coingecko(AS_OF)
    before = snapshot()
    assert {"BTC-USD/BTC-USD", "ETH-USD/ETH-USD"} <= set(before["quotes"])
    fake.market.last_day = next_business_day(fake.market.last_day)
    fake.market.fail("coingecko", fault, times=3, retry_after=30)
    report = ingestor.sync_coingecko(LATER)
    after = snapshot()
    assert report.quotes_written == 0
    assert after["quotes"] == before["quotes"]
    for symbol in ("BTC-USD", "ETH-USD"):
        assert _rows(before["lake"], symbol) <= _rows(after["lake"], symbol)


def test_yahoo_quote_is_never_replaced_by_an_older_one(
    ingestor: Ingestor, fake: FakeProviders
) -> None:
    ingestor.sync_yahoo(AS_OF)
    newest = snapshot()["quotes"]["AAPL/AAPL"]
    fake.market.last_day -= timedelta(days=7)
    fake.market._cache.clear()
    ingestor.sync_yahoo(LATER)
    assert snapshot()["quotes"]["AAPL/AAPL"] == newest
