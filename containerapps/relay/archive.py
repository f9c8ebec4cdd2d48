"""The tick archive: every received trade, spooled to disk at once and merged into the
Parquet lake per symbol and day.

Trades are appended to the current spool segment (a tab-separated file) as they arrive.
Every flush interval (and on shutdown) the segment is sealed and added to the lake dataset
`ticks`, partitioned `symbol=<S>/date=<YYYY-MM-DD>` (UTC), as one Parquet part per
partition named after the segment, so a flush costs the new trades only, however long the
day has run (merging would rewrite the whole day every flush). Rows are keyed by (`ts`,
`key`) where `key` hashes the symbol, time, price, volume, conditions and `seq`. Only after
the parts are written is the segment deleted; a crash in between replays the segment at the
next start and rewrites the same parts, so delivery into the lake is at-least-once and it
holds each trade once. Parts are compacted as they pile up (de-duplicated by key), and a
finished day is folded into one file; `read_ticks` de-duplicates by key too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import re
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from shared.config import Settings
from shared.feed.trades import Trade
from shared.storage.lake import COMPACTED_PREFIX, ParquetLake, dedupe_sorted, is_part_file

log = logging.getLogger("relay.archive")

DATASET = "ticks"
PARTITION_BY = ("symbol", "date")
KEY = ("ts", "key")
SPOOL_COLUMNS = ("symbol", "price", "volume", "ts", "seq", "conditions")
SUFFIX = ".tsv"
COMPACT_AFTER_PARTS = 64


@dataclass
class ArchiveStats:
    received: int = 0
    archived: int = 0
    segments_flushed: int = 0
    flush_errors: int = 0
    last_flush: float = 0.0
    last_error: str = ""
    merged_by_pid: int = 0
    quarantined: int = 0


def _read_segment(path: Path) -> pa.Table:
    options = pacsv.ParseOptions(delimiter="\t", quote_char=False, escape_char=False)
    types = {
        "symbol": pa.string(),
        "price": pa.float64(),
        "volume": pa.float64(),
        "ts": pa.int64(),
        "seq": pa.int32(),
        "conditions": pa.string(),
    }
    try:
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=list(SPOOL_COLUMNS)),
            parse_options=options,
            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False),
        )
    except pa.ArrowInvalid:
        log.warning("spool segment %s has a torn line; reading it line by line", path.name)
    rows: dict[str, list[object]] = {name: [] for name in SPOOL_COLUMNS}
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) != len(SPOOL_COLUMNS):
            continue
        try:
            values = (parts[0], float(parts[1]), float(parts[2]), int(parts[3]), int(parts[4]))
        except ValueError:
            continue
        for name, value in zip(SPOOL_COLUMNS, (*values, parts[5]), strict=True):
            rows[name].append(value)
    return pa.table({name: pa.array(rows[name], type=types[name]) for name in SPOOL_COLUMNS})


def ticks_table(spool: pa.Table) -> pa.Table:
    """The lake rows of spooled trades: partition columns, typed values and the key."""
    frame = pd.DataFrame(
        {
            "symbol": spool["symbol"].to_numpy(zero_copy_only=False),
            "ts": spool["ts"].to_numpy(),
            "price": spool["price"].to_numpy(),
            "volume": spool["volume"].to_numpy(),
            "conditions": spool["conditions"].to_numpy(zero_copy_only=False),
            "seq": spool["seq"].to_numpy(),
        }
    )
    key = pd.util.hash_pandas_object(frame, index=False).to_numpy().view("int64")
    ts = pc.cast(spool["ts"], pa.timestamp("ms", tz="UTC"))
    conditions = pc.split_pattern(spool["conditions"], "|")
    empty = pc.equal(spool["conditions"], "")
    conditions = pc.if_else(empty, pa.scalar([], pa.list_(pa.string())), conditions)
    return pa.table(
        {
            "symbol": spool["symbol"],
            "date": pc.strftime(ts, format="%Y-%m-%d"),
            "ts": ts,
            "price": spool["price"],
            "volume": spool["volume"],
            "conditions": conditions,
            "seq": spool["seq"],
            "key": pa.array(key, type=pa.int64()),
        }
    )


def _clean(text: str) -> str:
    return text.replace("\t", " ").replace("\n", " ").replace("|", "/")


class UnreadableSegmentError(Exception):
    """A spool segment whose content cannot become lake rows (retrying will not help)."""


def merge_segment(lake: ParquetLake, path: Path, today: str | None = None) -> int:
    """Add one sealed spool segment to the lake and compact what is due; returns its trades.

    The segment becomes one part per symbol/day partition, named after the segment (a
    replay rewrites the same part). Then, per partition it touched: a day before `today`
    (UTC) is folded into its base file; otherwise, once `COMPACT_AFTER_PARTS` parts have
    piled up, they are folded into one; and a day's first part folds every earlier day of
    that symbol that still has parts."""
    try:
        spool = _read_segment(path)
        table = ticks_table(spool) if spool.num_rows else None
    except Exception as error:
        raise UnreadableSegmentError(f"{path.name}: {type(error).__name__}: {error}") from None
    if table is None:
        return 0
    today = today or _today()
    appended = lake.append(DATASET, table, partition_by=PARTITION_BY, part=path.stem)
    for result in appended:
        _compact_due(lake, result.partition, today)
    return int(spool.num_rows)


def _compact_due(lake: ParquetLake, partition: dict[str, str], today: str) -> None:
    if partition["date"] < today:
        lake.compact(DATASET, partition, key=KEY, into_base=True)
        return
    files = [path.rsplit("/", 1)[1] for path in lake.files(DATASET, partition)]
    loose = [name for name in files if is_part_file(name) and not name.startswith(COMPACTED_PREFIX)]
    if len(loose) >= COMPACT_AFTER_PARTS:
        lake.compact(DATASET, partition, key=KEY, into_base=False)
    if len(files) == 1:
        fold_days_before(lake, partition["date"], partition["symbol"])


def fold_days_before(lake: ParquetLake, before: str, symbol: str | None = None) -> int:
    """Fold every day before `before` (of `symbol`, or of every symbol) that still has parts
    into one file; returns the days folded. Runs on a symbol's first part of a day (weekends,
    holidays and pauses are caught up when it trades again) and once at start for all
    symbols (those that stopped trading)."""
    under = {"symbol": symbol} if symbol is not None else None
    days = {
        (found.values["symbol"], found.values["date"])
        for found in lake.partitions(DATASET, under=under)
        if is_part_file(found.path.rsplit("/", 1)[1])
        and "symbol" in found.values
        and found.values.get("date", before) < before
    }
    for name, day in sorted(days):
        lake.compact(DATASET, {"symbol": name, "date": day}, key=KEY, into_base=True)
    return len(days)


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


_worker_lake: ParquetLake | None = None


def _start_merge_worker(settings: Settings, relay_pid: int) -> None:
    """Build the child's lake; lower its CPU priority, so when cores are short the trade
    path runs first and the merge takes what is left (the spool keeps it safe meanwhile)."""
    global _worker_lake
    from shared.storage import factory

    with contextlib.suppress(OSError, AttributeError):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    threading.Thread(target=_exit_with_parent, args=(relay_pid,), daemon=True).start()
    _worker_lake = factory.lake(settings)


def _exit_with_parent(parent: int) -> None:
    """End the merge child once the relay is gone (even SIGKILLed): the worker holds its own
    end of the task queue, so it would otherwise wait for work forever."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def _merge_in_worker(path: str) -> tuple[int, int]:
    assert _worker_lake is not None
    return merge_segment(_worker_lake, Path(path)), os.getpid()


def _fold_in_worker(before: str) -> int:
    assert _worker_lake is not None
    return fold_days_before(_worker_lake, before)


class TickArchive:
    """Spool + lake merge; see the module docstring. `append` runs on the event loop;
    merges run on sealed segments only, in a worker thread on `lake`, or, given
    `merge_settings`, in one child process holding its own lake built from them: a merge
    costs about 10 ms of CPU per 1,000 trades (Parquet read, dedupe, write), and in a child
    it competes for a core but not for this process's GIL, so the trade path keeps its
    latency while a flush runs. The child only gets idle CPU: under sustained overload the
    merges fall behind while the spool (on its volume) keeps every trade, and /readyz shows
    `pendingSegments` growing."""

    def __init__(
        self,
        lake: ParquetLake,
        spool_dir: Path,
        relay_id: str,
        *,
        merge_settings: Settings | None = None,
    ) -> None:
        self.lake = lake
        self.spool_dir = spool_dir
        self.relay_id = re.sub(r"[^A-Za-z0-9_.-]", "-", relay_id) or "relay"
        self.stats = ArchiveStats()
        self._current: IO[str] | None = None
        self._current_path: Path | None = None
        self._current_rows = 0
        self._sealed: list[Path] = []
        self._merge_lock = asyncio.Lock()
        self._merge_settings = merge_settings
        self._pool: ProcessPoolExecutor | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None

    def open(self) -> None:
        """Create the spool folder, queue leftover segments from an earlier run for merging,
        and open a fresh segment."""
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        leftovers = sorted(self.spool_dir.glob(f"*{SUFFIX}"))
        if leftovers:
            log.info("archive: %d spool segments from an earlier run to merge", len(leftovers))
        self._sealed.extend(leftovers)
        self._open_segment()

    def _open_segment(self) -> None:
        self._current_path = self.spool_dir / f"{self.relay_id}-{time.time_ns():020d}{SUFFIX}"
        self._current = self._current_path.open("a", encoding="utf-8", buffering=1 << 16)
        self._current_rows = 0

    def append(self, trades: tuple[Trade, ...] | list[Trade]) -> None:
        """Spool trades (written through to the OS before returning)."""
        if self._current is None:
            raise RuntimeError("archive is not open")
        self._current.write(
            "".join(
                f"{t.symbol}\t{t.price!r}\t{t.volume!r}\t{t.ts_ms}\t{t.seq}\t"
                f"{'|'.join(map(_clean, t.conditions)) if t.conditions else ''}\n"
                for t in trades
            )
        )
        self._current.flush()
        self._current_rows += len(trades)
        self.stats.received += len(trades)

    def seal(self) -> None:
        """Close the current segment (if it holds trades) and start a new one."""
        if self._current is None or self._current_rows == 0:
            return
        self._current.close()
        assert self._current_path is not None
        self._sealed.append(self._current_path)
        self._open_segment()

    async def flush(self) -> int:
        """Seal the current segment and merge every sealed one into the lake, oldest first;
        returns trades merged. A failing segment stays spooled for the next flush."""
        self.seal()
        merged = 0
        async with self._merge_lock:
            while self._sealed:
                path = self._sealed[0]
                try:
                    rows = await self._merge(path)
                except UnreadableSegmentError as error:
                    self._quarantine(path, error)
                    continue
                except Exception as error:
                    self.stats.flush_errors += 1
                    self.stats.last_error = f"{type(error).__name__}: {error}"
                    log.exception("archive: merging %s failed; will retry", path.name)
                    return merged
                path.unlink(missing_ok=True)
                self._sealed.pop(0)
                merged += rows
                self.stats.archived += rows
                self.stats.segments_flushed += 1
            self.stats.last_flush = time.time()
        return merged

    def _quarantine(self, path: Path, error: UnreadableSegmentError) -> None:
        """Move a segment that can never be merged aside (kept for a person to look at), so
        the segments after it are not held up behind it."""
        target = self.spool_dir / "quarantine" / path.name
        target.parent.mkdir(exist_ok=True)
        path.replace(target)
        self._sealed.pop(0)
        self.stats.quarantined += 1
        self.stats.last_error = str(error)
        log.error("archive: %s; moved to %s", error, target)

    async def _merge(self, path: Path) -> int:
        if self._merge_settings is None:
            loop = asyncio.get_running_loop()
            rows = await loop.run_in_executor(self._merge_thread(), merge_segment, self.lake, path)
            self.stats.merged_by_pid = os.getpid()
            return rows
        loop = asyncio.get_running_loop()
        try:
            rows, self.stats.merged_by_pid = await loop.run_in_executor(
                self._merge_pool(), _merge_in_worker, str(path)
            )
        except BrokenProcessPool:
            self._pool = None
            raise
        return rows

    def _merge_thread(self) -> ThreadPoolExecutor:
        if self._thread is None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="archive")
        return self._thread

    def _merge_pool(self) -> ProcessPoolExecutor:
        settings = self._merge_settings
        assert settings is not None
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_merge_worker,
                initargs=(settings, os.getpid()),
            )
        return self._pool

    async def fold_finished_days(self) -> int:
        """Fold every finished day that still has parts (once at start); errors are logged."""
        loop = asyncio.get_running_loop()
        try:
            async with self._merge_lock:
                if self._merge_settings is not None:
                    return await loop.run_in_executor(self._merge_pool(), _fold_in_worker, _today())
                return await loop.run_in_executor(
                    self._merge_thread(), fold_days_before, self.lake, _today()
                )
        except Exception:
            log.exception("archive: folding finished days failed; the next start tries again")
            return 0

    async def run(self, interval: float) -> None:
        await self.fold_finished_days()
        while True:
            await asyncio.sleep(interval)
            await self.flush()

    def start(self, interval: float) -> None:
        """Flush every `interval` seconds; start the merge child now (it takes a second or
        two of CPU to import its libraries, better spent before the first flush)."""
        if self._merge_settings is not None:
            self._merge_pool().submit(os.getpid)
        self._task = asyncio.create_task(self.run(interval), name="archive-flush")

    async def close(self, merge_seconds: float = 20.0) -> int:
        """Stop the interval flush, seal and merge everything (SIGTERM path) within
        `merge_seconds`. What is not merged by then stays in the spool, where the next
        start finds it; the merge child ends with this process."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        finished = True
        try:
            async with asyncio.timeout(merge_seconds):
                merged = await self.flush()
        except TimeoutError:
            finished, merged = False, 0
            log.warning(
                "archive: merging did not finish in %.0f s; %d spool segments left for the "
                "next start",
                merge_seconds,
                len(self._sealed),
            )
        for executor in (self._pool, self._thread):
            if executor is not None:
                await asyncio.to_thread(executor.shutdown, finished)
        self._pool = self._thread = None
        if self._current is not None:
            self._current.close()
            if self._current_rows == 0 and self._current_path is not None:
                self._current_path.unlink(missing_ok=True)
            self._current = None
        return merged

    @property
    def pending(self) -> int:
        return len(self._sealed) + (1 if self._current_rows else 0)


def read_ticks(lake: ParquetLake, symbol: str, day: str | None = None) -> pa.Table:
    """Archived trades of `symbol` (optionally one UTC day `YYYY-MM-DD`), in time order."""
    filters: list[tuple[str, str, object]] = [("symbol", "=", symbol)]
    if day is not None:
        filters.append(("date", "=", day))
    table = lake.read(DATASET, filters)
    if table.num_rows == 0:
        return table
    return dedupe_sorted(table, KEY).sort_by([("ts", "ascending"), ("seq", "ascending")])
