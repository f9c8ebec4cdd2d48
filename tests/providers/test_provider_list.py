"""The provider list is defined once (`shared.market.models`); the other lists derive from it
and name the same clients (issue 16 item 2)."""

from __future__ import annotations

from shared.ingest.health import PROVIDER_NAMES
from shared.market.models import INGEST_PROVIDERS, MARKET_PROVIDERS, Source
from shared.providers import alphavantage, coingecko, yahoo


def test_each_http_provider_has_a_client_and_the_order_is_kept() -> None:
    assert MARKET_PROVIDERS == (alphavantage.PROVIDER, yahoo.PROVIDER, coingecko.PROVIDER)
    assert INGEST_PROVIDERS == ("alphavantage", "yahoo", "coingecko", "sample")
    assert PROVIDER_NAMES == ("alphavantage", "yahoo", "coingecko", "sample", "finnhub")


def test_source_accepts_every_provider_plus_the_feed_replay_and_tests() -> None:
    from typing import get_args

    assert get_args(Source) == (
        "alphavantage",
        "yahoo",
        "coingecko",
        "finnhub",
        "replay",
        "sample",
        "test",
    )
