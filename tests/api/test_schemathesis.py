"""Fuzz every operation of the running local host's /api/openapi.json with schemathesis: no
5xx, and every response conforms to the documented status codes, media types and schemas.

None is skipped, and operations on `{id}` paths also run against a seeded resource of each
kind (DELETEs last). POST /api/backtests and /api/backtests/walk-forward start real runs on a
small data set (one year of GOOG daily bars from the bundled sample data) under a small grid
cap, and POST /api/ops/backfill runs against the offline sample provider with the network
providers pointed at a closed port (one try each). The budget is fixed: MAX_EXAMPLES per
operation, derandomized, so CI fuzzes the same inputs every run."""

from __future__ import annotations

import os
import socket
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from testsupport.auth import auth_headers
from testsupport.host import start_host

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
BUDGET_SECONDS = 60.0 + 15.0 * MAX_EXAMPLES  # about 4x what 10 examples take here
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
SEED_BARS = {"symbols": "GOOG", "start": "2005-01-01", "end": "2005-12-31", "provider": "sample"}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fuzz_environment(data_dir: str) -> dict[str, str]:
    """A host whose costly operations stay small: a small grid cap, one activity worker,
    no provider reachable but the bundled sample data, one try per provider call."""
    nowhere = f"http://127.0.0.1:{_closed_port()}"
    return {
        "LOCAL_DATA_DIR": data_dir,
        "BACKTEST_MAX_COMBINATIONS": "12",
        "BACKTEST_WORKERS": "1",
        "SAMPLE_DATA_ENABLED": "true",
        "ALPHAVANTAGE_API_KEYS": "fuzz-key",
        "ALPHAVANTAGE_BASE_URL": nowhere,
        "YAHOO_BASE_URL": nowhere,
        "COINGECKO_BASE_URL": nowhere,
        "PROVIDER_RETRY_ATTEMPTS": "1",
        "HTTP_TIMEOUT_SECONDS": "2",
        "RELAY_IN_DEVHOST": "false",
    }


def seed_resources(base_url: str, headers: dict[str, str]) -> dict[str, str]:
    """One resource of each kind, so that operations on `{id}` paths also run against a real
    one (random ids only reach the 404 branch): path parameter name -> value."""
    sma = {"strategy": "sma_cross", "grid": {"fast": [5, 10], "slow": [20, 40]}}
    ids = {"symbol": "GOOG", "version": "1"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:

        def create(path: str, body: dict[str, Any], key: str = "id") -> str:
            reply = client.post(path, json=body)
            assert reply.status_code in (201, 202), f"{path}: {reply.status_code} {reply.text}"
            return str(reply.json()[key])

        ids["watchlistId"] = create("/api/watchlists", {"name": "seed", "symbols": ["GOOG"]})
        ids["strategyId"] = create("/api/strategies", {"name": "seed", "spec": sma})
        ids["accountId"] = create("/api/paper/accounts", {"name": "seed", "startingCash": 1000})
        ids["orderId"] = create(
            f"/api/paper/accounts/{ids['accountId']}/orders",
            {"symbol": "GOOG", "side": "buy", "type": "limit", "qty": 1, "limitPrice": 1},
        )
        ids["run_id"] = create(
            "/api/backtests", {"symbols": ["GOOG"], "strategy": sma}, key="runId"
        )
    return ids


def fuzzers(
    operation: Any,
    label: str,
    base_url: str,
    headers: dict[str, str],
    statuses: dict[str, Counter[int]],
    seeded: dict[str, str],
) -> list[Callable[[], None]]:
    """Hypothesis tests of one operation, each with every check: its documented examples
    (a sweep that starts, a backfill that writes), MAX_EXAMPLES derandomized cases that fit
    the schema, the same on the seeded resource when the path names one, and MAX_EXAMPLES
    that break the schema (those must be 4xx, never 5xx)."""

    def run(strategy: Any, budget: int) -> Callable[[], None]:
        @given(case=strategy)
        @settings(
            max_examples=budget,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: schemathesis.Case) -> None:
            response = case.call(base_url=base_url, headers=headers, timeout=30)
            statuses[label][response.status_code] += 1
            case.validate_response(response, checks=CHECKS)

        return fuzz

    tests = []
    examples = operation.get_strategies_from_examples()
    if examples:
        tests.append(run(st.one_of(examples), len(examples)))
    tests.append(run(operation.as_strategy(GenerationMode.POSITIVE), MAX_EXAMPLES))
    names = [parameter.name for parameter in operation.path_parameters]
    if names and all(name in seeded for name in names):
        on_seeded = {name: seeded[name] for name in names}
        strategy = operation.as_strategy(GenerationMode.POSITIVE, path_parameters=on_seeded)
        tests.append(run(strategy, MAX_EXAMPLES))
    if operation.path_parameters or operation.query or operation.body:
        tests.append(run(operation.as_strategy(GenerationMode.NEGATIVE), MAX_EXAMPLES))
    return tests


def test_every_operation_survives_fuzzing_and_matches_its_schema(tmp_path):
    env = fuzz_environment(str(tmp_path / "data"))
    with start_host(env=env) as host:
        headers = auth_headers("admin", "fuzzer")
        seeded = httpx.post(
            f"{host.base_url}/api/ops/backfill", json=SEED_BARS, headers=headers, timeout=120
        )
        assert seeded.status_code == 200, seeded.text
        document = httpx.get(f"{host.base_url}/api/openapi.json", timeout=30).json()
        documented = {f"{m.upper()} {p}" for p, item in document["paths"].items() for m in item}
        schema = schemathesis.openapi.from_dict(document)
        operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
        operations.sort(key=lambda operation: operation.method.upper() == "DELETE")  # last
        seeded_ids = seed_resources(host.base_url, headers)
        started = time.monotonic()
        failures: list[str] = []
        statuses: dict[str, Counter[int]] = {}
        for operation in operations:
            label = f"{operation.method.upper()} {operation.path}"
            if os.environ.get("FUZZ_ONLY", label) != label:
                documented.discard(label)
                continue
            statuses[label] = Counter()
            for fuzz in fuzzers(operation, label, host.base_url, headers, statuses, seeded_ids):
                try:
                    fuzz()
                except (Exception, BaseExceptionGroup) as error:  # schemathesis groups its failures
                    failures.append(f"{label}: {error}"[:3000])
        elapsed = time.monotonic() - started
        calls = sum(sum(counter.values()) for counter in statuses.values())
        print(
            f"\nschemathesis: {len(operations)} operations, {calls} calls "
            f"(max {MAX_EXAMPLES} examples each) in {elapsed:.1f} s"
        )
        for label, counter in statuses.items():
            print(f"  {label}: {dict(sorted(counter.items()))}")
        assert failures == [], "\n\n".join(failures)
        assert set(statuses) == documented  # every operation, none skipped
        assert all(statuses.values()), statuses
        assert elapsed < BUDGET_SECONDS, f"fuzzing took {elapsed:.0f} s"
