"""A completed sweep's lazy result files (BACKTEST_LAZY_FILES), written by the first results
request once per run at a time, however many requests ask at once:

- in one process, concurrent callers for a run share one in-flight write (the followers
  await the leader's; its error reaches them all and is forgotten when it ends);
- across processes and instances, only the holder of the run document's lease
  (`claim_files_lease`, BACKTEST_FILES_LEASE_SECONDS, renewed while it writes) writes; the
  others poll for the files for up to BACKTEST_FILES_WAIT_SECONDS and then answer
  `ResultsPreparing` (503 with Retry-After) instead of doing the work again. A lease whose
  holder died expires, and the next caller takes over."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid

from shared import offload
from shared.backtest.runs.documents import claim_files_lease, release_files_lease
from shared.backtest.runs.fanin import missing_files, write_result_files
from shared.backtest.runs.views import StoredRun
from shared.config import get_settings
from shared.errors import ResultsPreparing

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 2
"""What a caller that found another process writing the files is told to wait."""
POLL_FIRST_INTERVAL = 0.05
POLL_MAX_INTERVAL = 1.0

_in_flight: dict[str, asyncio.Task[None]] = {}
"""This process's write in flight per run id (one event loop: the worker's)."""


async def ensure_result_files(doc: StoredRun) -> None:
    """Return once the files behind the run's result URLs exist, writing them if none has
    (see the module docstring); `ResultsPreparing` if another process is still writing them
    after BACKTEST_FILES_WAIT_SECONDS."""
    run_id = doc["id"]
    task = _in_flight.get(run_id)
    if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
        task = asyncio.ensure_future(_write_missing(doc))
        _in_flight[run_id] = task
        task.add_done_callback(lambda done: _forget(run_id, done))
    await asyncio.shield(task)  # a caller that goes away leaves the write to the others


def _forget(run_id: str, task: asyncio.Task[None]) -> None:
    if _in_flight.get(run_id) is task:
        del _in_flight[run_id]
    if not task.cancelled():
        task.exception()  # retrieved: the callers that awaited it raised it


async def _write_missing(doc: StoredRun) -> None:
    """If files are missing, take the run's files lease and write them; while another holds
    it, wait (polling, backoff 50 ms doubling to 1 s) for its files, its release or its
    expiry."""
    if not await asyncio.to_thread(missing_files, doc):
        return
    settings = get_settings()
    seconds = settings.backtest_files_lease_seconds
    account_id, run_id = doc["pk"], doc["id"]
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.backtest_files_wait_seconds
    interval = POLL_FIRST_INTERVAL
    claimed = False
    try:
        while not (claimed := await _claim(account_id, run_id, holder, seconds)):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise ResultsPreparing(
                    f"the result files of run {run_id} are being prepared by another "
                    f"request; retry in {RETRY_AFTER_SECONDS} s",
                    retry_after=RETRY_AFTER_SECONDS,
                )
            await asyncio.sleep(min(interval, remaining))
            interval = min(interval * 2, POLL_MAX_INTERVAL)
            if not await asyncio.to_thread(missing_files, doc):
                return  # the holder wrote them
        work = asyncio.ensure_future(offload.run_cpu(write_result_files, doc))
        while not (await asyncio.wait({work}, timeout=seconds / 3))[0]:
            try:
                renewed = await _claim(account_id, run_id, holder, seconds)
            except Exception:  # the write goes on: the same bytes whoever writes them
                log.warning("run %s: files lease not renewed", run_id, exc_info=True)
                continue
            if not renewed:
                log.warning("run %s: files lease taken over while writing", run_id)
        await work
    except asyncio.CancelledError:
        claimed = True  # a claim in flight may have taken the lease: release drops only ours
        raise
    finally:
        if claimed:
            await _release(account_id, run_id, holder)


async def _claim(account_id: str, run_id: str, holder: str, seconds: float) -> bool:
    return await asyncio.to_thread(claim_files_lease, account_id, run_id, holder, seconds)


async def _release(account_id: str, run_id: str, holder: str) -> None:
    """Drop the lease; a store error here must not replace the write's own outcome (the
    lease then simply expires)."""
    try:
        await asyncio.to_thread(release_files_lease, account_id, run_id, holder)
    except Exception:
        log.warning("run %s: files lease not released; it expires", run_id, exc_info=True)
