"""A provider retry logs one warning that names the provider (not stamina's bare event)."""

from __future__ import annotations

import logging

import pytest

from shared.providers.errors import ProviderUnavailable
from shared.providers.http import RetryPolicy


def test_a_retry_warning_names_the_provider_attempt_and_cause(
    caplog: pytest.LogCaptureFixture,
) -> None:
    policy = RetryPolicy(attempts=2, wait_initial=0.0, wait_max=0.0, wait_jitter=0.0)
    calls: list[int] = []

    def fetch() -> None:
        for attempt in policy.attempts_of():
            with attempt:
                calls.append(1)
                raise ProviderUnavailable("coingecko", "connection failed: [Errno 111]")

    caplog.set_level(logging.WARNING)
    with pytest.raises(ProviderUnavailable):
        fetch()
    assert len(calls) == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "coingecko: attempt 1 failed (ProviderUnavailable: coingecko: connection failed: "
        "[Errno 111]); retrying in 0.0 s"
    ]
    assert not any("stamina.retry_scheduled" in w for w in warnings)
