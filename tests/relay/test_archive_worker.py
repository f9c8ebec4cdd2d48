"""The relay's archive merges in a child process: results land in the lake, the child is not
this process, and a child that dies loses nothing (the segment waits for the next flush)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from containerapps.relay.archive import COMPACT_AFTER_PARTS, TickArchive, merge_segment, read_ticks
from shared.config import load_settings
from shared.feed.trades import Trade
from shared.storage.factory import lake
from shared.storage.lake import ParquetLake

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


def spool(tmp_path: Path, name: str, rows: tuple[Trade, ...]) -> Path:
    """A sealed spool segment holding `rows`, as the archive writes them."""
    archive = TickArchive(lake(load_settings()), tmp_path / name, name)
    archive.open()
    archive.append(rows)
    archive.seal()
    segment = archive._sealed[0]
    archive._current.close()  # type: ignore[union-attr]
    return segment


def test_a_flush_adds_parts_and_the_pile_is_compacted_without_rewriting_the_day(
    tmp_path: Path,
) -> None:
    store = lake(load_settings())
    day = "2025-11-24"
    partition = {"symbol": "AAPL", "date": day}
    for n in range(COMPACT_AFTER_PARTS - 1):
        merge_segment(store, spool(tmp_path, f"s{n:03d}", trades(10 * n, 10)), today=day)
    assert len(store.files("ticks", partition)) == COMPACT_AFTER_PARTS - 1
    last = spool(tmp_path, "s999", trades(10 * COMPACT_AFTER_PARTS, 10))
    merge_segment(store, last, today=day)
    files = store.files("ticks", partition)
    assert [f.rsplit("/", 1)[1] for f in files] == [f"part-~{last.stem}.parquet"]
    same_trades_again = spool(tmp_path, "other-relay", trades(0, 10))
    merge_segment(store, same_trades_again, today=day)
    stored = read_ticks(store, "AAPL", day)
    assert stored.num_rows == 10 * COMPACT_AFTER_PARTS
    assert store.read("ticks").num_rows == 10 * COMPACT_AFTER_PARTS + 10
    assert len(set(stored["key"].to_pylist())) == stored.num_rows


def test_a_finished_day_is_folded_into_one_file(tmp_path: Path) -> None:
    store = lake(load_settings())
    yesterday, today = "2025-11-24", "2025-11-25"
    for n in range(3):
        merge_segment(store, spool(tmp_path, f"y{n}", trades(10 * n, 10)), today=yesterday)
    assert len(store.files("ticks", {"symbol": "AAPL", "date": yesterday})) == 3
    next_day = tuple(t._replace(ts_ms=t.ts_ms + 86_400_000) for t in trades(0, 5))
    merge_segment(store, spool(tmp_path, "t0", next_day), today=today)
    assert [
        f.rsplit("/", 1)[1] for f in store.files("ticks", {"symbol": "AAPL", "date": yesterday})
    ] == ["part.parquet"]
    assert read_ticks(store, "AAPL", yesterday).num_rows == 30
    late = spool(tmp_path, "late", trades(30, 2))
    merge_segment(store, late, today=today)
    assert [
        f.rsplit("/", 1)[1] for f in store.files("ticks", {"symbol": "AAPL", "date": yesterday})
    ] == ["part.parquet"]
    assert read_ticks(store, "AAPL", yesterday).num_rows == 32
    assert read_ticks(store, "AAPL", today).num_rows == 5


def test_the_first_trades_after_a_weekend_fold_the_last_trading_day(tmp_path: Path) -> None:
    store = lake(load_settings())
    friday, monday = "2025-11-21", "2025-11-24"
    friday_trades = tuple(t._replace(ts_ms=t.ts_ms - 3 * 86_400_000) for t in trades(0, 20))
    merge_segment(store, spool(tmp_path, "f0", friday_trades[:10]), today=friday)
    merge_segment(store, spool(tmp_path, "f1", friday_trades[10:]), today=friday)
    assert len(store.files("ticks", {"symbol": "AAPL", "date": friday})) == 2
    merge_segment(store, spool(tmp_path, "m0", trades(0, 5)), today=monday)
    names = [f.rsplit("/", 1)[1] for f in store.files("ticks", {"symbol": "AAPL", "date": friday})]
    assert names == ["part.parquet"]
    assert read_ticks(store, "AAPL", friday).num_rows == 20
    assert read_ticks(store, "AAPL", monday).num_rows == 5


class SlowLake(ParquetLake):
    """A lake whose appends take `delay` seconds (a stuck or starved merge)."""

    delay = 1.0

    def append(self, *args: Any, **kwargs: Any) -> Any:
        time.sleep(self.delay)
        return super().append(*args, **kwargs)


async def test_a_merge_too_slow_for_shutdown_is_left_in_the_spool_and_done_next_start(
    tmp_path: Path,
) -> None:
    settings = load_settings()
    slow = SlowLake(lake(settings).blobs)
    archive = TickArchive(slow, tmp_path / "spool", "slow")
    archive.open()
    archive.append(trades(0, 50))
    started = time.monotonic()
    assert await archive.close(merge_seconds=0.2) == 0
    assert time.monotonic() - started < 0.9
    assert len(list((tmp_path / "spool").glob("*.tsv"))) == 1

    slow.delay = 0.0
    again = TickArchive(slow, tmp_path / "spool", "slow")
    again.open()
    assert await again.close() == 50
    assert list((tmp_path / "spool").glob("*.tsv")) == []
    stored = read_ticks(lake(settings), "AAPL")
    assert stored.num_rows == 50
    assert lake(settings).read("ticks").num_rows == 50


async def test_a_segment_that_cannot_be_read_is_set_aside_and_the_rest_merge(
    tmp_path: Path,
) -> None:
    settings = load_settings()
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    poisoned = spool_dir / "old-00000000000000000001.tsv"
    poisoned.write_text("AAPL\t1.0\t1.0\t99999999999999999999\t0\t\n")
    archive = TickArchive(lake(settings), spool_dir, "after")
    archive.open()
    archive.append(trades(0, 10))
    assert await archive.close() == 10
    assert archive.stats.quarantined == 1
    assert (spool_dir / "quarantine" / poisoned.name).exists()
    assert read_ticks(lake(settings), "AAPL").num_rows == 10


async def test_at_start_days_of_symbols_that_stopped_trading_are_folded(tmp_path: Path) -> None:
    store = lake(load_settings())
    old_day = "2025-11-20"
    old = tuple(t._replace(symbol="OLD", ts_ms=t.ts_ms - 4 * 86_400_000) for t in trades(0, 10))
    merge_segment(store, spool(tmp_path, "o0", old[:5]), today=old_day)
    merge_segment(store, spool(tmp_path, "o1", old[5:]), today=old_day)
    assert len(store.files("ticks", {"symbol": "OLD", "date": old_day})) == 2
    archive = TickArchive(store, tmp_path / "spool", "start")
    archive.open()
    archive.start(60.0)
    for _ in range(100):
        if len(store.files("ticks", {"symbol": "OLD", "date": old_day})) == 1:
            break
        await asyncio.sleep(0.05)
    await archive.close()
    names = [f.rsplit("/", 1)[1] for f in store.files("ticks", {"symbol": "OLD", "date": old_day})]
    assert names == ["part.parquet"]
    assert read_ticks(store, "OLD", old_day).num_rows == 10
