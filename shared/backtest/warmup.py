"""Compiled kernels ready before the first request.

Every compiled entry point of the engine is called with one signature (its wrappers pass
read-only C-contiguous arrays of one dtype), so it can be compiled ahead: `compile_kernels`
compiles each for that signature, or loads it from numba's cache (`NUMBA_CACHE_DIR`; next to
the source when unset) when an earlier process of this machine compiled it already.
`warm_in_background` does that, and imports what the aggregate needs (Parquet, the PNG
chart), in a daemon thread at worker start: `function_app.py` calls it, so every Functions
worker process and every worker of the local host's activity pool (they import the app)
warms itself; a request that arrives during the warm-up waits for numba's compiler lock,
never compiles twice. The local host's own process opts out (`hold_here`) when its worker
processes run the activities.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from shared.backtest import indicators, kernel

log = logging.getLogger(__name__)

AGGREGATE_MODULES = ("pyarrow.parquet", "shared.backtest.chart", "shared.backtest.results")
"""Imported by the warm-up too: the aggregate's first call otherwise pays for them."""

_lock = threading.Lock()
_thread: threading.Thread | None = None
_held = False


@dataclass(frozen=True)
class CompileReport:
    """What `compile_kernels` did: entry points loaded from numba's cache, compiled, and
    the wall seconds it took."""

    loaded: int
    compiled: int
    seconds: float


def entry_points() -> list[tuple[Any, tuple[Any, ...]]]:
    """(numba dispatcher, argument types) of every compiled entry point of the engine."""
    return [*kernel.compiled_signatures(), *indicators.compiled_signatures()]


def compile_kernels() -> CompileReport:
    """Compile every entry point for its one signature (or load it from numba's cache):
    afterwards no backtest, sweep or aggregate call compiles anything."""
    started = time.perf_counter()
    loaded = compiled = 0
    for dispatcher, signature in entry_points():
        hits_before = sum(dispatcher.stats.cache_hits.values())
        already = len(dispatcher.overloads)
        dispatcher.compile(signature)
        if sum(dispatcher.stats.cache_hits.values()) > hits_before:
            loaded += 1
        elif len(dispatcher.overloads) > already:
            compiled += 1
    return CompileReport(loaded, compiled, time.perf_counter() - started)


def warm() -> CompileReport:
    """`compile_kernels`, then import `AGGREGATE_MODULES`."""
    report = compile_kernels()
    for name in AGGREGATE_MODULES:
        importlib.import_module(name)
    return report


def _warm_logged() -> None:
    try:
        report = warm()
    except Exception:  # a failed warm-up only costs the first request the compile
        log.exception("kernel warm-up failed; kernels compile on first use")
        return
    log.info(
        "kernels ready in %.1f s (%d loaded from numba's cache, %d compiled)",
        report.seconds,
        report.loaded,
        report.compiled,
    )


def warm_in_background() -> threading.Thread | None:
    """Start `warm` in a daemon thread of this process, once (None if held or started)."""
    global _thread
    with _lock:
        if _held or _thread is not None:
            return None
        _thread = threading.Thread(target=_warm_logged, name="kernel-warmup", daemon=True)
        _thread.start()
        return _thread


def hold_here() -> None:
    """No warm-up in this process (the local host's own process, whose activities run in
    worker processes that warm themselves)."""
    global _held
    with _lock:
        _held = True
