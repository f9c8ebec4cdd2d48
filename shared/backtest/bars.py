"""`BarsFrame`: OHLCV bars as contiguous float64 arrays, loaded from pandas or Parquet."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from shared.errors import InvalidInput

COLUMNS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True, eq=False)
class BarsFrame:
    """Bars of one symbol and interval in time order. `ts` is UTC epoch nanoseconds."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    symbol: str = ""

    def __len__(self) -> int:
        return int(self.close.shape[0])

    def slice(self, start: int, stop: int) -> BarsFrame:
        """Bars [start, stop) as views (no copy)."""
        return BarsFrame(
            self.ts[start:stop],
            self.open[start:stop],
            self.high[start:stop],
            self.low[start:stop],
            self.close[start:stop],
            self.volume[start:stop],
            self.symbol,
        )

    def index(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(pd.to_datetime(self.ts, unit="ns", utc=True))

    def to_frame(self) -> pd.DataFrame:
        """Columns Open/High/Low/Close/Volume on a UTC DatetimeIndex (backtesting.py's layout)."""
        return pd.DataFrame(
            {
                "Open": self.open,
                "High": self.high,
                "Low": self.low,
                "Close": self.close,
                "Volume": self.volume,
            },
            index=self.index(),
        )

    def to_parquet(self) -> bytes:
        table = pa.table(
            {
                "ts": pa.array(self.ts, type=pa.timestamp("ns", tz="UTC")),
                **{c: pa.array(getattr(self, c)) for c in COLUMNS},
            }
        )
        sink = io.BytesIO()
        pq.write_table(table, sink)
        return sink.getvalue()

    def annual_periods(self) -> float:
        """Return periods per year backtesting.py would use: 252 (or 365 with weekends) for
        daily or finer bars (returns are taken per calendar day), 52 weekly, 12 monthly."""
        if len(self) < 2:
            return 252.0
        step_days = float(np.median(np.diff(self.ts[: min(len(self), 1000)]))) / 86_400e9
        if 6.5 <= step_days <= 7.5:
            return 52.0
        if 27 <= step_days <= 32:
            return 12.0
        if step_days >= 360:
            return 1.0
        days = (self.ts // 86_400_000_000_000 + 3) % 7  # 0 = Monday (1970-01-01 a Thursday)
        weekend_share = float(np.mean(days >= 5))
        return 365.0 if weekend_share > 2 / 7 * 0.6 else 252.0


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    for candidate in (name, name.capitalize(), name.upper()):
        if candidate in frame.columns:
            return np.ascontiguousarray(frame[candidate].to_numpy(dtype=np.float64))
    if name == "volume":
        return np.zeros(len(frame), dtype=np.float64)
    raise InvalidInput(f"bars need a {name!r} column; got {list(frame.columns)}")


def _timestamps(frame: pd.DataFrame) -> np.ndarray:
    for candidate in ("ts", "timestamp", "time", "date", "Date"):
        if candidate in frame.columns:
            values = pd.DatetimeIndex(pd.to_datetime(frame[candidate], utc=True))
            return np.ascontiguousarray(values.as_unit("ns").asi8.astype(np.int64))
    if isinstance(frame.index, pd.DatetimeIndex):
        index = frame.index if frame.index.tz is not None else frame.index.tz_localize("UTC")
        return np.ascontiguousarray(index.as_unit("ns").asi8.astype(np.int64))
    raise InvalidInput("bars need a 'ts' column or a DatetimeIndex")


def _utc(moment: pd.Timestamp | str) -> int:
    stamp = pd.Timestamp(moment)
    return int((stamp.tz_localize("UTC") if stamp.tz is None else stamp).value)


def load_bars(
    source: pd.DataFrame | bytes | str | Path,
    *,
    symbol: str = "",
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
) -> BarsFrame:
    """Bars from a DataFrame (columns open/high/low/close[/volume] in any case, time in a `ts`
    column or the index), Parquet bytes, or a Parquet file path; optionally cut to
    [start, end]. Rows with a missing price are refused with the rows named."""
    if isinstance(source, bytes):
        frame = pq.read_table(io.BytesIO(source)).to_pandas()
    elif isinstance(source, str | Path):
        frame = pq.read_table(str(source)).to_pandas()
    else:
        frame = source
    ts = _timestamps(frame)
    arrays = {c: _column(frame, c) for c in COLUMNS}
    order = np.argsort(ts, kind="stable")
    if not np.all(order == np.arange(len(ts))):
        ts = ts[order]
        arrays = {c: np.ascontiguousarray(a[order]) for c, a in arrays.items()}
    mask = np.ones(len(ts), dtype=bool)
    if start is not None:
        mask &= ts >= _utc(start)
    if end is not None:
        mask &= ts <= _utc(end)
    if not mask.all():
        ts = ts[mask]
        arrays = {c: np.ascontiguousarray(a[mask]) for c, a in arrays.items()}
    prices = np.vstack([arrays[c] for c in ("open", "high", "low", "close")])
    bad = np.flatnonzero(~np.isfinite(prices).all(axis=0))
    if bad.size:
        raise InvalidInput(
            f"{bad.size} bar(s) have a missing price (first rows {bad[:5].tolist()}); "
            "drop or fill them first, e.g. frame.dropna()"
        )
    return BarsFrame(ts=ts, symbol=symbol, **arrays)
