"""The fan-in: each symbol's chunk results merged into its sweep (or its walk-forward windows
stitched), the result files written, the overall leaderboard ranked, the run document
finished."""

from __future__ import annotations

import io
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from shared.backtest import (
    BarsFrame,
    ChunkResult,
    ExecutionSettings,
    StrategySpec,
    SweepResult,
    WindowResult,
    aggregate,
    combine_windows,
    write_results,
)
from shared.backtest.chart import equity_chart
from shared.backtest.metrics import json_metric_keys
from shared.backtest.results import ResultRefs, result_refs
from shared.backtest.runs.data import (
    PARQUET,
    chunks_prefix,
    load_snapshot,
    results_prefix,
    results_store,
    snapshot_blob,
)
from shared.backtest.runs.documents import now_iso, update_run
from shared.backtest.runs.messages import (
    AggregateTask,
    ChunkStats,
    RunOutput,
    WindowOutcome,
    wire,
)
from shared.backtest.runs.request import BacktestRequest
from shared.backtest.runs.views import StoredRun, stored
from shared.backtest.sweep import rank_key
from shared.config import get_settings

CHUNK_READERS = 4
"""Threads reading a sweep's chunk results in the fan-in."""


def sweep_of(
    spec: StrategySpec, execution: ExecutionSettings, symbol: str, refs: list[str], n_bars: int
) -> SweepResult:
    """The sweep merged from the chunk results stored at `refs`. The chunks are read by a
    few threads (Blob reads and Parquet decoding release the GIL): reading them one by one
    was most of a large sweep's fan-in, the serial tail after the fan-out."""
    store = results_store()

    def read(ref: str) -> ChunkResult:
        return ChunkResult.from_parquet(store.get(ref))

    if len(refs) < 2:
        chunks = [read(ref) for ref in refs]
    else:
        with ThreadPoolExecutor(max_workers=min(len(refs), CHUNK_READERS)) as pool:
            chunks = list(pool.map(read, refs))
    return aggregate(spec, execution, n_bars, chunks, symbol=symbol)


def aggregate_run(task: AggregateTask) -> RunOutput:
    """Fan-in: merge each symbol's chunk results, write leaderboard/tables/chart, finish the
    run document. Returns the compact summary the orchestration outputs."""
    started = time.perf_counter()
    request = task.request
    run_id = task.run_id
    store = results_store()
    symbols: dict[str, Any] = {}
    for symbol, ref in task.data.items():
        bars = load_snapshot(ref.blob, symbol)
        if request.walk_forward is not None:
            windows = [e for e in task.evaluations if e.symbol == symbol]
            symbols[symbol] = _walk_forward_results(request, run_id, symbol, bars, windows)
            continue
        refs = [c.ref for c in task.chunks if c.symbol == symbol]
        sweep = sweep_of(request.spec, request.execution, symbol, refs, len(bars))
        prefix = results_prefix(run_id, symbol)
        if get_settings().backtest_lazy_files:  # written by the first results request
            refs_out = result_refs(sweep, bars, run_id, metric=request.metric_column, prefix=prefix)
        else:
            refs_out = _write_files(request, sweep, bars, run_id)
        leaderboard = sweep.leaderboard(request.metric_column, request.top_n)
        symbols[symbol] = {
            "digest": sweep.digest(),
            "combinations": len(sweep),
            "leaderboard": [
                {"symbol": symbol, **json_metric_keys(row)}
                for row in json.loads(leaderboard.to_json(orient="records"))
            ],
            "files": refs_out.to_dict(),
        }
    seconds = [c.seconds for c in task.chunks]
    stats = ChunkStats(
        total=len(seconds),
        done=len(seconds),
        mean_seconds=sum(seconds) / len(seconds) if seconds else 0.0,
        max_seconds=max(seconds, default=0.0),
        sum_seconds=sum(seconds),
    )
    timings = {
        "planSeconds": task.plan_seconds,
        "chunkSeconds": sum(seconds),
        "aggregateSeconds": time.perf_counter() - started,
    }
    summary = {
        "runId": run_id,
        "metric": request.metric,
        "leaderboard": overall_leaderboard(symbols, request.metric, request.top_n),
        "symbols": symbols,
        "chunkStats": wire(stats),
    }
    summary_name = f"runs/{run_id}/summary.json"
    store.put(
        summary_name, json.dumps(summary, default=float).encode(), content_type="application/json"
    )
    compact = _compact(symbols)
    update_run(
        task.account_id,
        run_id,
        status="Completed",
        completedAt=now_iso(),
        chunkStats=wire(stats),
        timings=timings,
        results={"summary": summary_name, "symbols": compact},
    )
    return RunOutput(summary=summary_name, symbols=compact, chunk_stats=stats)


def _write_files(
    request: BacktestRequest, sweep: SweepResult, bars: BarsFrame, run_id: str
) -> ResultRefs:
    """Write a sweep's result files where its URLs point (`results_prefix`); their refs."""
    return write_results(
        sweep,
        bars,
        results_store(),
        run_id,
        top_n=request.top_n,
        metric=request.metric_column,
        prefix=results_prefix(run_id, sweep.symbol),
    )


def missing_files(doc: StoredRun) -> list[str]:
    """The symbols of a completed sweep whose result files are not written yet: their
    chart.png, written last, is missing (BACKTEST_LAZY_FILES). Walk-forward runs write theirs
    in the aggregate and runs that have not completed have none: both miss nothing."""
    request = BacktestRequest.model_validate(stored(doc, "request"))
    if request.walk_forward is not None or stored(doc, "status") != "Completed":
        return []
    store = results_store()
    charts = {s: f"{results_prefix(doc['id'], s)}/chart.png" for s in request.symbols}
    return [s for s, chart in charts.items() if not store.exists(chart)]


def write_result_files(doc: StoredRun) -> int:
    """Write the files behind a completed sweep's result URLs that its aggregate left for
    the first results request (BACKTEST_LAZY_FILES): each symbol's chunks merged again, then
    `write_results`, byte for byte what the aggregate would have written. Idempotent: only
    the `missing_files` symbols are written, and two callers at once write the same bytes
    (`shared.backtest.runs.result_files` makes that once per run at a time). Returns how
    many symbols it wrote."""
    request = BacktestRequest.model_validate(stored(doc, "request"))
    store = results_store()
    run_id = doc["id"]
    written = 0
    for symbol in missing_files(doc):
        bars = load_snapshot(snapshot_blob(run_id, symbol), symbol)
        refs = [info.name for info in store.list(chunks_prefix(run_id, symbol))]
        sweep = sweep_of(request.spec, request.execution, symbol, refs, len(bars))
        _write_files(request, sweep, bars, run_id)
        written += 1
    return written


def _window_result(item: WindowOutcome) -> WindowResult:
    table = pq.read_table(io.BytesIO(results_store().get(item.equity_ref)))

    def metrics(values: dict[str, float | None]) -> dict[str, float]:
        return {k: float("nan") if v is None else float(v) for k, v in values.items()}

    return WindowResult(
        item.window.window(),
        dict(item.params),
        metrics(item.in_sample),
        metrics(item.out_of_sample),
        table["equity"].to_numpy(),
    )


def _walk_forward_results(
    request: BacktestRequest,
    run_id: str,
    symbol: str,
    bars: BarsFrame,
    windows: list[WindowOutcome],
) -> dict[str, Any]:
    """A symbol's walk-forward results: its windows, the stitched out-of-sample metrics, a
    leaderboard of each window's chosen combination by its out-of-sample metrics (ranked by
    `rank_key`, ruined runs last) and files like a sweep's under `runs/{id}/{symbol}/`:
    leaderboard.json, metrics.parquet (every window), equity.parquet (the stitched
    out-of-sample equity and drawdown) and chart.png."""
    store = results_store()
    combined = combine_windows([_window_result(w) for w in windows])
    rows = [
        {
            "symbol": symbol,
            "window": w.window.index,
            **w.params,
            **json_metric_keys(w.out_of_sample),
        }
        for w in windows
    ]
    leaderboard = ranked(rows, request.metric, request.top_n)
    base = results_prefix(run_id, symbol)
    files = {
        "leaderboard": f"{base}/leaderboard.json",
        "metrics": f"{base}/metrics.parquet",
        "equity": f"{base}/equity.parquet",
        "chart": f"{base}/chart.png",
    }
    board = {
        "strategy": request.spec.strategy,
        "symbol": symbol,
        "metric": request.metric,
        "windows": len(windows),
        "rows": leaderboard,
    }
    store.put(files["leaderboard"], json.dumps(board).encode(), content_type="application/json")
    table = pd.DataFrame(
        [{**w.window.window().to_dict(), **w.params, **w.out_of_sample} for w in windows]
    )
    store.put(files["metrics"], _parquet(table), content_type=PARQUET)
    equity = combined.equity if combined.equity is not None else np.ones(0)
    positions = combined.positions if combined.positions is not None else np.zeros(0, int)
    peak = np.maximum.accumulate(equity) if len(equity) else equity
    curve = pd.DataFrame(
        {"equity": equity, "drawdown_pct": (equity / peak - 1.0) * 100.0},
        index=pd.DatetimeIndex(bars.index()[positions], name="ts"),
    )
    store.put(files["equity"], _parquet(curve.reset_index()), content_type=PARQUET)
    title = f"{symbol} {request.spec.strategy}: walk-forward out of sample ({len(windows)} windows)"
    chart = equity_chart([("out of sample", curve)], title)
    store.put(files["chart"], chart, content_type="image/png")
    return {
        "walkForward": [_window_json(w) for w in windows],
        "outOfSample": json_metric_keys({k: _finite(v) for k, v in combined.out_of_sample.items()}),
        "leaderboard": leaderboard,
        "files": files,
    }


def _parquet(frame: pd.DataFrame) -> bytes:
    sink = io.BytesIO()
    frame.to_parquet(sink, index=False)
    return sink.getvalue()


def overall_leaderboard(symbols: dict[str, Any], metric: str, top_n: int) -> list[dict[str, Any]]:
    """The best `top_n` rows across every symbol's leaderboard by `metric` (camelCase), best
    first; ruined rows after surviving ones, rows without a value last; ties keep symbol then
    rank order."""
    rows = [row for item in symbols.values() for row in item.get("leaderboard", [])]
    return ranked(rows, metric, top_n)


def ranked(rows: list[dict[str, Any]], metric: str, top_n: int) -> list[dict[str, Any]]:
    """The best `top_n` JSON rows by `metric` (`rank_key`: ruined after surviving, rows
    without a value last; ties keep their order)."""
    return sorted(rows, key=lambda row: rank_key(row.get(metric), row.get("ruined")))[:top_n]


def _window_json(item: WindowOutcome) -> dict[str, Any]:
    """A walk-forward window's result as the API shows it: camelCase keys and metric names."""
    return {
        "symbol": item.symbol,
        "window": wire(item.window),
        "params": item.params,
        "inSample": json_metric_keys(item.in_sample),
        "outOfSample": json_metric_keys(item.out_of_sample),
        "equityRef": item.equity_ref,
    }


def _compact(symbols: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for symbol, item in symbols.items():
        best = item["leaderboard"][0] if item["leaderboard"] else None
        if "walkForward" in item:
            out[symbol] = {
                "windows": len(item["walkForward"]),
                "outOfSample": item["outOfSample"],
                "best": best,
                "files": item["files"],
            }
        else:
            out[symbol] = {"digest": item["digest"], "best": best, "files": item["files"]}
    return out


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
