"""One error type per failure kind; the HTTP layer maps each to a problem+json status."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error the core raises on purpose. `status` is the HTTP mapping."""

    status: int = 400
    title: str = "Bad request"
    type: str = "about:blank"
    """The problem+json `type` (a URI reference naming the kind of problem)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions: dict[str, Any] = {}
        """Extra members of the problem+json body (RFC 9457 extensions), e.g. `limit`."""


class InvalidInput(DomainError):
    status = 422
    title = "Invalid input"


class InvalidParameter(InvalidInput):
    """A strategy parameter breaks its declared rule (type, range, relation) or is unknown."""

    type = "/problems/invalid-parameter"


class InvalidNumber(InvalidInput):
    """A number in a request is not a bounded, finite decimal (NaN, 1e450000, ...)."""

    type = "/problems/invalid-number"


class GridTooLarge(InvalidInput):
    """A parameter grid (an axis, the whole product or the valid combinations) is over a cap."""

    type = "/problems/grid-too-large"


class NoValidCombination(InvalidInput):
    """No combination of a grid satisfies the strategy's relations (e.g. fast < slow)."""

    type = "/problems/no-valid-combination"


class NotEnoughBars(InvalidInput):
    """A combination's warm-up does not fit the bars it would run on."""

    type = "/problems/not-enough-bars"


class NotFound(DomainError):
    status = 404
    title = "Not found"


class Conflict(DomainError):
    status = 409
    title = "Conflict"


class LimitExceeded(DomainError):
    """A per-account limit (a setting) would be exceeded; the problem names it and its value."""

    status = 422
    title = "Limit exceeded"

    def __init__(self, detail: str, *, limit: int, setting: str) -> None:
        super().__init__(detail)
        self.extensions = {"limit": limit, "setting": setting}


class PreconditionFailed(DomainError):
    """A write carried an etag that is no longer current (optimistic concurrency lost)."""

    status = 412
    title = "Precondition failed"


class Unauthorized(DomainError):
    status = 401
    title = "Unauthorized"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"


class TooManyRequests(DomainError):
    status = 429
    title = "Too many requests"


class Unavailable(DomainError):
    """A dependency (storage, provider) cannot be reached right now."""

    status = 503
    title = "Service unavailable"


class ResultsPreparing(Unavailable):
    """A run's result files are being written by another request: retry after `retry_after`
    seconds (the HTTP layer sends it as `Retry-After`)."""

    type = "/problems/results-preparing"
    title = "Results being prepared"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
        self.extensions = {"retryAfter": retry_after}
