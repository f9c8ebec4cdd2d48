"""Fixtures for provider client tests: the fake servers and a fast retry policy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.providers.base import ClientHooks
from shared.providers.http import RawResponse, RetryPolicy
from testsupport.fake_providers import FakeMarket, FakeProviders, serve_fake_providers

FAST = RetryPolicy(
    attempts=3, wait_initial=0.01, wait_max=0.05, wait_jitter=0.01, retry_after_max=2.0
)


@pytest.fixture
def fake() -> Iterator[FakeProviders]:
    with serve_fake_providers(FakeMarket(timeout_sleep=1.0)) as server:
        yield server


@pytest.fixture
def raw() -> list[RawResponse]:
    return []


@pytest.fixture
def hooks(raw: list[RawResponse]) -> ClientHooks:
    return ClientHooks(policy=FAST, raw_sink=raw.append)
