"""A problem the caller may retry carries `Retry-After` as delay-seconds (RFC 9110: a whole
number), rounded up from the figure the error holds, a provider's fractional one included."""

from __future__ import annotations

import json
import math

import pytest

from functions.http import _error_response
from shared.errors import DomainError, ResultsPreparing
from shared.providers.errors import Throttled


@pytest.mark.parametrize(
    ("error", "status", "header"),
    [
        (Throttled("alpha_vantage", "5 calls per minute", retry_after=1.5), 429, "2"),
        (Throttled("coingecko", "slow down", retry_after=0.0), 429, "0"),
        (ResultsPreparing("being written", retry_after=2), 503, "2"),
    ],
)
def test_retry_after_is_whole_seconds_rounded_up(
    error: DomainError, status: int, header: str
) -> None:
    response = _error_response(error)
    assert response.status_code == status
    assert response.headers["Retry-After"] == header
    assert response.mimetype == "application/problem+json"
    assert json.loads(response.get_body())["detail"] == error.detail


@pytest.mark.parametrize("figure", [None, math.inf, math.nan])
def test_no_retry_after_without_a_finite_figure(figure: float | None) -> None:
    response = _error_response(Throttled("alpha_vantage", "no usable figure", retry_after=figure))
    assert response.status_code == 429
    assert "Retry-After" not in response.headers
    assert json.loads(response.get_body())["title"] == "Too many requests"
