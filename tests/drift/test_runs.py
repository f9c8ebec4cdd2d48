"""Large scopes fan out one chunk per symbol through the Durable orchestration (on an
in-process local host with the Durable plugin): 202 and a status URL, progress per symbol,
and a report equal, field for field, to the synchronous one; small scopes answer at once.
The chunk parts survive their JSON round trip exactly."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from devhost.durable.plugin import DurablePlugin
from shared.audit import AuditLog
from shared.auth.caller import Caller
from shared.backtest import ExecutionSettings, run_backtest
from shared.config import get_settings
from shared.drift import DriftRequest, drift_report
from shared.drift.runs import (
    DriftRunService,
    FailTask,
    estimated_bars,
    fail_run,
    is_large,
    part_json,
    part_of,
    update_run,
)
from shared.drift.service import plan_drift, symbol_drift
from shared.errors import LimitExceeded
from shared.ingest.bars import BarLake
from shared.journal.models import ExecutionIn
from shared.journal.service import journal_of
from shared.storage.factory import document_store, lake
from tests.drift.conftest import SYMBOL, frame_of, walk
from testsupport.auth import auth_headers
from testsupport.host import in_process_host

APP = "tests.drift.apps.drift_app:app"
SYMBOLS = [SYMBOL, "DRF2", "DRF3"]
QUERY = {
    "strategy": "sma_cross", "params": "fast=3,slow=10", "symbols": ",".join(SYMBOLS),
    "start": "2024-01-01", "end": "2024-06-30", "brokerAccount": "U1", "commission": "0.001",
}  # fmt: skip
ALICE = Caller("alice", frozenset({"viewer"}))


def seed() -> None:
    """Bars of three symbols; the trader copies each symbol's replay but its first trade,
    a dollar late on entry of the second."""
    executions = []
    for n, symbol in enumerate(SYMBOLS):
        bars = [b.model_copy(update={"symbol": symbol}) for b in walk(seed=7 + n)]
        BarLake(lake()).merge(bars, ingested_at=datetime.now(UTC))
        trades = run_backtest(
            frame_of(walk(seed=7 + n)), "sma_cross", {"fast": 3, "slow": 10},
            ExecutionSettings(commission=0.001),
        ).trades  # fmt: skip
        for k in range(1, len(trades)):
            t = trades.iloc[k]
            for side, price, at in (
                ("buy", float(t.entry_price) + (1.0 if k == 1 else 0.0), t.entry_time),
                ("sell", float(t.exit_price), t.exit_time),
            ):
                executions.append(
                    ExecutionIn(
                        broker_account="U1", symbol=symbol, side=side, quantity=float(t["size"]),
                        price=price, fees=0.5, executed_at=at.to_pydatetime() + timedelta(hours=15),
                    )
                )  # fmt: skip
    journal_of("alice").add(executions, "manual")


def request(**changes: str) -> DriftRequest:
    return DriftRequest.model_validate(QUERY | changes)


def test_the_size_of_a_scope_is_estimated_from_the_request_alone(isolated_settings: Path):
    assert estimated_bars(request()) == 3 * 182
    assert estimated_bars(request(interval="60m")) == 3 * 182 * 24
    days = (date(2200, 12, 31) - date(1900, 1, 1)).days + 1
    assert estimated_bars(request(start="1900-01-01", end="2200-12-31")) == 3 * days
    assert not is_large(request())
    assert is_large(request(interval="5m"))  # 3 x 182 x 288 > 20,000


def test_a_part_survives_its_json_round_trip_exactly(isolated_settings: Path):
    seed()
    journal = journal_of("alice")
    plan = plan_drift(request(), ALICE, journal)
    for symbol in SYMBOLS:
        result, tolerance = symbol_drift(plan, symbol, journal)
        assert result.pairs
        assert result.missed
        again, tolerance_again = part_of(part_json(symbol, result, tolerance))
        assert again == result
        assert tolerance_again == tolerance


async def _finished(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    seen: list[dict[str, Any]] = []
    for _ in range(600):
        reply = await client.get(url, headers=auth_headers("viewer"))
        assert reply.status_code == 200, reply.text
        view = reply.json()
        seen.append(view)
        if view["status"] in ("Completed", "Failed"):
            return view
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {url} did not finish: {seen[-1]}")


async def test_a_large_scope_fans_out_per_symbol_and_reports_as_the_synchronous_route(
    isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("BACKTEST_WORKERS", "0")
    monkeypatch.setenv("DRIFT_SYNC_MAX_BARS", "400")  # 3 symbols x 182 days = 546 bars
    get_settings.cache_clear()
    seed()
    expected = drift_report(request(), ALICE, journal_of("alice"))
    async with (
        in_process_host(APP, plugins=[DurablePlugin()]) as host,
        httpx.AsyncClient(base_url=host.base_url, timeout=60) as client,
    ):
        started = await client.get(
            "/api/journal/drift", params=QUERY, headers=auth_headers("viewer")
        )
        assert started.status_code == 202, started.text
        body = started.json()
        assert started.headers["Location"] == body["statusUrl"]
        assert body["statusUrl"] == f"/api/journal/drift/runs/{body['runId']}"
        assert (body["status"], body["estimatedBars"], body["report"]) == ("Pending", 546, None)

        started_records = [
            r for r in AuditLog(document_store()).page(datetime.now(UTC).strftime("%Y-%m"))[0]
            if r.action == "journal.drift.started"
        ]  # fmt: skip
        assert [r.target for r in started_records] == [f"journal/drift/runs/{body['runId']}"]
        assert started_records[0].detail["estimatedBars"] == 546
        view = await _finished(client, body["statusUrl"])
        assert view["status"] == "Completed", view
        assert view["progress"] == {
            "stage": "done", "symbolsDone": 3, "symbolsTotal": 3,
            "pairs": len(expected.pairs), "missed": len(expected.missed),
            "extra": len(expected.extra),
        }  # fmt: skip
        assert view["report"] == expected.model_dump(mode="json", by_alias=True)

        # another account cannot read it; an admin names the account
        bobs = await client.get(body["statusUrl"], headers=auth_headers("viewer", "bob"))
        assert bobs.status_code == 404
        assert bobs.headers["Content-Type"].startswith("application/problem+json")
        admin = await client.get(
            body["statusUrl"], params={"account": "alice"}, headers=auth_headers("admin", "root")
        )
        assert admin.json()["report"] == view["report"]

        # a small scope answers at once, with the report itself
        small = await client.get(
            "/api/journal/drift", params=QUERY | {"symbols": SYMBOL}, headers=auth_headers()
        )
        assert small.status_code == 200, small.text
        assert small.json()["symbols"] == [SYMBOL]

        # a symbol without bars fails its chunk: the run says which
        missing = await client.get(
            "/api/journal/drift", params=QUERY | {"symbols": f"{SYMBOL},ZZZZ,DRF2"},
            headers=auth_headers(),
        )  # fmt: skip
        assert missing.status_code == 202, missing.text
        failed = await _finished(client, missing.json()["statusUrl"])
        assert failed["status"] == "Failed"
        assert "ZZZZ" in failed["error"]
        assert "no 1d bars of ZZZZ" in failed["error"]
        assert failed["report"] is None

        # an unknown strategy is refused before any fan-out
        refused = await client.get(
            "/api/journal/drift", params=QUERY | {"strategy": "nope"}, headers=auth_headers()
        )
        assert refused.status_code == 404
        unknown = await client.get("/api/journal/drift/runs/nope", headers=auth_headers())
        assert unknown.status_code == 404


class _Ended:
    """An orchestration status as the Durable client returns it."""

    def __init__(self, runtime: str, output: str) -> None:
        self.runtime_status = runtime
        self.custom_status = {"stage": "running", "symbolsDone": 1, "symbolsTotal": 3}
        self.output = output


class _Client:
    def __init__(self, status: Any) -> None:
        self.status = status
        self.started: list[tuple[str, str]] = []

    async def start_new(self, name: str, instance_id: str, client_input: Any, /) -> Any:
        self.started.append((name, instance_id))

    async def get_status(self, instance_id: str, /) -> Any:
        return self.status

    async def terminate(self, instance_id: str, reason: str, /) -> Any:
        return None


async def test_a_run_whose_orchestration_ended_without_its_failure_step_reads_failed(
    isolated_settings: Path,
):
    seed()
    client = _Client(_Ended("Terminated", "killed by an operator"))
    service = DriftRunService(client)
    started = await service.start(request(), Caller("alice", frozenset({"trader"})),
                                  journal_of("alice"))  # fmt: skip
    assert client.started == [("drift_run", started.run_id)]
    assert started.status == "Pending"
    view = await service.view("alice", started.run_id)
    assert (view.status, view.error) == (
        "Failed",
        "orchestration Terminated: killed by an operator",
    )
    assert view.progress is not None
    assert view.progress.symbols_done == 1
    # a run that really ended keeps its own status: the failure step wrote it
    fail_run(FailTask(run_id=started.run_id, account_id="alice", error="symbol X failed"))
    update_run("alice", started.run_id, status="Running")  # a late chunk
    view = await service.view("alice", started.run_id)
    assert (view.status, view.error) == ("Failed", "symbol X failed")


async def test_one_journal_has_at_most_the_limit_of_runs_under_way(
    isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("DRIFT_ACTIVE_RUNS_PER_ACCOUNT", "2")
    get_settings.cache_clear()
    seed()
    client = _Client(None)  # orchestrations never start: the runs stay Pending
    service = DriftRunService(client)
    alice, bob = Caller("alice", frozenset({"trader"})), Caller("bob", frozenset({"trader"}))
    first = await service.start(request(), alice, journal_of("alice"))
    await service.start(request(), alice, journal_of("alice"))
    with pytest.raises(LimitExceeded) as refused:
        await service.start(request(), alice, journal_of("alice"))
    assert refused.value.extensions == {"limit": 2, "setting": "DRIFT_ACTIVE_RUNS_PER_ACCOUNT"}
    assert first.status_url in refused.value.detail
    assert len(client.started) == 2  # the refused one started nothing
    await service.start(request(), bob, journal_of("bob"))  # another journal is not affected
    fail_run(FailTask(run_id=first.run_id, account_id="alice", error="x"))
    await service.start(request(), alice, journal_of("alice"))  # an ended run frees a place
