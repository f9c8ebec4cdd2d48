"""Benchmark: this engine vs vectorbt on SMA-cross sweeps: throughput, peak memory, agreement.

Two workloads, each engine in its own fresh subprocess so their memory does not mix:

- `goog`: backtesting.py's GOOG daily bars (2,148), fast 2..100 x slow 3..200, fast < slow
  (14,751 pairs);
- `long`: a 1,000,000-bar series (a seeded random walk with 2-decimal prices on one-minute
  bars; synthetic, only for scale), fast 10..100 x slow 110..190 step 10 (90 pairs).

Both engines run the same model: long-only, fills at the signal bar's close, all cash in
fractional units, no costs (vectorbt's `Portfolio.from_signals` defaults), moving averages
summed as vectorbt does (`ma=prefix`) and its crossover rule (`cross=sticky`). Agreement:
final value within 1e-9 relative and equal closed-trade counts for every pair. This engine
computes its full metric set (`shared.backtest.METRICS`) per pair; vectorbt only the final
value and trade count. Throughput is bars x combinations per second of wall time, after a
warm-up that compiles both (numba caches). Peak memory is each child's peak RSS above its
RSS after imports, data and warm-up (VmHWM reset through /proc/self/clear_refs).

Hook for the fan-out benchmark (bench/backtest_fanout.py): `workload(name)` returns
(bars, spec, execution) of either workload, with the engine's default full metrics.
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from shared.backtest import BarsFrame, ExecutionSettings, StrategySpec, load_bars  # noqa: E402

EXECUTION = ExecutionSettings(fill="close", sizing="fractional", direction="long_only")
OPTIONS = {"ma": "prefix", "cross": "sticky"}
GRIDS = {
    "goog": (list(range(2, 101)), list(range(3, 201))),
    "long": (list(range(10, 101, 10)), list(range(110, 191, 10))),
}
TARGET_RATIO = 50.0
TARGET_MEMORY_SHARE = 0.1


def goog_bars() -> BarsFrame:
    from backtesting.test import GOOG

    return load_bars(GOOG, symbol="GOOG")


def long_bars(n: int = 1_000_000, seed: int = 7) -> BarsFrame:
    """A seeded random walk (synthetic, for scale only) with 2-decimal prices, 1-minute bars."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    close = np.round(100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n))), 2)
    close = np.maximum(close, 0.01)
    opn = np.concatenate([[close[0]], close[:-1]])
    frame = pd.DataFrame(
        {
            "ts": pd.date_range("2020-01-01", periods=n, freq="min", tz="UTC"),
            "open": opn,
            "high": np.maximum(opn, close),
            "low": np.minimum(opn, close),
            "close": close,
        }
    )
    return load_bars(frame, symbol="WALK")


def pairs(name: str) -> tuple[list[int], list[int]]:
    fasts, slows = GRIDS[name]
    combos = [(f, s) for f in fasts for s in slows if f < s]
    return [f for f, _ in combos], [s for _, s in combos]


def workload(name: str) -> tuple[BarsFrame, StrategySpec, ExecutionSettings]:
    """(bars, spec, execution) of a workload, as this benchmark runs it."""
    fasts, slows = GRIDS[name]
    spec = StrategySpec(
        strategy="sma_cross", grid={"fast": fasts, "slow": slows}, options=dict(OPTIONS)
    )
    return (goog_bars() if name == "goog" else long_bars()), spec, EXECUTION


# --- memory --------------------------------------------------------------------------------
def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


# --- the engines (run in a child process) ---------------------------------------------------
def _ours(name: str) -> tuple[float, float, np.ndarray, np.ndarray, int, int, int]:
    from shared.backtest import run_sweep

    bars, spec, execution = workload(name)
    run_sweep(bars.slice(0, 400), StrategySpec(strategy="sma_cross", options=OPTIONS), execution)
    baseline = _status_kib("VmRSS")
    _reset_peak()
    started, cpu = time.perf_counter(), time.process_time()
    sweep = run_sweep(bars, spec, execution)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = _status_kib("VmHWM")
    final = sweep.metrics["final_equity"]
    trades = sweep.metrics["trades"].astype(np.int64)
    return seconds, cpu, final, trades, baseline, peak, len(bars)


def _vectorbt(name: str) -> tuple[float, float, np.ndarray, np.ndarray, int, int, int]:
    import pandas as pd
    import vectorbt as vbt

    bars, _, _ = workload(name)
    close = pd.Series(bars.close, index=bars.index())
    fast, slow = pairs(name)

    def run(series: pd.Series, f: list[int], s: list[int]) -> tuple[np.ndarray, np.ndarray]:
        fast_ma = vbt.MA.run(series, f, short_name="fast")
        slow_ma = vbt.MA.run(series, s, short_name="slow")
        entries = fast_ma.ma_crossed_above(slow_ma)
        exits = fast_ma.ma_crossed_below(slow_ma)
        pf = vbt.Portfolio.from_signals(series, entries, exits, init_cash=EXECUTION.cash)
        return (
            np.asarray(pf.final_value(), dtype=np.float64),
            np.asarray(pf.trades.closed.count(), dtype=np.int64),
        )

    run(close.iloc[:400], [2, 3], [3, 5])
    baseline = _status_kib("VmRSS")
    _reset_peak()
    started, cpu = time.perf_counter(), time.process_time()
    final, trades = run(close, fast, slow)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = _status_kib("VmHWM")
    return seconds, cpu, final, trades, baseline, peak, len(bars)


def child(engine: str, name: str, out: Path) -> None:
    run = _ours if engine == "ours" else _vectorbt
    seconds, cpu, final, trades, baseline, peak, n_bars = run(name)
    np.savez(out, final=final, trades=trades)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu,
                "baseline_mib": baseline / 1024,
                "peak_mib": peak / 1024,
                "bars": n_bars,
                "combos": len(final),
            }
        )
    )


def measure(
    engine: str, name: str, folder: Path
) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    out = folder / f"{engine}-{name}.npz"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, __file__, "--child", engine, name, str(out)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    arrays = np.load(out)
    return figures, arrays["final"], arrays["trades"]


def main(names: list[str]) -> int:
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in names:
            ours, our_final, our_trades = measure("ours", name, folder)
            peer, peer_final, peer_trades = measure("vectorbt", name, folder)
            work = ours["bars"] * ours["combos"]
            rel = np.abs(our_final - peer_final) / np.abs(peer_final)
            agree_value = bool(np.all(rel <= 1e-9))
            agree_trades = bool(np.array_equal(our_trades, peer_trades))
            ours_tp, peer_tp = work / ours["seconds"], work / peer["seconds"]
            ours_mem = ours["peak_mib"] - ours["baseline_mib"]
            peer_mem = peer["peak_mib"] - peer["baseline_mib"]
            ratio = ours_tp / peer_tp
            share = ours_mem / peer_mem if peer_mem > 0 else float("nan")
            print(f"{name}: {int(ours['bars']):,} bars x {int(ours['combos']):,} combinations")
            print(
                f"  agreement     final value max rel diff {rel.max():.2e} "
                f"({'ok' if agree_value else 'FAIL'}), trade counts "
                f"{'equal' if agree_trades else 'DIFFER'} (total {int(our_trades.sum()):,})"
            )
            for label, fig, tp, mem in (
                ("this engine", ours, ours_tp, ours_mem),
                ("vectorbt   ", peer, peer_tp, peer_mem),
            ):
                print(
                    f"  {label}   {fig['seconds']:8.3f} s wall {fig['cpu_seconds']:8.3f} s cpu "
                    f"{tp:14,.0f} bar-combos/s  peak +{mem:8.1f} MiB "
                    f"(RSS {fig['peak_mib']:.0f} MiB)"
                )
            cpu_ratio = peer["cpu_seconds"] / ours["cpu_seconds"]
            print(
                f"  ratio         throughput x{ratio:,.1f} wall, x{cpu_ratio:,.1f} cpu time "
                f"(target >= {TARGET_RATIO:.0f}); memory {share:.3f} of vectorbt's "
                f"(target <= {TARGET_MEMORY_SHARE})"
            )
            print(
                f"BENCH backtest_sweep {name} ratio_wall={ratio:.1f} ratio_cpu={cpu_ratio:.1f} "
                f"memory_share={share:.4f} agree={agree_value and agree_trades}"
            )
            ok = ok and agree_value and agree_trades
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=3, metavar=("ENGINE", "WORKLOAD", "OUT"))
    parser.add_argument("workloads", nargs="*", default=["goog", "long"])
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], Path(args.child[2]))
    else:
        sys.exit(main(args.workloads))
