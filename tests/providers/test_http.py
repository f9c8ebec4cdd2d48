"""The shared retry policy against a real local server: what is retried and what is not."""

from __future__ import annotations

import time

import pytest

from shared.providers.errors import BadResponse, InvalidSymbol, ProviderUnavailable, RateLimited
from shared.providers.http import RetryPolicy, get_json, make_client, retry_after_seconds
from tests.providers.conftest import FAST
from testsupport.fake_providers import FakeProviders


def _ping(fake: FakeProviders, policy: RetryPolicy = FAST, timeout: float = 5.0) -> object:
    with make_client(base_url=fake.coingecko_base_url, timeout=timeout) as client:
        return get_json(client, "coingecko", "/ping", {}, what="ping", policy=policy)


def test_5xx_then_success_is_retried(fake: FakeProviders) -> None:
    fake.market.fail("coingecko", "500", times=2)
    assert _ping(fake) == {"gecko_says": "(V3) To the Moon!"}
    assert fake.market.count("coingecko") == 3


def test_5xx_every_time_gives_up_after_the_attempts(fake: FakeProviders) -> None:
    fake.market.fail("coingecko", "500", times=5)
    with pytest.raises(ProviderUnavailable, match="HTTP 500"):
        _ping(fake)
    assert fake.market.count("coingecko") == FAST.attempts


def test_timeout_is_retried(fake: FakeProviders) -> None:
    fake.market.fail("coingecko", "timeout")
    assert _ping(fake, timeout=0.3) == {"gecko_says": "(V3) To the Moon!"}
    assert fake.market.count("coingecko") == 2


def test_429_honours_retry_after(fake: FakeProviders) -> None:
    fake.market.fail("coingecko", "429", retry_after=0.6)
    started = time.monotonic()
    assert _ping(fake) == {"gecko_says": "(V3) To the Moon!"}
    assert time.monotonic() - started >= 0.6
    assert fake.market.count("coingecko") == 2


def test_429_with_a_long_retry_after_is_not_waited_for(fake: FakeProviders) -> None:
    fake.market.fail("coingecko", "429", retry_after=60)
    started = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        _ping(fake)
    assert caught.value.retry_after == 60
    assert time.monotonic() - started < 1
    assert fake.market.count("coingecko") == 1


def test_own_4xx_is_not_retried(fake: FakeProviders) -> None:
    with (
        make_client(base_url=fake.coingecko_base_url, timeout=5) as client,
        pytest.raises(InvalidSymbol),
    ):
        get_json(client, "coingecko", "/coins/nocoin/ohlc", {}, what="ohlc", policy=FAST)
    assert fake.market.count("coingecko") == 1


def test_malformed_json_is_a_bad_response(fake: FakeProviders) -> None:
    fake.market.fail("coingecko", "malformed")
    with pytest.raises(BadResponse, match="malformed JSON"):
        _ping(fake)
    assert fake.market.count("coingecko") == 1


def test_connection_refused_is_unavailable() -> None:
    with (
        make_client(base_url="http://127.0.0.1:9", timeout=1) as client,
        pytest.raises(ProviderUnavailable),
    ):
        get_json(client, "coingecko", "/ping", {}, what="ping", policy=FAST)


def test_limiter_runs_before_every_attempt(fake: FakeProviders) -> None:
    calls: list[int] = []
    fake.market.fail("coingecko", "500")
    with make_client(base_url=fake.coingecko_base_url, timeout=5) as client:
        get_json(
            client,
            "coingecko",
            "/ping",
            {},
            what="ping",
            policy=FAST,
            limiter=lambda: calls.append(1),
        )
    assert len(calls) == fake.market.count("coingecko") == 2


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    date_value = retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT")
    assert date_value == 0.0
    for unreadable in ("inf", "-inf", "nan", "1e400"):
        assert retry_after_seconds(unreadable) is None, unreadable
    assert retry_after_seconds("999999999") == 86_400.0  # a day at most
    assert retry_after_seconds("Fri, 01 Jan 9999 00:00:00 GMT") == 86_400.0


def test_own_quota_exhaustion_is_not_retried(fake: FakeProviders) -> None:
    from shared.providers.errors import QuotaExhausted

    def empty_bucket() -> None:
        raise QuotaExhausted("coingecko", "bucket empty", retry_after=0.05)

    with (
        make_client(base_url=fake.coingecko_base_url, timeout=5) as client,
        pytest.raises(QuotaExhausted),
    ):
        get_json(client, "coingecko", "/ping", {}, what="ping", policy=FAST, limiter=empty_bucket)
    assert fake.market.count("coingecko") == 0
