"""Compiled kernels ready before the first request: after `compile_kernels` no engine call
compiles anything, and a fresh process loads every kernel from numba's cache instead of
compiling it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from shared.backtest.warmup import compile_kernels, entry_points

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import json
    import numpy as np
    from backtesting.test import GOOG
    from shared.backtest import BarsFrame, ExecutionSettings, StrategySpec, load_bars, run_sweep
    from shared.backtest.strategies import get_strategy
    from shared.backtest.simulation import run_single
    from shared.backtest.warmup import compile_kernels, entry_points

    report = compile_kernels()
    name = lambda d: d.py_func.__name__
    before = {name(d): len(d.overloads) for d, _ in entry_points()}
    bars = load_bars(GOOG.iloc[:300], symbol="GOOG")  # read-only arrays (pandas)
    copied = BarsFrame(*(np.array(a) for a in (bars.ts, bars.open, bars.high, bars.low,
                                               bars.close, bars.volume)))  # writable
    for options in ({"ma": "prefix", "cross": "sticky"}, {}):
        grid = {"fast": [5, 10], "slow": [20, 30]}
        spec = StrategySpec(strategy="sma_cross", grid=grid, options=options)
        for frame in (bars, copied):
            run_sweep(frame, spec, ExecutionSettings())
            run_single(get_strategy("sma_cross"), frame, {"fast": 5, "slow": 20},
                       ExecutionSettings(), options)
    after = {name(d): len(d.overloads) for d, _ in entry_points()}
    print(json.dumps({"loaded": report.loaded, "compiled": report.compiled,
                      "new": {k: after[k] - before[k] for k in after}}))
    """
)


def test_a_fresh_process_loads_every_kernel_from_the_cache_and_compiles_nothing() -> None:
    compile_kernels()  # this process: compiled or loaded; either way now in numba's cache
    env = dict(os.environ, PYTHONPATH=str(ROOT), NUMBA_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["loaded"] == len(entry_points())
    assert figures["compiled"] == 0
    # bars from pandas (read-only) and writable copies, both summation rules, sweeps and
    # single runs: the one signature compiled ahead served every call
    assert figures["new"] == dict.fromkeys(figures["new"], 0)
