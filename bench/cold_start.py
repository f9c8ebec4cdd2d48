"""Benchmark: a fresh worker process from start to results, today's way and the new way.

Each scenario runs in its own fresh subprocess, as a new Functions worker would:

- `today`: lazy JIT without a usable cache (a fresh, empty `NUMBA_CACHE_DIR`, as on a new
  Flex Consumption instance): every kernel compiles on its first call, inside a request;
- `new, first worker`: `function_app.py` starts the warm-up (`shared.backtest.warmup`) at
  import; the instance's cache is empty, so the warm-up compiles (once per instance);
- `new, later worker`: the same with the cache the first worker wrote (every later worker
  process of that instance): the warm-up loads the kernels.

Figures of each process: importing `function_app` (worker start), kernels ready (the
warm-up done, measured from the start of the import), then the first and the second
(warm) call of each of: a single backtest (equity curve and trades), a small sweep
(sma_cross on GOOG daily bars) and the aggregate (merging chunk results, writing the
Parquet tables, leaderboard and PNG chart into a local blob store). Target: the first sweep
of a fresh process at most 2 s slower than a warm one, once the kernels are ready.
Times are wall seconds of the child (CPU seconds alongside); the machine may be shared, so
the load average is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_EXTRA_SECONDS = 2.0
GRID = {"fast": list(range(5, 30)), "slow": list(range(20, 80, 5))}
SCENARIOS = (
    ("today", "today: lazy JIT, no cache"),
    ("new-first", "new: warm-up at worker start, first worker of an instance (empty cache)"),
    ("new-later", "new: warm-up at worker start, later worker (the instance's cache)"),
)


def _timed(fn: Any) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, value


def child(mode: str, data_dir: Path) -> dict[str, Any]:
    """One fresh worker process: the figures of `mode` as a JSON-able dict."""
    figures: dict[str, Any] = {}
    if mode == "today":
        from shared.backtest.warmup import hold_here

        hold_here()  # function_app.py's warm-up off: today's lazy JIT
    wall, cpu, _ = _timed(lambda: __import__("function_app"))
    figures["import"] = (wall, cpu)
    from shared.backtest import warmup

    started, cpu = time.perf_counter(), time.process_time()
    thread = warmup._thread
    if thread is not None:
        thread.join()
    figures["ready"] = (
        figures["import"][0] + time.perf_counter() - started,
        figures["import"][1] + time.process_time() - cpu,
    )

    from backtesting.test import GOOG

    from shared.backtest import ExecutionSettings, StrategySpec, load_bars
    from shared.backtest.results import write_results
    from shared.backtest.simulation import run_single
    from shared.backtest.strategies import get_strategy
    from shared.backtest.sweep import aggregate, run_chunk, split_even
    from shared.storage.blob_local import LocalBlobStore

    bars = load_bars(GOOG, symbol="GOOG")
    execution = ExecutionSettings()
    spec = StrategySpec(strategy="sma_cross", grid=GRID)
    store = LocalBlobStore(data_dir, "results", signing_key="k", public_base_url="http://x")
    chunks = split_even(spec.n_combinations(), 2)
    figures["combinations"] = spec.n_combinations()
    parts: list[Any] = []

    def single() -> None:
        run_single(get_strategy("sma_cross"), bars, {"fast": 10, "slow": 30}, execution)

    def sweep() -> None:
        parts[:] = [run_chunk(bars, spec, execution, c) for c in chunks]

    def agg(run: str) -> None:
        result = aggregate(spec, execution, len(bars), parts, symbol="GOOG")
        write_results(result, bars, store, run, top_n=10)

    calls = {
        "single": (single, single),
        "sweep": (sweep, sweep),
        "aggregate": (lambda: agg("first"), lambda: agg("warm")),
    }
    for label, (first, again) in calls.items():
        figures[f"{label}_first"] = _timed(first)[:2]
        figures[f"{label}_warm"] = _timed(again)[:2]
    return figures


def run_child(mode: str, cache: Path, data: Path) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), NUMBA_CACHE_DIR=str(cache))
    env.pop("NUMBA_NUM_THREADS", None)
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(data)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> int:
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for mode, title in SCENARIOS:
            cache = folder / ("cache-today" if mode == "today" else "cache-instance")
            figures = run_child(mode, cache, folder / f"data-{mode}")
            results[mode] = figures
            print(f"{title}  ({figures['combinations']} combinations)")
            imp, ready = figures["import"], figures["ready"]
            print(f"  import function_app     {imp[0]:7.2f} s (cpu {imp[1]:6.2f})")
            print(f"  kernels ready           {ready[0]:7.2f} s (cpu {ready[1]:6.2f}) after start")
            for label in ("single", "sweep", "aggregate"):
                first, warm = figures[f"{label}_first"], figures[f"{label}_warm"]
                extra = first[0] - warm[0]
                verdict = "ok" if extra <= TARGET_EXTRA_SECONDS else "over"
                print(
                    f"  first {label:<10}        {first[0]:7.2f} s (cpu {first[1]:6.2f})  "
                    f"warm {warm[0]:6.3f} s  extra {extra:6.2f} s "
                    f"(target <= {TARGET_EXTRA_SECONDS:.0f} s: {verdict})"
                )
    pairs = []
    for mode, _ in SCENARIOS:
        f = results[mode]
        key = mode.replace("-", "_")
        pairs += [
            f"{key}_import={f['import'][0]:.2f}",
            f"{key}_ready={f['ready'][0]:.2f}",
            f"{key}_single_extra={f['single_first'][0] - f['single_warm'][0]:.2f}",
            f"{key}_sweep_extra={f['sweep_first'][0] - f['sweep_warm'][0]:.2f}",
            f"{key}_aggregate_extra={f['aggregate_first'][0] - f['aggregate_warm'][0]:.2f}",
        ]
    print("BENCH cold_start " + " ".join(pairs) + f" load={load[0]:.2f}")
    new = [results[m] for m in ("new-first", "new-later")]
    ok = all(f["sweep_first"][0] - f["sweep_warm"][0] <= TARGET_EXTRA_SECONDS for f in new)
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("MODE", "DATA_DIR"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]))))
    else:
        sys.exit(main())
