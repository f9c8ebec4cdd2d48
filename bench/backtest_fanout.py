"""Fan-out speedup: one large sweep through the local Durable engine with 1, then 2, activity
worker processes. Prints both times (the chunk fan-out phase and the whole run) and ratios.

    .venv/bin/python bench/backtest_fanout.py [--seconds 12] [--chunks 24]

SMA cross, fast 2..100 x slow 3..200 with fast < slow (14,751 pairs), on a seeded random-walk
daily series sized so one worker needs about `--seconds` of kernel time. Workers are warmed
(imported and JIT-compiled) before timing. Targets: fan-out and whole-run speedup >= 1.8x on
2 cores. Also runs it once with today's way (BACKTEST_LAZY_FILES=false: every result file
written in the aggregate, before the run completes) and prints each way's serial tail (plan,
aggregate, orchestration) and the whole-run speedup it allows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

if TYPE_CHECKING:
    from shared.backtest.runs import BacktestRequest

GRID = {"fast": "2:100", "slow": "3:200"}
SYMBOL = "SYNTH"
TARGET = 1.8


def synthetic_bars(n: int) -> list:
    from shared.market.models import Bar

    rng = np.random.default_rng(7)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0002, 0.015, n)))
    open_ = np.concatenate([[close[0]], close[:-1]]) * (1 + rng.normal(0, 0.002, n))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.004, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.004, n)))
    start = datetime(1900, 1, 1, tzinfo=UTC)
    return [
        Bar(
            symbol=SYMBOL,
            interval="1d",
            ts=start + timedelta(days=i),
            open=float(open_[i]),
            high=float(high[i]),
            low=float(low[i]),
            close=float(close[i]),
            volume=1000.0,
            source="sample",
        )
        for i in range(n)
    ]


def measure_throughput() -> float:
    """Bars x combinations per second of one in-process kernel call (after JIT warm-up)."""
    from shared.backtest import ExecutionSettings, StrategySpec, load_bars, run_chunk
    from shared.backtest.sweep import Chunk

    rng = np.random.default_rng(1)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, 5000)))
    import pandas as pd

    frame = pd.DataFrame(
        {"open": close, "high": close * 1.01, "low": close * 0.99, "close": close},
        index=pd.date_range("2000-01-01", periods=len(close), freq="D", tz="UTC"),
    )
    bars = load_bars(frame)
    spec = StrategySpec(strategy="sma_cross", grid=GRID)
    run_chunk(bars, spec, ExecutionSettings(), Chunk(0, 0, 20))
    result = run_chunk(bars, spec, ExecutionSettings(), Chunk(0, 0, 600))
    return 600 * len(bars) / max(result.seconds, 1e-6)


def bench_warm() -> int:
    """Runs in a pool worker: import and JIT-compile the kernel so timing excludes it."""
    measure_throughput()
    time.sleep(0.5)
    return os.getpid()


def fan_out_seconds(history: list[dict]) -> float:
    scheduled = [
        e["Timestamp"] for e in history if e["EventType"] == 4 and e.get("Name") == "backtest_chunk"
    ]
    ids = {
        e["EventId"] for e in history if e["EventType"] == 4 and e.get("Name") == "backtest_chunk"
    }
    completed = [
        e["Timestamp"] for e in history if e["EventType"] == 5 and e["TaskScheduledId"] in ids
    ]

    def parse(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    return (parse(max(completed)) - parse(min(scheduled))).total_seconds()


async def run_with(
    workers: int, request: BacktestRequest, data_dir: Path, repeat: int
) -> tuple[float, float, str, int, float]:
    """Best (minimum) whole-run and fan-out seconds over `repeat` runs on warm workers, and
    the chunk seconds (time inside the kernel, summed) of the best fan-out. Each run starts
    through the run service, as the API and the CLI start theirs."""
    from devhost.durable.engine import DurableEngine, EngineClient
    from shared.backtest.runs import RunService, prepare_run

    engine = DurableEngine(
        app_ref="tools.backtest:app", data_dir=data_dir, hub=f"Bench{workers}", workers=workers
    )
    await engine.start(warm=True)
    service = RunService(EngineClient(engine))
    walls, fans, digests, chunks, kernel = [], [], set(), 0, []
    try:
        pool = engine._pool
        assert pool is not None
        await asyncio.gather(
            *(asyncio.wrap_future(pool.schedule(bench_warm)) for _ in range(workers))
        )
        for _ in range(repeat):
            prepared = await prepare_run(request, "bench")
            started = time.perf_counter()
            run_id = (await service.launch(prepared)).run_id
            done = await engine.wait(run_id, 1800)
            walls.append(time.perf_counter() - started)
            if done["runtimeStatus"] != "Completed":
                raise SystemExit(
                    f"{workers} worker(s): run {done['runtimeStatus']}: {done['output']}"
                )
            fans.append(fan_out_seconds(done["history"]))
            digests.add(next(iter(done["output"]["symbols"].values()))["digest"])
            chunks = done["output"]["chunkStats"]["total"]
            kernel.append(float(done["output"]["chunkStats"]["sumSeconds"]))
    finally:
        await engine.stop()
    if len(digests) != 1:
        raise SystemExit(f"{workers} worker(s): repeated runs gave different results")
    return min(walls), min(fans), digests.pop(), chunks, kernel[fans.index(min(fans))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=12.0, help="1-worker kernel seconds")
    parser.add_argument("--chunks", type=int, default=24, help="chunks to cut the sweep into")
    parser.add_argument("--repeat", type=int, default=2, help="runs per worker count (best)")
    parser.add_argument(
        "--no-today",
        action="store_true",
        help="skip the run with today's way (result files written in the aggregate)",
    )
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    os.environ.update({"LOCAL_DATA_DIR": str(data_dir), "ENVIRONMENT": "local"})
    os.environ.pop("BACKTEST_FAULT_INJECTION", None)

    from shared.backtest import StrategySpec

    combos = StrategySpec(strategy="sma_cross", grid=GRID).n_combinations()
    throughput = measure_throughput()
    n_bars = int(min(max(args.seconds * throughput / combos, 2000), 100_000))
    per_chunk = -(-combos // args.chunks)
    from shared.backtest.sweep import DEFAULT_THROUGHPUT

    os.environ["BACKTEST_CHUNK_TARGET_SECONDS"] = repr(per_chunk * n_bars / DEFAULT_THROUGHPUT)
    from shared.config import get_settings

    get_settings.cache_clear()

    from shared.backtest.runs import BacktestRequest
    from shared.ingest.bars import BarLake
    from shared.storage.factory import lake

    BarLake(lake()).merge(synthetic_bars(n_bars), ingested_at=datetime.now(UTC))
    request = BacktestRequest.model_validate(
        {"symbols": [SYMBOL], "strategy": {"strategy": "sma_cross", "grid": GRID}}
    )
    print(
        f"sweep: {combos} pairs x {n_bars} bars = {combos * n_bars:.3e} bar-combinations; "
        f"kernel ~{throughput:.3e} bar-combos/s/core; target {args.chunks} chunks; "
        f"{os.cpu_count()} cores"
    )
    results = {}
    runs_of = {1: ("now", 1, args.repeat), 2: ("now", 2, args.repeat)}
    if not args.no_today:
        runs_of[0] = ("today", 1, 1)  # 1 worker, result files written in the aggregate
    for key, (way, workers, repeat) in runs_of.items():
        os.environ["BACKTEST_LAZY_FILES"] = "false" if way == "today" else "true"
        results[key] = asyncio.run(run_with(workers, request, data_dir, repeat))
        wall, fan, digest, chunks, kernel = results[key]
        print(
            f"{way}: {workers} worker(s), best of {repeat}: fan-out {fan:.2f} s, "
            f"whole run {wall:.2f} s, {chunks} chunks, digest {digest[:12]}; chunk time "
            f"{kernel:.2f} s summed, workers busy "
            f"{100 * kernel / (workers * fan):.0f}% of the fan-out; serial tail (plan, "
            f"aggregate, orchestration) {wall - fan:.2f} s"
        )
    (w1, f1, d1, _, k1), (w2, f2, d2, _, k2) = results[1], results[2]
    fan_ratio, wall_ratio = f1 / f2, w1 / w2
    print(
        f"speedup 2 vs 1 workers: fan-out {fan_ratio:.2f}x (target >= {TARGET}x), "
        f"whole run {wall_ratio:.2f}x (target >= {TARGET}x)"
    )
    for key, way in ((0, "today"), (1, "now")):
        if key in results:
            wall, fan = results[key][0], results[key][1]
            tail = (wall - fan) / wall
            print(
                f"{way}: the serial tail is {100 * tail:.1f}% of the 1-worker run, so with the "
                f"fan-out 2.00x the whole run could reach {1 / (tail + (1 - tail) / 2):.2f}x "
                f"(Amdahl); with this run's fan-out {fan_ratio:.2f}x: "
                f"{1 / (tail + (1 - tail) / fan_ratio):.2f}x"
            )
    print(f"results identical across worker counts: {d1 == d2}")
    print(
        f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; per-chunk time "
        f"grew {k2 / k1:.2f}x with 2 workers (>1 means the workers competed for CPU)"
    )
    if d1 != d2:
        raise SystemExit("digests differ between 1 and 2 workers")


if __name__ == "__main__":
    main()
