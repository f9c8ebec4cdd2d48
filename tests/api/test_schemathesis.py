"""Fuzz every operation of the running local host's /api/openapi.json with schemathesis:
no 5xx, and every response conforms to the documented status codes, media types and
schemas. Bounded: a few examples per operation and an overall time budget."""

from __future__ import annotations

import time

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.auth import auth_headers
from tests.support.host import start_host

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MAX_EXAMPLES = 6
BUDGET_SECONDS = 90.0
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Starting sweeps or backfills would spend the fuzz budget on computation and provider
# retries, not on the API surface; both have their own validation tests.
SKIPPED = {
    ("POST", "/api/backtests"),
    ("POST", "/api/backtests/walk-forward"),
    ("POST", "/api/ops/backfill"),
}


def test_every_operation_survives_fuzzing_and_matches_its_schema(tmp_path):
    with start_host(env={"LOCAL_DATA_DIR": str(tmp_path / "data")}) as host:
        schema = schemathesis.openapi.from_url(f"{host.base_url}/api/openapi.json")
        headers = auth_headers("admin", "fuzzer")
        deadline = time.monotonic() + BUDGET_SECONDS
        failures: list[str] = []
        tested = 0
        for result in schema.get_all_operations():
            operation = result.ok()  # type: ignore[union-attr]
            if (operation.method.upper(), operation.path) in SKIPPED:
                continue
            if time.monotonic() > deadline:
                break
            tested += 1

            @given(case=operation.as_strategy())
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def fuzz(case: schemathesis.Case) -> None:
                case.call_and_validate(
                    base_url=host.base_url, headers=headers, checks=CHECKS, timeout=30
                )

            try:
                fuzz()
            except Exception as error:
                failures.append(f"{operation.method.upper()} {operation.path}: {error}"[:2000])
        assert tested >= 20, f"only {tested} operations fuzzed within the budget"
        assert failures == [], "\n\n".join(failures)
