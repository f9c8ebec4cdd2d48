"""The one httpx client factory and the one retry policy (stamina) for every provider."""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import stamina

from shared.config import Settings
from shared.providers.errors import (
    AuthRejected,
    BadResponse,
    InvalidSymbol,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
)

USER_AGENT = "tradingjournal-functions/0.1 (+market-data ingest)"


@dataclass(frozen=True)
class RawResponse:
    """One provider response body as it came, for the raw archive."""

    provider: str
    what: str
    params: dict[str, str]
    status: int
    body: bytes
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.body).hexdigest()[:16]


RawSink = Callable[[RawResponse], None]
Limiter = Callable[[], None]
"""Called before every HTTP attempt (retries included); raises `RateLimited` to refuse."""


_retry_log = logging.getLogger("shared.providers.retry")


def log_retry(details: stamina.instrumentation.RetryDetails) -> None:
    """stamina's on-retry hook: one warning naming the provider (a `ProviderError`'s
    `provider`; else the retried callable), the attempt, the wait and the cause, instead of
    stamina's bare `stamina.retry_scheduled`."""
    error = details.caused_by
    who = getattr(error, "provider", None) or details.name
    _retry_log.warning(
        "%s: attempt %d failed (%s: %s); retrying in %.1f s",
        who,
        details.retry_num,
        type(error).__name__,
        error,
        details.wait_for,
    )


stamina.instrumentation.set_on_retry_hooks([log_retry])


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter on 5xx, timeouts and 429; never on the caller's 4xx."""

    attempts: int = 4
    wait_initial: float = 0.5
    wait_max: float = 8.0
    wait_jitter: float = 0.5
    retry_after_max: float = 30.0
    total_timeout: float = 120.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            attempts=settings.provider_retry_attempts,
            wait_initial=settings.provider_retry_wait_initial,
            wait_max=settings.provider_retry_wait_max,
            wait_jitter=min(settings.provider_retry_wait_initial, 1.0),
            retry_after_max=settings.provider_retry_after_max,
        )

    def backoff(self, error: Exception) -> bool | float:
        """stamina's backoff hook: True = default backoff, a float = wait exactly that."""
        if isinstance(error, QuotaExhausted):
            return False
        if isinstance(error, RateLimited):
            if error.retry_after is None or error.retry_after > self.retry_after_max:
                return False
            return max(error.retry_after, 0.0)
        return isinstance(error, ProviderUnavailable)

    def attempts_of(self) -> Iterable[stamina.Attempt]:
        """stamina attempts under this policy: `for attempt in policy.attempts_of(): with
        attempt: ...` retries the block as `backoff` decides."""
        return stamina.retry_context(
            on=self.backoff,
            attempts=self.attempts,
            timeout=self.total_timeout,
            wait_initial=self.wait_initial,
            wait_max=self.wait_max,
            wait_jitter=self.wait_jitter,
        )


def make_client(
    *, base_url: str, timeout: float, headers: Mapping[str, str] | None = None
) -> httpx.Client:
    """The one way to build a provider HTTP client. httpx's own request log is kept at WARNING:
    its INFO lines carry full URLs, and Alpha Vantage keys travel in the query string."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return httpx.Client(
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})},
        follow_redirects=True,
    )


RETRY_AFTER_MAX_SECONDS = 86_400.0
"""The longest pause a provider's Retry-After may impose (a daily allowance resets within a
day); a larger figure is taken as this."""


def retry_after_seconds(value: str | None) -> float | None:
    """Parse a Retry-After header (delta-seconds or an HTTP date), within 0 and
    `RETRY_AFTER_MAX_SECONDS`; None for a missing or unreadable one ("soon", "inf", "nan")."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_MAX_SECONDS)


def _check_status(provider: str, response: httpx.Response) -> None:
    status = response.status_code
    if status == 429:
        raise RateLimited(
            provider,
            f"HTTP 429 from {response.request.url.path}",
            retry_after_seconds(response.headers.get("Retry-After")),
        )
    if status >= 500:
        raise ProviderUnavailable(provider, f"HTTP {status} from {response.request.url.path}")
    if status in (401, 403):
        raise AuthRejected(
            provider, f"HTTP {status}: the API key was refused: {_error_text(response)}"
        )
    if status == 404:
        raise InvalidSymbol(provider, f"HTTP 404 from {response.request.url.path}")
    if status >= 400:
        raise InvalidSymbol(provider, f"HTTP {status}: {_error_text(response)}")


def _error_text(response: httpx.Response) -> str:
    """The message of a JSON error body (CoinGecko's `status.error_message` or `error`),
    else the start of the body."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text[:200]
    if isinstance(body, dict):
        status = body.get("status")
        if isinstance(status, dict) and status.get("error_message"):
            return str(status["error_message"])[:200]
        if body.get("error"):
            return str(body["error"])[:200]
    return response.text[:200]


def _check_json_type(provider: str, path: str, response: httpx.Response) -> None:
    """Refuse a body that says it is not JSON (CSV, HTML): the suite only asks for JSON."""
    kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if kind and not (kind.endswith("/json") or kind.endswith("+json")):
        raise BadResponse(provider, f"{path} answered {kind}, not JSON; only JSON is parsed")


def get_json(
    client: httpx.Client,
    provider: str,
    path: str,
    params: Mapping[str, str],
    *,
    what: str,
    policy: RetryPolicy,
    limiter: Limiter | None = None,
    raw_sink: RawSink | None = None,
    redact: tuple[str, ...] = (),
) -> Any:
    """GET `path` and decode JSON, retrying per `policy`. Raises a `ProviderError` subtype."""
    shown = {k: ("***" if k in redact else str(v)) for k, v in params.items()}
    for attempt in policy.attempts_of():
        with attempt:
            if limiter is not None:
                limiter()
            try:
                response = client.get(path, params=dict(params))
            except httpx.TimeoutException as error:
                raise ProviderUnavailable(provider, f"timed out: {type(error).__name__}") from None
            except httpx.TransportError as error:
                raise ProviderUnavailable(provider, f"connection failed: {error}") from None
            if raw_sink is not None:
                raw_sink(RawResponse(provider, what, shown, response.status_code, response.content))
            _check_status(provider, response)
            _check_json_type(provider, path, response)
            try:
                return response.json()
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise BadResponse(provider, f"malformed JSON from {path}: {error}") from None
    raise AssertionError("unreachable")  # pragma: no cover


def gzip_bytes(data: bytes) -> bytes:
    """Deterministic gzip (no timestamp in the header): equal input, equal output."""
    return gzip.compress(data, compresslevel=6, mtime=0)
