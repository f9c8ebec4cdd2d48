"""The bodies of a run's activities, each taking and returning a typed message: plan (snapshot
the bars, cut the work), chunk (run one chunk), evaluate (one walk-forward window) and failed
(record why a run failed). The fan-in (aggregate) is in `fanin`."""

from __future__ import annotations

import io
import logging
import os
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from shared.backtest import (
    evaluate_window,
    plan_chunks,
    plan_walk_forward,
    run_chunk,
)
from shared.backtest.runs.data import (
    PARQUET,
    chunks_prefix,
    load_snapshot,
    read_bars,
    results_store,
    snapshot_blob,
)
from shared.backtest.runs.documents import now_iso, update_run
from shared.backtest.runs.fanin import aggregate_run, sweep_of
from shared.backtest.runs.messages import (
    AggregateTask,
    Best,
    ChunkItem,
    ChunkRange,
    ChunkSummary,
    ChunkTask,
    DataRef,
    EvaluateTask,
    Evaluation,
    FailedTask,
    InlineRun,
    Plan,
    RunJob,
    SweepJob,
    Window,
    WindowOutcome,
)
from shared.backtest.sweep import chunk_combinations
from shared.config import get_settings
from shared.errors import InvalidInput

log = logging.getLogger(__name__)


def plan_run(job: RunJob) -> Plan:
    """Snapshot each symbol's bars to Blob and split the work into chunks of about
    BACKTEST_CHUNK_TARGET_SECONDS; returns compact chunk descriptors (references only)."""
    settings = get_settings()
    started = time.perf_counter()
    request = job.request
    store = results_store()
    items: list[ChunkItem] = []
    evaluations: list[Evaluation] = []
    data: dict[str, DataRef] = {}
    target = settings.backtest_chunk_target_seconds
    for symbol in request.symbols:
        bars = read_bars(symbol, request.interval, request.start, request.end)
        if len(bars) == 0:
            raise InvalidInput(f"no {request.interval} bars for {symbol} in the requested range")
        name = snapshot_blob(job.run_id, symbol)
        store.put(name, bars.to_parquet(), content_type=PARQUET)
        data[symbol] = DataRef(symbol=symbol, blob=name, bars=len(bars))
        wf = request.walk_forward
        if wf is None:
            for chunk in plan_chunks(request.spec, len(bars), target):
                items.append(ChunkItem(id=len(items), symbol=symbol, chunk=ChunkRange.of(chunk)))
            continue
        windows = plan_walk_forward(
            len(bars),
            train_bars=wf.train_bars,
            test_bars=wf.test_bars,
            step_bars=wf.step_bars,
            anchored=wf.anchored,
        )
        if not windows:
            raise InvalidInput(
                f"{symbol} has {len(bars)} bars, too few for one walk-forward window"
            )
        for window in windows:
            train = window.train_stop - window.train_start
            for chunk in plan_chunks(request.spec, train, target):
                items.append(
                    ChunkItem(
                        id=len(items),
                        symbol=symbol,
                        chunk=ChunkRange.of(chunk),
                        window=Window.of(window),
                    )
                )
            evaluations.append(Evaluation(symbol=symbol, window=Window.of(window)))
    update_run(
        job.account_id,
        job.run_id,
        status="Running",
        startedAt=now_iso(),
        chunkStats={"total": len(items), "done": 0},
    )
    plan = Plan(
        data=data,
        items=items,
        evaluations=evaluations,
        max_chunks_per_orchestration=settings.backtest_max_chunks_per_orchestration,
        plan_seconds=time.perf_counter() - started,
    )
    if settings.backtest_inline_small_sweeps and len(items) == 1 and not evaluations:
        plan.done = _run_inline(job, plan)
    return plan


def _run_inline(job: RunJob, plan: Plan) -> InlineRun | None:
    """A sweep of one chunk, run here to its end: its chunk (`run_chunk_item`) and its fan-in
    (`aggregate_run`), as the chunk and aggregate activities would, saving two activity
    round trips (most of a small sweep's wall time). If either fails, None: the
    orchestration then runs them as activities, with their retries and error messages."""
    try:
        chunk = run_chunk_item(SweepJob.of(job, plan.data).chunk_task(plan.items[0]))
        task = AggregateTask.of(job, plan, [chunk])
        return InlineRun(chunk=chunk, output=aggregate_run(task))
    except Exception:
        log.warning("run %s: the inline chunk failed; it runs as an activity", job.run_id)
        return None


def chunk_blob(run_id: str, item: ChunkItem) -> str:
    part = f"w{item.window.index:03d}/" if item.window else ""
    return f"{chunks_prefix(run_id, item.symbol)}{part}{item.chunk.index:05d}.parquet"


def run_chunk_item(task: ChunkTask) -> ChunkSummary:
    """Run one chunk, store its metrics as Parquet, return a compact summary."""
    _inject_fault(task)
    item = task.item
    bars = load_snapshot(task.data.blob, task.data.symbol)
    if item.window:
        bars = bars.slice(item.window.train_start, item.window.train_stop)
    chunk = item.chunk.chunk()
    combos = chunk_combinations(task.spec, chunk)  # its own combinations only
    result = run_chunk(bars, task.spec, task.execution, chunk, combos)
    name = chunk_blob(task.run_id, item)
    results_store().put(name, result.to_parquet(), content_type=PARQUET)
    best = result.best(task.metric)
    summary = ChunkSummary(
        id=item.id,
        symbol=item.symbol,
        window=item.window.index if item.window else None,
        ref=name,
        combinations=len(chunk),
        seconds=result.seconds,
    )
    if best is not None:
        combo, value = best
        summary.best = Best(
            symbol=item.symbol,
            combo=combo,
            params=combos[combo - chunk.start],
            value=value,
            ruined=result.is_ruined(combo),
        )
    return summary


def _inject_fault(task: ChunkTask) -> None:
    """BACKTEST_FAULT_INJECTION (local/ci only): `once:N`, `always:N` (chunk id N fails its
    first / every attempt) and `delay:S` (every chunk sleeps S seconds)."""
    settings = get_settings()
    spec = settings.backtest_fault_injection
    if not spec or settings.environment not in ("local", "ci"):
        return
    item_id = task.item.id
    for rule in (part.strip() for part in spec.split(",") if part.strip()):
        kind, _, value = rule.partition(":")
        if kind == "delay":
            time.sleep(float(value))
        elif kind == "always" and int(value) == item_id:
            raise RuntimeError(f"injected fault: chunk {item_id} always fails")
        elif kind == "once" and int(value) == item_id:
            marker = Path(settings.local_data_dir) / "faults" / f"{task.run_id}-{item_id}"
            if not marker.exists():
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.write_text(str(os.getpid()))
                raise RuntimeError(f"injected fault: chunk {item_id} fails once")


def evaluate_item(task: EvaluateTask) -> WindowOutcome:
    """Walk-forward: pick the window's in-sample winner from its chunks, run it out of sample,
    store its test-period equity curve as Parquet; return the compact window result."""
    window = task.window.window()
    symbol = task.data.symbol
    bars = load_snapshot(task.data.blob, symbol)
    n_train = window.train_stop - window.train_start
    in_sample = sweep_of(task.spec, task.execution, symbol, task.refs, n_train)
    result = evaluate_window(bars, task.spec, task.execution, window, in_sample, task.metric)
    name = f"runs/{task.run_id}/walkforward/{symbol}/w{window.index:03d}.parquet"
    equity = result.equity if result.equity is not None else np.array([], dtype=np.float64)
    sink = io.BytesIO()
    pq.write_table(pa.table({"equity": pa.array(equity, type=pa.float64())}), sink)
    results_store().put(name, sink.getvalue(), content_type=PARQUET)
    found = result.to_dict()
    return WindowOutcome(
        symbol=symbol,
        equity_ref=name,
        window=task.window,
        params=found["params"],
        in_sample=found["in_sample"],
        out_of_sample=found["out_of_sample"],
    )


def finish_failed(task: FailedTask) -> None:
    update_run(
        task.account_id, task.run_id, status="Failed", completedAt=now_iso(), error=task.error
    )
