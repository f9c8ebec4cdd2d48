"""A run's data: the lake's bars, the Parquet snapshots a run works on, and the results
container its files go to."""

from __future__ import annotations

import io
from datetime import date
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from shared.backtest import BarsFrame
from shared.config import get_settings
from shared.ingest.query import lake_bar_count, lake_bars
from shared.storage.blob import BlobStore
from shared.storage.factory import blob_store

PARQUET = "application/vnd.apache.parquet"


def read_bars(symbol: str, interval: str, start: date | None, end: date | None) -> BarsFrame:
    """The lake's bars (dataset "bars", written by ingestion) of one series in [start, end]."""
    bars: BarsFrame = lake_bars(symbol, interval, start, end)
    return bars


def bar_count(symbol: str, interval: str, start: date | None, end: date | None) -> int:
    """How many bars `read_bars` would return, from the lake's metadata (no bar read)."""
    return lake_bar_count(symbol, interval, start, end)


def results_store() -> BlobStore:
    return blob_store(get_settings().results_container)


def snapshot_blob(run_id: str, symbol: str) -> str:
    return f"runs/{run_id}/data/{symbol}.parquet"


def results_prefix(run_id: str, symbol: str) -> str:
    """Where a run's result files of `symbol` are stored (leaderboard, tables, chart)."""
    return f"runs/{run_id}/{symbol}"


def chunks_prefix(run_id: str, symbol: str) -> str:
    """Where a run's chunk results of `symbol` are stored (each chunk's blob starts so)."""
    return f"runs/{run_id}/chunks/{symbol}/"


@lru_cache(maxsize=8)
def _cached_bars(name: str, etag: str) -> BarsFrame:
    table = pq.read_table(io.BytesIO(results_store().get(name)))

    def column(name: str) -> np.ndarray:
        return np.ascontiguousarray(table[name].to_numpy(), dtype=np.float64)

    ts = np.ascontiguousarray(table["ts"].cast(pa.int64()).to_numpy())
    return BarsFrame(
        ts, column("open"), column("high"), column("low"), column("close"), column("volume")
    )


def load_snapshot(name: str, symbol: str) -> BarsFrame:
    """The bars of a run's snapshot `name` (Parquet; cached per worker process)."""
    bars = _cached_bars(name, results_store().info(name).etag)
    return BarsFrame(bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume, symbol)
