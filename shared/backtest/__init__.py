"""The backtest engine: strategies as data, a numba sweep kernel, deterministic chunked sweeps.

Public API (everything a caller needs; the rest is internal)::

    bars = load_bars(frame_or_parquet_bytes_or_path, symbol="GOOG")        # -> BarsFrame
    spec = StrategySpec(strategy="sma_cross", grid={"fast": "5:50:5", "slow": "20:200:10"})
    spec = StrategySpec.from_json(text) / StrategySpec.from_yaml(text)
    execution = ExecutionSettings(commission=0.002, direction="long_short")

    chunks = plan_chunks(spec, len(bars), target_seconds=3.0)            # -> list[Chunk]
    part = run_chunk(bars, spec, execution, chunks[0])                    # -> ChunkResult
    sweep = aggregate(spec, execution, len(bars), [part, ...])            # -> SweepResult
    sweep = run_sweep(bars, spec, execution)                              # all in-process
    refs = write_results(sweep, bars, blob_store, run_id, top_n=10, metric="sharpe_ratio")
    one = run_backtest(bars, "sma_cross", {"fast": 10, "slow": 20}, execution)

    windows = plan_walk_forward(len(bars), train_bars=500, test_bars=100)
    # per window: sweep bars.slice(w.train_start, w.train_stop) (chunked like any sweep),
    # then evaluate_window(bars, spec, execution, w, in_sample_sweep, metric) -> WindowResult,
    # and combine_windows([window results]) -> WalkForwardResult (stitched out-of-sample)
    report = walk_forward(bars, spec, execution, windows, metric="sharpe_ratio")

    @register
    class MyStrategy(Strategy):          # usable as StrategySpec(strategy="mine", ...)
        name = "mine"
        parameters = (Param("n", "int", 20, ge=2, le=500), Param("m", "int", 50, ge=2))
        relations = (Relation("n", "<", "m"),)   # checked by run_backtest, run_sweep, specs
        def warmup(self, params): return params["m"] - 1   # bars before the first signal
        def signals(self, bars, params): ...   # int8 per bar: +1 long, -1 short/flat, 0 hold

Wire formats (small JSON for Durable messages): `Chunk.to_dict/from_dict`,
`ChunkResult.to_dict/from_dict` (bit-exact floats; NaN as null) or `to_parquet/from_parquet`
for large chunks, `WalkForwardWindow.to_dict/from_dict`, `ResultRefs.to_dict`,
`StrategySpec.model_dump()` and `ExecutionSettings.model_dump()`.

Determinism: each combination is simulated independently by the same compiled code, and
`aggregate` orders by combination index, so a sweep cut into any chunks is bit-identical to
the unchunked one (`SweepResult.digest()` compares them). Metric names are in `METRICS`.

Modules, each depending only on those before it (no import cycle; a test keeps it so):
`values` (bounded numbers) and `strategies.params` (declarations); `bars`, `execution`,
`metrics`, `indicators`, `kernel` (the compiled simulation); `strategies.base` (a `Strategy`
declares its parameters and plans kernel work, `KernelPlan`: it never runs itself),
`strategies.builtin`, `strategies.registry` (the catalogue by name: built-ins listed there,
`register` for yours); `spec` (`StrategySpec`, data checked against the catalogue);
`simulation` (the one module that runs plans through the kernel: `run_metrics`,
`run_single`); `sweep`, `results`, `walkforward` (by strategy name, through the catalogue).

Threads: the kernel runs combinations in parallel on numba's thread pool (all cores by
default); worker processes that already run one per core should set NUMBA_NUM_THREADS=1.
Results do not depend on the thread count.
"""

from shared.backtest.bars import BarsFrame, load_bars
from shared.backtest.execution import ExecutionSettings
from shared.backtest.metrics import METRICS
from shared.backtest.results import ResultRefs, run_backtest, write_results
from shared.backtest.simulation import BacktestResult
from shared.backtest.spec import StrategySpec, parse_axis, parse_grid_args
from shared.backtest.strategies import Strategy, get_strategy, register, strategy_names
from shared.backtest.strategies.params import Param, Relation
from shared.backtest.sweep import (
    Chunk,
    ChunkResult,
    SweepResult,
    aggregate,
    plan_chunks,
    run_chunk,
    run_sweep,
    split_even,
)
from shared.backtest.walkforward import (
    WalkForwardResult,
    WalkForwardWindow,
    WindowResult,
    combine_windows,
    evaluate_window,
    plan_walk_forward,
    walk_forward,
)

__all__ = [
    "METRICS",
    "BacktestResult",
    "BarsFrame",
    "Chunk",
    "ChunkResult",
    "ExecutionSettings",
    "Param",
    "Relation",
    "ResultRefs",
    "Strategy",
    "StrategySpec",
    "SweepResult",
    "WalkForwardResult",
    "WalkForwardWindow",
    "WindowResult",
    "aggregate",
    "combine_windows",
    "evaluate_window",
    "get_strategy",
    "load_bars",
    "parse_axis",
    "parse_grid_args",
    "plan_chunks",
    "plan_walk_forward",
    "register",
    "run_backtest",
    "run_chunk",
    "run_sweep",
    "split_even",
    "strategy_names",
    "walk_forward",
    "write_results",
]
