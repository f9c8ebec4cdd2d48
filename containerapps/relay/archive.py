"""The tick archive: every received trade, spooled to disk at once and merged into the
Parquet lake per symbol and day.

Trades are appended to the current spool segment (a tab-separated file) as they arrive.
Every flush interval (and on shutdown) the segment is sealed and merged into the lake
dataset `ticks`, partitioned `symbol=<S>/date=<YYYY-MM-DD>` (UTC), keyed by (`ts`, `key`)
where `key` hashes the symbol, time, price, volume, conditions and `seq`. Only after the
merge succeeded is the segment deleted. A crash between merge and delete replays the
segment at the next start; the key makes that merge a no-op. So delivery into the lake is
at-least-once and the lake holds each trade exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from shared.feed.trades import Trade
from shared.storage.lake import ParquetLake

log = logging.getLogger("relay.archive")

DATASET = "ticks"
PARTITION_BY = ("symbol", "date")
KEY = ("ts", "key")
SPOOL_COLUMNS = ("symbol", "price", "volume", "ts", "seq", "conditions")
SUFFIX = ".tsv"


@dataclass
class ArchiveStats:
    received: int = 0
    archived: int = 0
    segments_flushed: int = 0
    flush_errors: int = 0
    last_flush: float = 0.0
    last_error: str = ""


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


class TickArchive:
    """Spool + lake merge; see the module docstring. `append` runs on the event loop;
    merges run in a worker thread on sealed segments only."""

    def __init__(self, lake: ParquetLake, spool_dir: Path, relay_id: str) -> None:
        self.lake = lake
        self.spool_dir = spool_dir
        self.relay_id = re.sub(r"[^A-Za-z0-9_.-]", "-", relay_id) or "relay"
        self.stats = ArchiveStats()
        self._current: IO[str] | None = None
        self._current_path: Path | None = None
        self._current_rows = 0
        self._sealed: list[Path] = []
        self._merge_lock = threading.Lock()
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

    def merge_sealed(self) -> int:
        """Merge every sealed segment into the lake, oldest first; returns trades merged.
        A failing segment stays spooled and is retried at the next flush."""
        merged = 0
        with self._merge_lock:
            while self._sealed:
                path = self._sealed[0]
                try:
                    spool = _read_segment(path)
                    if spool.num_rows:
                        self.lake.merge(
                            DATASET, ticks_table(spool), partition_by=PARTITION_BY, key=KEY
                        )
                except Exception as error:
                    self.stats.flush_errors += 1
                    self.stats.last_error = f"{type(error).__name__}: {error}"
                    log.exception("archive: merging %s failed; will retry", path.name)
                    return merged
                path.unlink(missing_ok=True)
                self._sealed.pop(0)
                merged += spool.num_rows
                self.stats.archived += spool.num_rows
                self.stats.segments_flushed += 1
            self.stats.last_flush = time.time()
        return merged

    async def flush(self) -> int:
        self.seal()
        return await asyncio.to_thread(self.merge_sealed)

    async def run(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.flush()

    def start(self, interval: float) -> None:
        self._task = asyncio.create_task(self.run(interval), name="archive-flush")

    async def close(self) -> int:
        """Stop the interval flush, seal and merge everything (SIGTERM path)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        merged = await self.flush()
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
    return table.sort_by([("ts", "ascending"), ("seq", "ascending")])
