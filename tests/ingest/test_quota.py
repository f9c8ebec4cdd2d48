"""Quota buckets: exact limits under contention, rolling minute, UTC day, parallel runs."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from shared.config import get_settings
from shared.ingest.sync import Ingestor
from shared.market.symbols import parse_symbols
from shared.quota import Limit, QuotaBook, QuotaExhausted
from shared.storage.factory import document_store
from testsupport.fake_providers import FakeProviders


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_rolling_minute_and_utc_day() -> None:
    clock = Clock(datetime(2024, 7, 1, 23, 50, tzinfo=UTC).timestamp())
    book = QuotaBook(document_store(), {"p": Limit(per_minute=2, per_day=3)}, clock=clock)
    book.acquire("p", "k")
    clock.now += 30
    book.acquire("p", "k")
    with pytest.raises(QuotaExhausted) as caught:
        book.acquire("p", "k")
    assert caught.value.retry_after == pytest.approx(30)
    clock.now += 30.5
    book.acquire("p", "k")
    clock.now += 61
    with pytest.raises(QuotaExhausted, match="daily quota"):
        book.acquire("p", "k")
    clock.now += 24 * 3600
    book.acquire("p", "k")
    assert book.state("p", "k").day_left == 2


def test_keys_have_their_own_buckets() -> None:
    book = QuotaBook(document_store(), {"p": Limit(per_minute=1)})
    book.acquire("p", "key-a")
    book.acquire("p", "key-b")
    with pytest.raises(QuotaExhausted):
        book.acquire("p", "key-a")
    stored = document_store().query_all("quota", "p")
    assert all("key-a" not in str(doc) for doc in stored), "raw keys must not be stored"


def test_contending_instances_never_exceed_the_limit() -> None:
    limit = 7
    books = [
        QuotaBook(document_store(), {"p": Limit(per_minute=limit, per_day=100)}) for _ in range(4)
    ]
    granted = []
    lock = threading.Lock()

    def spend(book: QuotaBook) -> None:
        for _ in range(6):
            try:
                book.acquire("p", "shared")
            except QuotaExhausted:
                continue
            with lock:
                granted.append(1)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(spend, books))
    assert len(granted) == limit


def test_waiting_acquire_gets_the_returned_token() -> None:
    clock = Clock(1_000_000.0)
    book = QuotaBook(document_store(), {"p": Limit(per_minute=1)}, clock=clock)
    book.acquire("p")
    with pytest.raises(QuotaExhausted):
        book.acquire("p", max_wait=1.0)


def test_parallel_runs_share_one_bucket(
    env: dict[str, str], fake: FakeProviders, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALPHAVANTAGE_CALLS_PER_MINUTE", "5")
    monkeypatch.setenv("ALPHAVANTAGE_CALLS_PER_DAY", "40")
    get_settings.cache_clear()
    symbols = parse_symbols("AAPL,MSFT,NVDA,AMZN,GOOG,META,TSLA,IBM,ORCL,INTC,AMD,QCOM")
    as_of = datetime(2024, 7, 1, 23, 50, tzinfo=UTC)
    runs = [Ingestor.from_settings(get_settings()) for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(lambda i: i.sync_alphavantage(as_of, symbols), runs))
    served = fake.market.count("alphavantage")
    assert served == 5
    assert sum(r.count("ok") for r in reports) == 5
    assert sum(r.count("deferred") for r in reports) >= 1
    assert all(r.status == 200 for r in fake.market.requests)
    # A deferral says when our own quota frees up again (a token returns within a minute).
    deferred = [o for r in reports for o in r.outcomes if o.status == "deferred"]
    assert deferred
    assert all(o.retry_at is not None for o in deferred)
