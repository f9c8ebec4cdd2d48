"""What a chunk costs to find its combinations, before and after chunks carried their raw grid
range: time and peak memory of one chunk of 1,000 combinations taken from a grid of 1,000,000
raw combinations (sma_cross fast 1..1000 x slow 1..1000, fast < slow: 499,500 valid), and of
planning that grid into chunks of 1,000.

- before: what a chunk did in a fresh worker process: enumerate and filter the whole grid
  (`spec.combinations()`, dicts), then slice its range; the plan counted by the same list;
- after: the plan counts and locates each chunk's raw range in blocks (`plan_chunks`), the
  chunk decodes only its own raw range (`chunk_combinations`).

Each measurement runs in its own fresh process (best time of `--repeat`); peak memory is the
process's peak RSS above its RSS just before the step (VmHWM reset through
/proc/self/clear_refs; Linux).

    .venv/bin/python bench/backtest_chunk_grid.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GRID = {"fast": "1:1000", "slow": "1:1000"}
PER_CHUNK = 1_000
N_BARS = 10_000
MODES = ("plan-before", "plan-after", "chunk-before", "chunk-after")


def _kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def child(mode: str, chunk_json: str) -> None:
    """One step in this fresh process; prints {"seconds", "peak_mib", "combinations"}."""
    from shared.backtest import plan_chunks
    from shared.backtest.spec import TRUSTED, StrategySpec
    from shared.backtest.sweep import Chunk, chunk_combinations, split_even

    spec = StrategySpec.model_validate({"strategy": "sma_cross", "grid": GRID}, context=TRUSTED)
    chunk = Chunk.from_dict(json.loads(chunk_json))
    Path("/proc/self/clear_refs").write_text("5")
    before = _kib("VmRSS")
    started = time.perf_counter()
    if mode == "plan-before":
        total = len(spec.combinations())
        count = len(split_even(total, -(-total // PER_CHUNK)))
    elif mode == "plan-after":
        count = len(plan_chunks(spec, N_BARS, 1.0, throughput=PER_CHUNK * N_BARS))
    elif mode == "chunk-before":
        count = len(spec.combinations()[chunk.start : chunk.stop])
    else:
        count = len(chunk_combinations(spec, chunk))
    seconds = time.perf_counter() - started
    peak = (_kib("VmHWM") - before) / 1024
    print(json.dumps({"seconds": seconds, "peak_mib": peak, "count": count}))


def measure(mode: str, chunk: dict[str, int], repeat: int) -> dict[str, float]:
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, __file__, "--child", mode, json.dumps(chunk)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    return min(runs, key=lambda r: r["seconds"])


def main(repeat: int) -> int:
    from shared.backtest import plan_chunks
    from shared.backtest.spec import TRUSTED, StrategySpec
    from shared.backtest.sweep import Chunk, locate_chunks

    spec = StrategySpec.model_validate({"strategy": "sma_cross", "grid": GRID}, context=TRUSTED)
    chunks = plan_chunks(spec, N_BARS, 1.0, throughput=PER_CHUNK * N_BARS)
    half = spec.n_combinations() // 2
    middle = locate_chunks(spec, [Chunk(len(chunks) // 2, half, half + PER_CHUNK)])[0]
    print(
        f"grid {spec.grid_size():,} raw, {spec.n_combinations():,} valid combinations; "
        f"planned as {len(chunks)} chunks; a chunk of combinations {middle.start:,}.."
        f"{middle.stop - 1:,} = raw indices {middle.raw_start:,}..{(middle.raw_stop or 0) - 1:,}"
    )
    results = {mode: measure(mode, middle.to_dict(), repeat) for mode in MODES}
    print(f"{'step':<14}{'seconds':>10}{'peak MiB':>10}{'result':>10}")
    for mode, r in results.items():
        print(f"{mode:<14}{r['seconds']:>10.4f}{r['peak_mib']:>10.1f}{int(r['count']):>10,}")
    for step in ("plan", "chunk"):
        old, new = results[f"{step}-before"], results[f"{step}-after"]
        print(
            f"{step}: {old['seconds'] / max(new['seconds'], 1e-9):.0f}x faster, peak "
            f"{old['peak_mib']:.1f} -> {new['peak_mib']:.1f} MiB"
        )
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    sys.exit(main(parser.parse_args().repeat))
