"""Fixtures for ingestion tests: fake providers, settings pointing at them, snapshots."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from shared.config import get_settings
from shared.ingest.sync import Ingestor
from shared.storage.factory import blob_store, clear_cache, document_store
from testsupport.fake_providers import FakeProviders

AS_OF = datetime(2024, 7, 1, 0, 5, tzinfo=UTC)
SYMBOLS = "AAPL,MSFT,BTC-USD,ETH-USD"


def fast_env(fake: FakeProviders) -> dict[str, str]:
    return {
        **fake.env(),
        "ALPHAVANTAGE_API_KEYS": "key-1",
        "ALPHAVANTAGE_CALLS_PER_MINUTE": "1000",
        "ALPHAVANTAGE_CALLS_PER_DAY": "100000",
        "COINGECKO_CALLS_PER_MINUTE": "1000",
        "YAHOO_CALLS_PER_MINUTE": "1000",
        "PROVIDER_RETRY_ATTEMPTS": "2",
        "PROVIDER_RETRY_WAIT_INITIAL": "0.01",
        "PROVIDER_RETRY_WAIT_MAX": "0.02",
        "PROVIDER_RETRY_AFTER_MAX": "2",
        "HTTP_TIMEOUT_SECONDS": "0.5",
        "DEFAULT_SYMBOLS": SYMBOLS,
    }


@pytest.fixture
def env(fake: FakeProviders, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    values = fast_env(fake)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    clear_cache()
    yield values
    clear_cache()


@pytest.fixture
def ingestor(env: dict[str, str]) -> Ingestor:
    return Ingestor.from_settings(get_settings())


def next_business_day(day: date) -> date:
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def lake_files() -> dict[str, bytes]:
    store = blob_store(get_settings().lake_container)
    return {info.name: store.get(info.name) for info in store.list("bars/")}


def documents(container: str) -> dict[str, dict[str, Any]]:
    return {f"{doc['pk']}/{doc['id']}": doc for doc in document_store().query_all(container, None)}


def snapshot() -> dict[str, Any]:
    return {
        "lake": lake_files(),
        "quotes": documents("quotes"),
        "sync_state": documents("sync_state"),
    }
