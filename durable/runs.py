"""Backtest runs: the request, planning against the lake, chunk execution and fan-in, and the
run document. No Functions imports: orchestrator activities and the CLI call these."""

from __future__ import annotations

import io
import json
import os
import time
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field, StrictInt, field_validator, model_validator
from pydantic.alias_generators import to_camel

import shared.backtest.strategies.builtin  # noqa: F401  (the registry at start-up, not on a request)
from shared.api_model import ApiModel
from shared.backtest import (
    BarsFrame,
    ChunkResult,
    ExecutionSettings,
    StrategySpec,
    SweepResult,
    WalkForwardWindow,
    WindowResult,
    aggregate,
    combine_windows,
    evaluate_window,
    plan_chunks,
    plan_walk_forward,
    run_chunk,
    write_results,
)
from shared.backtest.metrics import METRIC_JSON_NAMES, json_metric_keys, metric_column
from shared.backtest.results import result_refs
from shared.backtest.spec import check_number
from shared.backtest.strategies import get_strategy
from shared.backtest.strategies.base import not_enough_bars
from shared.backtest.sweep import Chunk, rank_key
from shared.config import Settings, get_settings
from shared.errors import GridTooLarge, InvalidInput, NotEnoughBars, NotFound
from shared.ingest.query import lake_bars
from shared.market.models import Interval
from shared.market.symbols import parse_symbol
from shared.storage.blob import BlobStore
from shared.storage.documents import DocumentNotFound, DocumentStore, PatchOp, StaleEtag
from shared.storage.factory import blob_store, document_store

RUNS_CONTAINER = "backtests"
RunStatus = Literal["Pending", "Running", "Completed", "Failed", "Terminated"]
ENDED = frozenset({"Completed", "Failed", "Terminated"})
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2200, 12, 31)
MAX_WINDOW_BARS = 10_000_000


def _numeric_fields(model: type[ExecutionSettings]) -> frozenset[str]:
    """Fields of `model` that hold numbers (their JSON names and Python names)."""
    names: set[str] = set()
    for name, field in model.model_fields.items():
        kinds = {field.annotation, *get_args(field.annotation)}
        if kinds & {int, float} and bool not in kinds:
            names.update({name, field.alias or name})
    return frozenset(names)


_NUMERIC_EXECUTION_FIELDS = _numeric_fields(ExecutionSettings)


class WalkForwardRequest(ApiModel):
    """Rolling windows: optimise on `trainBars`, evaluate the winner on the next `testBars`."""

    train_bars: StrictInt = Field(
        ge=20, le=MAX_WINDOW_BARS, description="In-sample bars per window."
    )
    test_bars: StrictInt = Field(
        ge=5, le=MAX_WINDOW_BARS, description="Out-of-sample bars per window."
    )
    step_bars: StrictInt | None = Field(
        None, ge=1, le=MAX_WINDOW_BARS, description="Window step; defaults to testBars."
    )
    anchored: bool = Field(False, description="Every training window starts at the first bar.")


class BacktestRequest(ApiModel):
    """POST /api/backtests: what to sweep, on which bars, with which execution model."""

    symbols: list[str] = Field(min_length=1, max_length=20, description="Symbols to test.")
    interval: Interval = Field("1d", description="Bar interval in the lake.")
    start: date | None = Field(
        None, description=f"First day (inclusive), {FIRST_DAY}..{LAST_DAY}; default all bars."
    )
    end: date | None = Field(
        None, description=f"Last day (inclusive), {FIRST_DAY}..{LAST_DAY}; default all bars."
    )
    strategy: StrategySpec | None = Field(
        None, description="Strategy name, grid and fixed parameters (or name a saved one)."
    )
    strategy_id: str | None = Field(
        None, max_length=128, description="A saved strategy (see /api/strategies) to run."
    )
    execution: ExecutionSettings = Field(default_factory=ExecutionSettings)
    metric: str = Field(
        "sharpeRatio",
        description="Leaderboard metric, camelCase (`sharpeRatio`); the snake_case name "
        "(`sharpe_ratio`) is accepted too.",
    )
    top_n: StrictInt = Field(10, ge=1, le=100, description="Leaderboard size.")
    walk_forward: WalkForwardRequest | None = None
    strategy_version: StrictInt | None = Field(
        None, ge=1, le=10**9, description="Version of the saved strategy; default its latest."
    )

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: list[str]) -> list[str]:
        cleaned = [parse_symbol(s).text for s in value if s.strip()]
        if not cleaned:
            raise ValueError("name at least one symbol")
        return list(dict.fromkeys(cleaned))

    @field_validator("start", "end")
    @classmethod
    def _day(cls, value: date | None) -> date | None:
        if value is not None and not FIRST_DAY <= value <= LAST_DAY:
            raise ValueError(f"{value} is outside {FIRST_DAY}..{LAST_DAY}")
        return value

    @field_validator("execution", mode="before")
    @classmethod
    def _execution_numbers(cls, value: Any) -> Any:
        """Every number of `execution` a finite JSON number (no `true`, NaN or 1e309)."""
        if not isinstance(value, dict):
            return value
        checked = dict(value)
        for key, item in value.items():
            if key in _NUMERIC_EXECUTION_FIELDS and item is not None:
                checked[key] = check_number(item, f"execution.{key}")
        return checked

    @model_validator(mode="after")
    def _one_strategy(self) -> BacktestRequest:
        if self.strategy is None and self.strategy_id is None:
            raise ValueError("give either 'strategy' (a spec) or 'strategyId' (a saved one)")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self

    @property
    def spec(self) -> StrategySpec:
        """The strategy to run (resolved from `strategyId` before the run starts)."""
        if self.strategy is None:
            raise InvalidInput(f"strategy {self.strategy_id!r} was not resolved")
        return self.strategy

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        return METRIC_JSON_NAMES[metric_column(value)]

    @property
    def metric_column(self) -> str:
        """The leaderboard metric's snake_case name, as the engine and Parquet columns use."""
        return metric_column(self.metric)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ------------------------------------------------------------------------------ validation
def validate_request(request: BacktestRequest, settings: Settings | None = None) -> int:
    """Check what a 4xx should catch before a run starts; returns the combination count.

    The spec's grid was sized and capped when it was parsed (`BACKTEST_MAX_AXIS_VALUES`,
    `BACKTEST_MAX_GRID_SIZE`) and its values checked against the strategy's declaration;
    here: an empty grid, no valid combination (`NoValidCombination`), more valid combinations
    times symbols than `BACKTEST_MAX_COMBINATIONS` (`GridTooLarge`), a range without bars,
    and a combination whose warm-up does not fit a symbol's bars or a walk-forward training
    window (`NotEnoughBars`). Every error is an `InvalidInput` naming the fix."""
    settings = settings or get_settings()
    spec = request.spec
    strategy = get_strategy(spec.strategy)
    if not spec.grid:
        raise InvalidInput(
            f"the grid is empty; sweep at least one parameter of {spec.strategy!r} "
            '(e.g. "grid": {"fast": "5:50:5"})'
        )
    if any(len(values) == 0 for values in spec.grid.values()):
        raise InvalidInput("the grid has an axis without values; give each parameter a value")
    valid = strategy.count_combinations(spec)  # counted on arrays: nothing built yet
    total = valid * len(request.symbols)
    if total > settings.backtest_max_combinations:
        cap = settings.backtest_max_combinations
        raise GridTooLarge(
            f"the grid has {total} combinations ({valid} valid x {len(request.symbols)} "
            f"symbol(s)), more than BACKTEST_MAX_COMBINATIONS={cap}; narrow the ranges or "
            "raise the setting"
        )
    combos = spec.combinations()  # NoValidCombination if none
    worst = max(combos, key=strategy.bars_needed)
    needed = strategy.bars_needed(worst)
    wf = request.walk_forward
    for symbol in request.symbols:
        bars = read_bars(symbol, request.interval, request.start, request.end)
        if len(bars) == 0:
            raise InvalidInput(
                f"no {request.interval} bars for {symbol} in "
                f"{request.start or 'the beginning'}..{request.end or 'now'}; ingest them "
                "first or choose a range with data"
            )
        if wf is not None and wf.train_bars >= len(bars):
            raise InvalidInput(
                f"{symbol} has {len(bars)} {request.interval} bars in the range, too few for one "
                f"walk-forward window of trainBars={wf.train_bars}; lower trainBars or widen "
                "the range"
            )
        if wf is not None and needed > wf.train_bars:
            raise NotEnoughBars(
                f"{not_enough_bars(strategy, worst, needed, bars)}, and its walk-forward "
                f"training windows have trainBars={wf.train_bars}; raise trainBars or shorten "
                "the windows"
            )
        if needed > len(bars):
            raise NotEnoughBars(
                f"{not_enough_bars(strategy, worst, needed, bars)}; widen the range or shorten "
                "the windows"
            )
    return len(combos)


# ------------------------------------------------------------------------------ data
def read_bars(symbol: str, interval: str, start: date | None, end: date | None) -> BarsFrame:
    """The lake's bars (dataset "bars", written by ingestion) of one series in [start, end]."""
    return lake_bars(symbol, interval, start, end)


def results_store() -> BlobStore:
    return blob_store(get_settings().results_container)


@lru_cache(maxsize=8)
def _cached_bars(name: str, etag: str) -> BarsFrame:
    table = pq.read_table(io.BytesIO(results_store().get(name)))

    def column(name: str) -> np.ndarray:
        return np.ascontiguousarray(table[name].to_numpy(), dtype=np.float64)

    ts = np.ascontiguousarray(table["ts"].cast(pa.int64()).to_numpy())
    return BarsFrame(
        ts, column("open"), column("high"), column("low"), column("close"), column("volume")
    )


def load_snapshot(ref: dict[str, Any]) -> BarsFrame:
    """The bars a data reference names (a Parquet snapshot; cached per worker process)."""
    store = results_store()
    bars = _cached_bars(ref["blob"], store.info(ref["blob"]).etag)
    return BarsFrame(
        bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume, ref["symbol"]
    )


# ------------------------------------------------------------------------------ run documents
def run_document(
    run_id: str, account_id: str, request: BacktestRequest, combinations: int
) -> dict[str, Any]:
    return {
        "id": run_id,
        "pk": account_id,
        "runId": run_id,
        "accountId": account_id,
        "status": "Pending",
        "request": request.model_dump(mode="json", by_alias=True),
        "strategy": request.spec.strategy,
        "strategyId": request.strategy_id,
        "strategyVersion": request.strategy_version,
        "symbols": request.symbols,
        "combinations": combinations * len(request.symbols),
        "createdAt": now_iso(),
        "startedAt": None,
        "completedAt": None,
        "timings": {},
        "chunkStats": {},
        "results": None,
        "error": None,
    }


def update_run(account_id: str, run_id: str, **fields: Any) -> None:
    """Set top-level fields of a run document. A run that already ended keeps its status
    (a late activity cannot turn a cancelled run back to Running); a missing document is
    left alone."""
    store: DocumentStore = document_store()
    for _ in range(5):
        try:
            doc = store.read(RUNS_CONTAINER, run_id, account_id)
        except DocumentNotFound:
            return
        changes = dict(fields)
        if doc.get("status") in ENDED:
            changes = {
                k: v for k, v in changes.items() if k not in ("status", "completedAt", "error")
            }
        if not changes:
            return
        try:
            store.patch(
                RUNS_CONTAINER,
                run_id,
                account_id,
                [PatchOp("set", f"/{k}", v) for k, v in changes.items()],
                if_match=doc["_etag"],
            )
            return
        except StaleEtag:
            continue
        except DocumentNotFound:
            return


def read_run(account_id: str, run_id: str) -> dict[str, Any]:
    try:
        return document_store().read(RUNS_CONTAINER, run_id, account_id)
    except DocumentNotFound:
        raise NotFound(f"no backtest run {run_id!r} in this account") from None


# ------------------------------------------------------------------------------ activities' work
def plan_run(job: dict[str, Any]) -> dict[str, Any]:
    """Snapshot each symbol's bars to Blob and split the work into chunks of about
    BACKTEST_CHUNK_TARGET_SECONDS; returns compact chunk descriptors (references only)."""
    settings = get_settings()
    started = time.perf_counter()
    request = BacktestRequest.model_validate(job["request"])
    run_id = job["runId"]
    store = results_store()
    items: list[dict[str, Any]] = []
    evaluations: list[dict[str, Any]] = []
    data: dict[str, dict[str, Any]] = {}
    for symbol in request.symbols:
        bars = read_bars(symbol, request.interval, request.start, request.end)
        if len(bars) == 0:
            raise InvalidInput(f"no {request.interval} bars for {symbol} in the requested range")
        name = f"runs/{run_id}/data/{symbol}.parquet"
        store.put(name, bars.to_parquet(), content_type="application/vnd.apache.parquet")
        ref = {"symbol": symbol, "blob": name, "bars": len(bars)}
        data[symbol] = ref
        if request.walk_forward is None:
            for chunk in plan_chunks(
                request.spec, len(bars), settings.backtest_chunk_target_seconds
            ):
                items.append({"symbol": symbol, "chunk": chunk.to_dict(), "window": None})
            continue
        wf = request.walk_forward
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
            for chunk in plan_chunks(request.spec, train, settings.backtest_chunk_target_seconds):
                items.append(
                    {"symbol": symbol, "chunk": chunk.to_dict(), "window": window.to_dict()}
                )
            evaluations.append({"symbol": symbol, "window": window.to_dict()})
    for index, item in enumerate(items):
        item["id"] = index
    update_run(
        job["accountId"],
        run_id,
        status="Running",
        startedAt=now_iso(),
        chunkStats={"total": len(items), "done": 0},
    )
    return {
        "data": data,
        "items": items,
        "evaluations": evaluations,
        "maxChunksPerOrchestration": settings.backtest_max_chunks_per_orchestration,
        "planSeconds": time.perf_counter() - started,
    }


def chunk_blob(run_id: str, item: dict[str, Any]) -> str:
    window = item.get("window")
    part = f"w{window['index']:03d}/" if window else ""
    return f"runs/{run_id}/chunks/{item['symbol']}/{part}{item['chunk']['index']:05d}.parquet"


def run_chunk_item(job: dict[str, Any]) -> dict[str, Any]:
    """Run one chunk, store its metrics as Parquet, return a compact summary."""
    _inject_fault(job)
    request = BacktestRequest.model_validate(job["request"])
    item = job["item"]
    bars = load_snapshot(job["data"])
    window = item.get("window")
    if window:
        bars = bars.slice(window["train_start"], window["train_stop"])
    chunk = Chunk.from_dict(item["chunk"])
    result = run_chunk(bars, request.spec, request.execution, chunk)
    name = chunk_blob(job["runId"], item)
    results_store().put(name, result.to_parquet(), content_type="application/vnd.apache.parquet")
    best = result.best(request.metric_column)
    summary: dict[str, Any] = {
        "id": item["id"],
        "symbol": item["symbol"],
        "window": window["index"] if window else None,
        "ref": name,
        "combinations": len(chunk),
        "seconds": result.seconds,
        "best": None,
    }
    if best is not None:
        combo, value = best
        summary["best"] = {
            "symbol": item["symbol"],
            "combo": combo,
            "params": request.spec.combinations()[combo],
            "value": value,
            "ruined": result.is_ruined(combo),
        }
    return summary


def _inject_fault(job: dict[str, Any]) -> None:
    """BACKTEST_FAULT_INJECTION (local/ci only): `once:N`, `always:N` (chunk id N fails its
    first / every attempt) and `delay:S` (every chunk sleeps S seconds)."""
    settings = get_settings()
    spec = settings.backtest_fault_injection
    if not spec or settings.environment not in ("local", "ci"):
        return
    item_id = job["item"]["id"]
    for rule in (part.strip() for part in spec.split(",") if part.strip()):
        kind, _, value = rule.partition(":")
        if kind == "delay":
            time.sleep(float(value))
        elif kind == "always" and int(value) == item_id:
            raise RuntimeError(f"injected fault: chunk {item_id} always fails")
        elif kind == "once" and int(value) == item_id:
            marker = Path(settings.local_data_dir) / "faults" / f"{job['runId']}-{item_id}"
            if not marker.exists():
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.write_text(str(os.getpid()))
                raise RuntimeError(f"injected fault: chunk {item_id} fails once")


def _chunk_results(refs: list[str]) -> list[ChunkResult]:
    store = results_store()
    return [ChunkResult.from_parquet(store.get(ref)) for ref in refs]


def _sweep(job: dict[str, Any], symbol: str, refs: list[str], n_bars: int) -> SweepResult:
    request = BacktestRequest.model_validate(job["request"])
    return aggregate(request.spec, request.execution, n_bars, _chunk_results(refs), symbol=symbol)


def evaluate_item(job: dict[str, Any]) -> dict[str, Any]:
    """Walk-forward: pick the window's in-sample winner from its chunks, run it out of sample,
    store its test-period equity curve as Parquet; return the compact window result."""
    request = BacktestRequest.model_validate(job["request"])
    window = WalkForwardWindow.from_dict(job["window"])
    symbol = job["data"]["symbol"]
    bars = load_snapshot(job["data"])
    n_train = window.train_stop - window.train_start
    in_sample = _sweep(job, symbol, job["refs"], n_train)
    result = evaluate_window(
        bars, request.spec, request.execution, window, in_sample, request.metric_column
    )
    name = f"runs/{job['runId']}/walkforward/{symbol}/w{window.index:03d}.parquet"
    equity = result.equity if result.equity is not None else np.array([], dtype=np.float64)
    sink = io.BytesIO()
    pq.write_table(pa.table({"equity": pa.array(equity, type=pa.float64())}), sink)
    results_store().put(name, sink.getvalue(), content_type="application/vnd.apache.parquet")
    return {"symbol": symbol, "equityRef": name, **result.to_dict()}


def _window_result(item: dict[str, Any]) -> WindowResult:
    table = pq.read_table(io.BytesIO(results_store().get(item["equityRef"])))

    def metrics(values: dict[str, Any]) -> dict[str, float]:
        return {k: float("nan") if v is None else float(v) for k, v in values.items()}

    return WindowResult(
        WalkForwardWindow.from_dict(item["window"]),
        item["params"],
        metrics(item["in_sample"]),
        metrics(item["out_of_sample"]),
        table["equity"].to_numpy(),
    )


def aggregate_run(job: dict[str, Any]) -> dict[str, Any]:
    """Fan-in: merge each symbol's chunk results, write leaderboard/tables/chart, finish the
    run document. Returns the compact summary the orchestration outputs."""
    started = time.perf_counter()
    request = BacktestRequest.model_validate(job["request"])
    run_id = job["runId"]
    store = results_store()
    chunks: list[dict[str, Any]] = job["chunks"]
    symbols: dict[str, Any] = {}
    for symbol, ref in job["data"].items():
        bars = load_snapshot(ref)
        if request.walk_forward is not None:
            windows = [e for e in job.get("evaluations", []) if e["symbol"] == symbol]
            symbols[symbol] = _walk_forward_results(request, run_id, symbol, bars, windows)
            continue
        refs = [c["ref"] for c in chunks if c["symbol"] == symbol]
        sweep = _sweep(job, symbol, refs, len(bars))
        prefix = f"runs/{run_id}/{symbol}"
        if get_settings().backtest_lazy_files:  # written on the first results request
            refs_out = result_refs(sweep, bars, run_id, metric=request.metric_column, prefix=prefix)
        else:
            refs_out = write_results(
                sweep,
                bars,
                store,
                run_id,
                top_n=request.top_n,
                metric=request.metric_column,
                prefix=prefix,
            )
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
    seconds = [float(c["seconds"]) for c in chunks]
    stats = {
        "total": len(chunks),
        "done": len(chunks),
        "meanSeconds": sum(seconds) / len(seconds) if seconds else 0.0,
        "maxSeconds": max(seconds, default=0.0),
        "sumSeconds": sum(seconds),
    }
    timings = {
        "planSeconds": job.get("planSeconds", 0.0),
        "chunkSeconds": sum(seconds),
        "aggregateSeconds": time.perf_counter() - started,
    }
    summary = {
        "runId": run_id,
        "metric": request.metric,
        "leaderboard": _overall_leaderboard(symbols, request.metric, request.top_n),
        "symbols": symbols,
        "chunkStats": stats,
    }
    summary_name = f"runs/{run_id}/summary.json"
    store.put(
        summary_name, json.dumps(summary, default=float).encode(), content_type="application/json"
    )
    update_run(
        job["accountId"],
        run_id,
        status="Completed",
        completedAt=now_iso(),
        chunkStats=stats,
        timings=timings,
        results={"summary": summary_name, "symbols": _compact(symbols)},
    )
    return {"summary": summary_name, "symbols": _compact(symbols), "chunkStats": stats}


def write_result_files(doc: dict[str, Any]) -> int:
    """Write the files behind a completed sweep's result URLs that its aggregate left for
    their first request (BACKTEST_LAZY_FILES): the chunks merged again, then
    `write_results`. Idempotent (a symbol whose chart.png, its last file, exists is
    skipped; two callers at once write the same bytes). Returns how many symbols it wrote."""
    request = BacktestRequest.model_validate(doc["request"])
    if request.walk_forward is not None or doc.get("status") != "Completed":
        return 0
    store = results_store()
    run_id = doc["id"]
    written = 0
    for symbol in request.symbols:
        base = f"runs/{run_id}/{symbol}"
        if store.exists(f"{base}/chart.png"):
            continue
        bars = load_snapshot({"symbol": symbol, "blob": f"runs/{run_id}/data/{symbol}.parquet"})
        refs = [info.name for info in store.list(f"runs/{run_id}/chunks/{symbol}/")]
        sweep = _sweep(doc, symbol, refs, len(bars))
        write_results(
            sweep,
            bars,
            store,
            run_id,
            top_n=request.top_n,
            metric=request.metric_column,
            prefix=base,
        )
        written += 1
    return written


def _walk_forward_results(
    request: BacktestRequest,
    run_id: str,
    symbol: str,
    bars: BarsFrame,
    windows: list[dict[str, Any]],
) -> dict[str, Any]:
    """A symbol's walk-forward results: its windows, the stitched out-of-sample metrics, a
    leaderboard of each window's chosen combination by its out-of-sample metrics (ranked by
    `rank_key`, ruined runs last) and files like a sweep's under `runs/{id}/{symbol}/`:
    leaderboard.json, metrics.parquet (every window), equity.parquet (the stitched
    out-of-sample equity and drawdown) and chart.png."""
    from shared.backtest.chart import equity_chart
    from shared.backtest.results import PARQUET

    store = results_store()
    combined = combine_windows([_window_result(w) for w in windows])
    rows = [
        {
            "symbol": symbol,
            "window": w["window"]["index"],
            **w["params"],
            **json_metric_keys(w["out_of_sample"]),
        }
        for w in windows
    ]
    leaderboard = _ranked(rows, request.metric, request.top_n)
    base = f"runs/{run_id}/{symbol}"
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
    table = pd.DataFrame([{**w["window"], **w["params"], **w["out_of_sample"]} for w in windows])
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


def _overall_leaderboard(symbols: dict[str, Any], metric: str, top_n: int) -> list[dict[str, Any]]:
    """The best `top_n` rows across every symbol's leaderboard by `metric` (camelCase), best
    first; ruined rows after surviving ones, rows without a value last; ties keep symbol then
    rank order."""
    rows = [row for item in symbols.values() for row in item.get("leaderboard", [])]
    return _ranked(rows, metric, top_n)


def _ranked(rows: list[dict[str, Any]], metric: str, top_n: int) -> list[dict[str, Any]]:
    """The best `top_n` JSON rows by `metric` (`rank_key`: ruined after surviving, rows
    without a value last; ties keep their order)."""
    return sorted(rows, key=lambda row: rank_key(row.get(metric), row.get("ruined")))[:top_n]


def _window_json(item: dict[str, Any]) -> dict[str, Any]:
    """A walk-forward window's result as the API shows it: camelCase keys and metric names."""
    window = item["window"]
    return {
        "symbol": item["symbol"],
        "window": {to_camel(k): v for k, v in window.items()},
        "params": item["params"],
        "inSample": json_metric_keys(item["in_sample"]),
        "outOfSample": json_metric_keys(item["out_of_sample"]),
        "equityRef": item["equityRef"],
    }


def _compact(symbols: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for symbol, item in symbols.items():
        if "walkForward" in item:
            out[symbol] = {
                "windows": len(item["walkForward"]),
                "outOfSample": item["outOfSample"],
                "best": item["leaderboard"][0] if item["leaderboard"] else None,
                "files": item["files"],
            }
        else:
            out[symbol] = {
                "digest": item["digest"],
                "best": item["leaderboard"][0] if item["leaderboard"] else None,
                "files": item["files"],
            }
    return out


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def finish_failed(job: dict[str, Any]) -> None:
    update_run(
        job["accountId"], job["runId"], status="Failed", completedAt=now_iso(), error=job["error"]
    )
