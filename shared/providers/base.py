"""What every provider client shares: its name, the retry policy, the quota hook, raw capture."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from shared.providers.errors import RateLimited
from shared.providers.http import Limiter, RawSink, RetryPolicy

KeyLimiter = Callable[[str], Limiter]
"""Given an API key (or "" for keyless providers), the limiter guarding its quota."""


def no_limit(_key: str) -> Limiter:
    return lambda: None


@dataclass
class ClientHooks:
    """How a client is wired into the ingest: retries, quota, and where raw bodies go."""

    policy: RetryPolicy
    limiter_for: KeyLimiter = no_limit
    raw_sink: RawSink | None = None


def first_granted(provider: str, keys: list[str], limiter_for: KeyLimiter, start: int) -> int:
    """Index of the first key (rotating from `start`) whose quota grants a call."""
    last: RateLimited | None = None
    for step in range(len(keys)):
        index = (start + step) % len(keys)
        try:
            limiter_for(keys[index])()
            return index
        except RateLimited as error:
            last = error
    raise last or RateLimited(provider, "no API key configured")


def after_first(limiter: Limiter) -> Limiter:
    """A limiter that lets the first attempt through (already paid for) and guards retries."""
    calls = 0

    def guard() -> None:
        nonlocal calls
        calls += 1
        if calls > 1:
            limiter()

    return guard


def day_start(day: date) -> datetime:
    """Daily bars are stamped 00:00 UTC of their session date."""
    return datetime.combine(day, time(0), tzinfo=UTC)
