"""Provider failure kinds: each maps to one HTTP status and to one sync-state outcome."""

from __future__ import annotations

from shared.errors import DomainError


class ProviderError(DomainError):
    """A provider call failed; `provider` names which one."""

    status = 502
    title = "Bad gateway"

    def __init__(self, provider: str, detail: str) -> None:
        super().__init__(f"{provider}: {detail}")
        self.provider = provider


class ProviderUnavailable(ProviderError):
    """5xx, timeout or connection failure, after the retries."""

    status = 503
    title = "Provider unavailable"


class RateLimited(ProviderError):
    """The provider (or our own quota) refuses more calls for now."""

    status = 429
    title = "Too many requests"

    def __init__(self, provider: str, detail: str, retry_after: float | None = None) -> None:
        super().__init__(provider, detail)
        self.retry_after = retry_after


class Throttled(RateLimited):
    """The provider said "too fast" (a per-minute or per-second limit): retry after a short
    pause. `retry_after` is the provider's figure, or its documented window."""


class DailyCapReached(RateLimited):
    """The provider said today's allowance is spent: retry after its daily reset."""


class QuotaExhausted(RateLimited):
    """Our own quota bucket is empty: the call was not made. `retry_after` says when a token
    returns. Never retried in-call; the limiter's own `max_wait` decides about waiting."""


class AuthRejected(ProviderError):
    """The provider refused the API key (HTTP 401/403, or its 'invalid key' message)."""

    status = 502
    title = "Provider key refused"


class InvalidSymbol(ProviderError):
    """The provider does not know the symbol (or the request's own parameters are wrong)."""

    status = 404
    title = "Unknown symbol"


class BadResponse(ProviderError):
    """The provider answered, but not with the documented shape (malformed JSON and the like)."""

    status = 502
    title = "Bad provider response"


class ProviderNotice(BadResponse):
    """The provider answered with a message we do not recognise instead of data (Alpha
    Vantage's `Information`/`Note`). `notice` is its text, verbatim, for provider health."""

    title = "Unrecognised provider message"

    def __init__(self, provider: str, detail: str, notice: str) -> None:
        super().__init__(provider, detail)
        self.notice = notice
