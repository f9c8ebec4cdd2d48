"""CPU-bound request work off the host process, so no request holds the GIL (and so the event
loop, and every other caller's `/api/health`) for more than a few milliseconds.

`await run_cpu(fn, *args)` runs a picklable top-level `fn` in a small process pool of its own
(one spawned worker, started on first use and rebuilt if it dies) once `enable()` was called
(the local host does, unless `BACKTEST_WORKERS=0`), else in a thread of this process (code
that calls the routes in-process, e.g. tests that patch this process). The worker takes this
process's environment with every call, so settings a test or the host set after start-up
apply there too. Used for backtest validation (it builds the grid's combinations and reads
bars), bars as CSV/JSON and backfills (issue 12: no request may stall health by more than
50 ms)"""

from __future__ import annotations

import asyncio
import importlib
import multiprocessing
import os
import pickle
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from shared.config import get_settings

T = TypeVar("T")

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_enabled = False


def enable() -> None:
    """Run request CPU work in the worker process from now on (the local host does, when its
    activities run in processes: `BACKTEST_WORKERS` not 0)."""
    global _enabled
    _enabled = True


def in_processes() -> bool:
    """Whether request CPU work runs in the worker process (else in a thread, as code that
    calls the routes in-process, e.g. tests that patch this process, expects)."""
    return _enabled


def _pool_now() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_exit_with_parent,
                initargs=(os.getpid(),),
            )
        return _pool


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: exit as soon as the host is gone, even after kill -9 (which runs no
    clean-up in the host), so no worker outlives it."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="orphan-watchdog", daemon=True).start()


def _forget(pool: ProcessPoolExecutor) -> None:
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)


def _call(environ: dict[str, str], fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    """In the worker: adopt the caller's environment (settings are re-read if it changed)."""
    if environ != dict(os.environ):
        os.environ.clear()
        os.environ.update(environ)
        get_settings.cache_clear()
        from shared.storage.factory import clear_cache

        clear_cache()
    try:
        return fn(*args)
    except Exception as error:
        try:  # an exception that does not survive pickling would break the pool
            pickle.loads(pickle.dumps(error))
        except Exception:
            raise RuntimeError(f"{type(error).__name__}: {error}") from None
        raise


async def run_cpu(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in the request worker process (or a thread, see the module doc); its
    exceptions (e.g. `InvalidInput`) are raised here."""
    if not in_processes():
        return await asyncio.to_thread(fn, *args)
    pool = _pool_now()
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(pool, _call, dict(os.environ), fn, args)
    except BrokenProcessPool:  # the worker died (killed, out of memory): a new one next time
        _forget(pool)
        raise


def warm(*modules: str) -> None:
    """Start the worker and import `modules` there, in the background (the host calls this at
    start-up so the first request does not wait for a process to spawn and import pandas)."""
    if in_processes():
        _pool_now().submit(_import, modules)


def _import(modules: tuple[str, ...]) -> None:
    for name in modules:
        importlib.import_module(name)


def shutdown() -> None:
    """Stop the worker; request CPU work runs in threads again until `enable()`."""
    global _pool, _enabled
    with _lock:
        pool, _pool = _pool, None
        _enabled = False
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)
