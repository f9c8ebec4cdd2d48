"""The relay's archive merges in a child process: results land in the lake, the child is not
this process, and a child that dies loses nothing (the segment waits for the next flush)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from containerapps.relay.archive import TickArchive, read_ticks
from shared.config import load_settings
from shared.feed.trades import Trade
from shared.storage.factory import lake

pytestmark = pytest.mark.timeout(120)

DAY_MS = 1_763_942_400_000  # 2025-11-24 00:00 UTC


def trades(first: int, count: int) -> tuple[Trade, ...]:
    return tuple(Trade("AAPL", 100 + n / 100, 1.0, DAY_MS + n) for n in range(first, first + count))


async def test_merges_run_in_a_child_that_can_die_without_losing_a_trade(tmp_path: Path) -> None:
    settings = load_settings()
    archive = TickArchive(lake(settings), tmp_path / "spool", "worker", merge_settings=settings)
    archive.open()
    try:
        archive.append(trades(0, 300))
        assert await archive.flush() == 300
        first_child = archive.stats.merged_by_pid
        assert first_child not in (0, os.getpid())

        os.kill(first_child, signal.SIGKILL)
        archive.append(trades(300, 200))
        assert await archive.flush() == 0
        assert archive.stats.flush_errors == 1
        assert archive.pending == 1
        assert len(list((tmp_path / "spool").glob("*.tsv"))) == 2

        assert await archive.flush() == 200
        assert archive.stats.merged_by_pid not in (0, os.getpid(), first_child)
        assert archive.pending == 0
    finally:
        await archive.close()
    stored = read_ticks(lake(settings), "AAPL")
    assert stored.num_rows == 500
    assert sorted(stored["price"].to_pylist()) == [t.price for t in trades(0, 500)]
    assert len(set(stored["key"].to_pylist())) == 500


async def test_without_settings_merges_run_in_a_thread_of_this_process(tmp_path: Path) -> None:
    settings = load_settings()
    archive = TickArchive(lake(settings), tmp_path / "spool", "thread")
    archive.open()
    archive.append(trades(0, 10))
    assert await archive.flush() == 10
    assert archive.stats.merged_by_pid == os.getpid()
    await archive.close()
    assert read_ticks(lake(settings), "AAPL").num_rows == 10
