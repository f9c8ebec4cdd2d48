"""Drift runs: a large scope (many symbols or years) fanned out one chunk per symbol, on the
machinery of backtest runs (`shared.backtest.runs`: typed messages passed as `wire` JSON with
the caller's trace context, an `OrchestrationClient`, a run document with one update path).

`DriftRunService(client).start` resolves the plan (a bad strategy or execution field fails
here, before any fan-out), records the run document (the journal's container, kind
`drift_run`) and starts the `drift_run` orchestration (`durable/drift.py`, which only
sequences these steps): `run_symbol` computes one symbol's drift and writes it as a blob (the
message carries its name, never the legs); `finish_run` reads the parts in the request's
symbol order, builds the report exactly as the synchronous route does, stores it and marks
the run Completed; `fail_run` records a failure. `DriftRunService.view` reads the run with
the orchestration's progress (`DriftProgress`, its custom status).

Whether a request runs synchronously is `is_large(request)`: its estimated bar count
(symbols x days x bars per day) against DRIFT_SYNC_MAX_BARS.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import pandas as pd
from pydantic import Field

from shared import telemetry
from shared.api_model import ApiModel
from shared.auth.caller import Caller
from shared.backtest.runs.messages import Traced, wire
from shared.backtest.runs.service import OrchestrationClient, runtime_of
from shared.config import get_settings
from shared.drift.attribution import Drift, Leg, Modelled, Pair
from shared.drift.service import (
    DriftPlan,
    DriftReport,
    DriftRequest,
    build_report,
    combine,
    plan_drift,
    symbol_drift,
)
from shared.errors import LimitExceeded, NotFound
from shared.journal.service import journal_of
from shared.journal.store import CONTAINER, Journal
from shared.market.models import interval_length
from shared.orchestration import TERMINAL
from shared.storage.blob import BlobNotFound, BlobStore
from shared.storage.documents import Document, DocumentNotFound, DocumentStore, Filter, content
from shared.storage.factory import blob_store, document_store

KIND = "drift_run"
DRIFT_ORCHESTRATOR = "drift_run"
SYMBOL_ACTIVITY = "drift_symbol"
FINISH_ACTIVITY = "drift_finish"
FAILED_ACTIVITY = "drift_failed"
"""The orchestration's and activities' names (`durable/drift.py` registers them; the run
service starts the orchestration)."""
RunStatus = Literal["Pending", "Running", "Completed", "Failed"]
"""Of the runtime's statuses (`shared.orchestration`), those a drift run document holds."""
SESSION_DAY = pd.Timedelta(days=1)


# ------------------------------------------------------------------------------ sizing
def estimated_bars(request: DriftRequest) -> int:
    """Bars the scope can hold at most (every symbol, every day, the interval's bars per
    day), computed from the request alone: no read."""
    days = (request.end - request.start).days + 1
    per_day = max(1, int(SESSION_DAY / pd.Timedelta(interval_length(request.interval))))
    return len(request.symbols) * days * per_day


def is_large(request: DriftRequest) -> bool:
    """Whether a request runs as a fanned-out run (202) rather than synchronously (200)."""
    return estimated_bars(request) > get_settings().drift_sync_max_bars


# ------------------------------------------------------------------------------ messages
class DriftJob(Traced):
    """The orchestration's input: a run of a resolved plan."""

    run_id: str
    plan: DriftPlan

    def symbol_task(self, symbol: str) -> SymbolTask:
        return SymbolTask(
            run_id=self.run_id, plan=self.plan, symbol=symbol, trace_context=self.trace_context
        )

    def finish_task(self, parts: list[SymbolDone]) -> FinishTask:
        return FinishTask(
            run_id=self.run_id, plan=self.plan, parts=parts, trace_context=self.trace_context
        )

    def failed_task(self, error: str) -> FailTask:
        return FailTask(run_id=self.run_id, account_id=self.plan.account_id, error=error)


class SymbolTask(Traced):
    """One chunk: one symbol of a run."""

    run_id: str
    plan: DriftPlan
    symbol: str


class SymbolDone(ApiModel):
    """What a chunk hands back: where its part is, and its counts for the progress."""

    symbol: str
    blob: str
    pairs: int
    missed: int
    extra: int
    seconds: float


class FinishTask(Traced):
    """The fan-in: every symbol's part."""

    run_id: str
    plan: DriftPlan
    parts: list[SymbolDone]


class FailTask(ApiModel):
    """Record why a run failed."""

    run_id: str
    account_id: str
    error: str


class DriftProgress(ApiModel):
    """The orchestration's custom status: symbols done (one chunk each) and what they found."""

    stage: Literal["running", "combining", "done", "failed"]
    symbols_done: int
    symbols_total: int
    pairs: int = 0
    missed: int = 0
    extra: int = 0

    def add(self, part: SymbolDone) -> None:
        self.symbols_done += 1
        self.pairs += part.pairs
        self.missed += part.missed
        self.extra += part.extra

    def to_status(self) -> dict[str, Any]:
        return wire(self)

    @classmethod
    def of(cls, custom_status: Any) -> DriftProgress | None:
        """The progress in a custom status; None for anything else (not started yet)."""
        if isinstance(custom_status, dict):
            try:
                return cls.model_validate(custom_status)
            except ValueError:
                return None
        return None


class DriftRunView(ApiModel):
    """A drift run: its status, its progress and, once completed, its report."""

    run_id: str
    status: RunStatus
    symbols: list[str]
    estimated_bars: int
    progress: DriftProgress | None
    created_at: datetime
    completed_at: datetime | None = None
    error: str | None = None
    status_url: str
    report: DriftReport | None = Field(None, description="The report, once Completed.")


# ------------------------------------------------------------------------------ parts
class _LegData(ApiModel):
    id: str
    symbol: str
    side: Literal["long", "short"]
    entered_at: str
    exited_at: str
    entry_bar: int
    exit_bar: int
    quantity: float
    entry_price: float
    exit_price: float
    gross: float
    fees: float


class _PairData(ApiModel):
    strategy: _LegData
    trader: _LegData
    modelled_entry: float
    modelled_exit: float
    effects: dict[str, str]


class _PartData(ApiModel):
    """One symbol's drift as stored: floats exactly as computed (JSON keeps a float's
    repr), times with their nanoseconds, effects as exact decimal text."""

    symbol: str
    tolerance_seconds: float
    pairs: list[_PairData]
    missed: list[_LegData]
    extra: list[_LegData]


def _leg_data(leg: Leg) -> _LegData:
    return _LegData(
        id=leg.id,
        symbol=leg.symbol,
        side=leg.side,
        entered_at=leg.entered_at.isoformat(),
        exited_at=leg.exited_at.isoformat(),
        entry_bar=leg.entry_bar,
        exit_bar=leg.exit_bar,
        quantity=leg.quantity,
        entry_price=leg.entry_price,
        exit_price=leg.exit_price,
        gross=leg.gross,
        fees=leg.fees,
    )


def _leg(data: _LegData) -> Leg:
    fields = data.model_dump()
    fields["entered_at"] = pd.Timestamp(data.entered_at)
    fields["exited_at"] = pd.Timestamp(data.exited_at)
    return Leg(**fields)


def part_json(symbol: str, result: Drift, tolerance: float) -> bytes:
    part = _PartData(
        symbol=symbol,
        tolerance_seconds=tolerance,
        pairs=[
            _PairData(
                strategy=_leg_data(p.strategy),
                trader=_leg_data(p.trader),
                modelled_entry=p.modelled.entry_price,
                modelled_exit=p.modelled.exit_price,
                effects={k: format(v, "f") for k, v in p.effects.items()},
            )
            for p in result.pairs
        ],
        missed=[_leg_data(leg) for leg in result.missed],
        extra=[_leg_data(leg) for leg in result.extra],
    )
    return part.model_dump_json(by_alias=True).encode()


def part_of(raw: bytes) -> tuple[Drift, float]:
    """A stored part back as the `Drift` it was (equal field for field)."""
    part = _PartData.model_validate_json(raw)
    pairs = [
        Pair(
            strategy=_leg(p.strategy),
            trader=_leg(p.trader),
            modelled=Modelled(p.modelled_entry, p.modelled_exit),
            effects={k: Decimal(v) for k, v in p.effects.items()},
        )
        for p in part.pairs
    ]
    drift = Drift(
        pairs=pairs,
        missed=[_leg(leg) for leg in part.missed],
        extra=[_leg(leg) for leg in part.extra],
    )
    return drift, part.tolerance_seconds


# ------------------------------------------------------------------------------ storage
def results() -> BlobStore:
    return blob_store(get_settings().results_container)


def _prefix(account_id: str, run_id: str) -> str:
    return f"drift/{account_id}/{run_id}"


def _doc_id(run_id: str) -> str:
    return f"drift-run:{run_id}"


def status_url(run_id: str) -> str:
    return f"/api/journal/drift/runs/{run_id}"


def _now() -> str:
    return datetime.now(UTC).isoformat()


FINAL_FIELDS = frozenset({"status", "completed_at", "error", "report_blob"})
"""What a run that already ended keeps (as a backtest run's document does): a late chunk
cannot turn a failed run back to Running, nor overwrite why it ended."""


def update_run(account_id: str, run_id: str, **fields: Any) -> None:
    """Set fields of a run document: the one update path, etag-guarded read-modify-write
    (`DocumentStore.update`: a lost race is re-applied, never dropped). A run that ended
    keeps `FINAL_FIELDS`; Running is only ever set on a Pending run."""

    def change(doc: Document) -> Document | None:
        changes = dict(fields)
        if doc.get("status") in TERMINAL:
            changes = {k: v for k, v in changes.items() if k not in FINAL_FIELDS}
        if changes.get("status") == "Running" and doc.get("status") != "Pending":
            del changes["status"]
        if not changes:
            return None
        return {**content(doc), **changes}

    document_store().update(CONTAINER, _doc_id(run_id), account_id, change)


# ------------------------------------------------------------------------------ steps
ACTIVE_WINDOW = timedelta(hours=1)
"""A run still Pending or Running after this long counts as stuck, not active."""


def check_active_runs(docs: DocumentStore, account_id: str) -> None:
    """`LimitExceeded` if the journal already has DRIFT_ACTIVE_RUNS_PER_ACCOUNT runs Pending
    or Running (started within `ACTIVE_WINDOW`): one caller cannot fill the fan-out."""
    limit = get_settings().drift_active_runs_per_account
    since = (datetime.now(UTC) - ACTIVE_WINDOW).isoformat()
    active = docs.query_all(
        CONTAINER,
        account_id,
        [
            Filter("kind", "=", KIND),
            Filter("status", "in", ["Pending", "Running"]),
            Filter("created_at", ">=", since),
        ],
    )
    if len(active) >= limit:
        urls = ", ".join(status_url(d["run_id"]) for d in active)
        raise LimitExceeded(
            f"this journal already has {len(active)} drift runs under way (the limit is "
            f"{limit}); wait for one to finish: {urls}",
            limit=limit,
            setting="DRIFT_ACTIVE_RUNS_PER_ACCOUNT",
        )


def start_run(request: DriftRequest, caller: Caller, journal: Journal) -> DriftJob:
    """Resolve the plan (a bad strategy or execution field fails here, before any fan-out),
    check the journal's active runs, and record the run (Pending)."""
    plan = plan_drift(request, caller, journal)
    check_active_runs(journal.docs, journal.account)
    run_id = uuid.uuid4().hex
    journal.docs.create(
        CONTAINER,
        {
            "id": _doc_id(run_id),
            "pk": journal.account,
            "kind": KIND,
            "run_id": run_id,
            "status": "Pending",
            "symbols": request.symbols,
            "estimated_bars": estimated_bars(request),
            "created_at": _now(),
            "completed_at": None,
            "error": None,
            "report_blob": None,
        },
    )
    return DriftJob(run_id=run_id, plan=plan)


def run_symbol(task: SymbolTask) -> SymbolDone:
    """One chunk: the drift of one symbol, written as a blob (idempotent: a retry rewrites
    the same blob)."""
    began = time.perf_counter()
    plan = task.plan
    update_run(plan.account_id, task.run_id, status="Running")
    result, tolerance = symbol_drift(plan, task.symbol, journal_of(plan.account_id))
    name = f"{_prefix(plan.account_id, task.run_id)}/parts/{task.symbol}.json"
    results().put(name, part_json(task.symbol, result, tolerance), content_type="application/json")
    return SymbolDone(
        symbol=task.symbol,
        blob=name,
        pairs=len(result.pairs),
        missed=len(result.missed),
        extra=len(result.extra),
        seconds=time.perf_counter() - began,
    )


def finish_run(task: FinishTask) -> None:
    """Fan in: the parts in the request's symbol order, the report as the synchronous
    route builds it, stored; the run Completed."""
    store = results()
    by_symbol = {part.symbol: part for part in task.parts}
    parts = [part_of(store.get(by_symbol[s].blob)) for s in task.plan.request.symbols]
    tolerances = {
        s: tolerance for s, (_, tolerance) in zip(task.plan.request.symbols, parts, strict=True)
    }
    report = build_report(task.plan, combine([drift for drift, _ in parts]), tolerances)
    name = f"{_prefix(task.plan.account_id, task.run_id)}/report.json"
    store.put(name, report.model_dump_json(by_alias=True).encode(), content_type="application/json")
    update_run(
        task.plan.account_id,
        task.run_id,
        status="Completed",
        completed_at=_now(),
        report_blob=name,
    )


def fail_run(task: FailTask) -> None:
    update_run(
        task.account_id,
        task.run_id,
        status="Failed",
        completed_at=_now(),
        error=task.error,
    )


class DriftRunService:
    """Start and read drift runs behind an `OrchestrationClient` (the Durable client), as
    `shared.backtest.runs.RunService` does for backtests."""

    def __init__(self, client: OrchestrationClient) -> None:
        self.client = client

    async def start(self, request: DriftRequest, caller: Caller, journal: Journal) -> DriftRunView:
        """Record the run and start its orchestration; the view as recorded (Pending)."""
        job = await asyncio.to_thread(start_run, request, caller, journal)
        payload = wire(job)
        telemetry.with_trace(payload)
        view = await asyncio.to_thread(run_view, journal.account, job.run_id, None)
        await self.client.start_new(DRIFT_ORCHESTRATOR, job.run_id, payload)
        return view

    async def view(self, account_id: str, run_id: str) -> DriftRunView:
        """A run of `account_id`'s journal with its orchestration's progress."""
        status = await self.client.get_status(run_id)
        runtime = runtime_of(status)
        custom = status.custom_status if runtime is not None else None
        view = await asyncio.to_thread(run_view, account_id, run_id, DriftProgress.of(custom))
        if view.status not in TERMINAL and runtime in TERMINAL and runtime != "Completed":
            # the orchestration ended without its failure step landing: say so, not Running
            view = view.model_copy(
                update={"status": "Failed", "error": f"orchestration {runtime}: {status.output}"}
            )
        return view


def run_view(account_id: str, run_id: str, progress: DriftProgress | None) -> DriftRunView:
    """A run of `account_id`'s journal; `NotFound` for any other account's."""
    docs = document_store()
    try:
        doc: Document = docs.read(CONTAINER, _doc_id(run_id), account_id)
    except DocumentNotFound:
        raise NotFound(f"no drift run {run_id!r}") from None
    if doc.get("kind") != KIND:
        raise NotFound(f"no drift run {run_id!r}")
    ended = {"Completed": "done", "Failed": "failed"}.get(doc["status"])
    if progress is not None and ended is not None and progress.stage != ended:
        # the document ends a run a moment before the orchestration's last custom status
        progress = progress.model_copy(update={"stage": ended})
    report = None
    if doc["status"] == "Completed" and doc.get("report_blob"):
        try:
            report = DriftReport.model_validate(json.loads(results().get(doc["report_blob"])))
        except BlobNotFound:
            raise NotFound(f"the report of drift run {run_id!r} is gone") from None
    return DriftRunView(
        run_id=run_id,
        status=doc["status"],
        symbols=doc["symbols"],
        estimated_bars=doc["estimated_bars"],
        progress=progress,
        created_at=doc["created_at"],
        completed_at=doc.get("completed_at"),
        error=doc.get("error"),
        status_url=status_url(run_id),
        report=report,
    )


__all__ = [
    "DRIFT_ORCHESTRATOR",
    "FAILED_ACTIVITY",
    "FINISH_ACTIVITY",
    "SYMBOL_ACTIVITY",
    "DriftJob",
    "DriftProgress",
    "DriftRunService",
    "DriftRunView",
    "FailTask",
    "FinishTask",
    "SymbolDone",
    "SymbolTask",
    "estimated_bars",
    "fail_run",
    "finish_run",
    "is_large",
    "part_json",
    "part_of",
    "run_symbol",
    "run_view",
    "start_run",
    "status_url",
    "update_run",
]
