"""Fixtures for provider client tests: a fast retry policy and hooks (`fake`, the fake
servers, is in tests/conftest.py)."""

from __future__ import annotations

import pytest

from shared.providers.base import ClientHooks
from shared.providers.http import RawResponse, RetryPolicy

FAST = RetryPolicy(
    attempts=3, wait_initial=0.01, wait_max=0.05, wait_jitter=0.01, retry_after_max=2.0
)


@pytest.fixture
def raw() -> list[RawResponse]:
    return []


@pytest.fixture
def hooks(raw: list[RawResponse]) -> ClientHooks:
    return ClientHooks(policy=FAST, raw_sink=raw.append)
