"""`BarsFrame`: OHLCV bars as contiguous float64 arrays, loaded from pandas or Parquet."""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from shared.errors import InvalidInput

COLUMNS = ("open", "high", "low", "close", "volume")
NS_PER_DAY = 86_400_000_000_000
Periodicity = Literal["intraday", "daily", "weekly", "monthly", "yearly"]


@dataclass(frozen=True, eq=False)
class BarsFrame:
    """Bars of one symbol and interval in time order. `ts` is UTC epoch nanoseconds; `tz` is
    the time zone of the index the bars came with (its calendar dates decide the return
    periods: a daily bar dated in Tokyo belongs to that Tokyo date)."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    symbol: str = ""
    tz: str = "UTC"

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
            self.tz,
        )

    def index(self) -> pd.DatetimeIndex:
        """The bar times in the bars' own time zone (`tz`)."""
        index = pd.DatetimeIndex(pd.to_datetime(self.ts, unit="ns", utc=True))
        return index if self.tz == "UTC" else index.tz_convert(self.tz)

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
                "ts": pa.array(self.ts, type=pa.timestamp("ns", tz=self.tz)),
                **{c: pa.array(getattr(self, c)) for c in COLUMNS},
            }
        )
        sink = io.BytesIO()
        pq.write_table(table, sink)
        return sink.getvalue()

    @cached_property
    def local_days(self) -> np.ndarray:
        """Each bar's calendar date in `tz` as days since 1970-01-01 (int64)."""
        if self.tz == "UTC":
            return self.ts // NS_PER_DAY
        wall = self.index().tz_localize(None).as_unit("ns").asi8
        return np.asarray(wall // NS_PER_DAY, dtype=np.int64)

    @cached_property
    def periodicity(self) -> Periodicity:
        """What one bar is, from the median spacing of the first 1,000 bars: `intraday` (under
        a day), `daily`, `weekly` (6.5-7.5 days), `monthly` (27-32) or `yearly` (360 and up)."""
        if len(self) < 2:
            return "daily"
        step_days = float(np.median(np.diff(self.ts[: min(len(self), 1000)]))) / NS_PER_DAY
        if 6.5 <= step_days <= 7.5:
            return "weekly"
        if 27 <= step_days <= 32:
            return "monthly"
        if step_days >= 360:
            return "yearly"
        return "intraday" if step_days < 1 else "daily"

    def annual_periods(self) -> float:
        """Return periods per year, as backtesting.py counts them: 52 weekly, 12 monthly,
        1 yearly; for daily or finer bars (returns are taken per calendar day) 365 when
        weekend dates hold more than 60 % of their share of bars, else 252. Dates are the
        index's own (`tz`), not UTC."""
        kind = self.periodicity
        if kind in ("weekly", "monthly", "yearly"):
            return {"weekly": 52.0, "monthly": 12.0, "yearly": 1.0}[kind]
        if len(self) < 2:
            return 252.0
        weekday = (self.local_days + 3) % 7  # 0 = Monday (1970-01-01 was a Thursday)
        weekend_share = float(np.mean(weekday >= 5))
        return 365.0 if weekend_share > 2 / 7 * 0.6 else 252.0

    def period_ends(self) -> np.ndarray:
        """True on the last bar of each return period in the index's own calendar: the local
        day for daily and intraday bars (backtesting.py resamples equity to days), the week
        (Monday to Sunday), the month or the year for coarser bars."""
        days = self.local_days
        kind = self.periodicity
        if kind == "weekly":
            key = (days + 3) // 7
        elif kind in ("monthly", "yearly"):
            dates = days.astype("datetime64[D]")
            unit = "M" if kind == "monthly" else "Y"
            key = dates.astype(f"datetime64[{unit}]").astype(np.int64)
        else:
            key = days
        ends = np.empty(key.shape[0], dtype=np.bool_)
        if key.shape[0]:
            ends[:-1] = key[1:] != key[:-1]
            ends[-1] = True
        return ends

    def annualisation(self) -> dict[str, str | float]:
        """How returns are annualised for these bars (reported with every result)."""
        return {
            "periodicity": self.periodicity,
            "period": {"weekly": "week", "monthly": "month", "yearly": "year"}.get(
                self.periodicity, "day"
            ),
            "periodsPerYear": self.annual_periods(),
            "timeZone": self.tz,
        }


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    for candidate in (name, name.capitalize(), name.upper()):
        if candidate in frame.columns:
            try:
                return np.ascontiguousarray(frame[candidate].to_numpy(dtype=np.float64))
            except (ValueError, TypeError) as exc:
                raise InvalidInput(f"bars column {candidate!r} is not numeric: {exc}") from None
    if name == "volume":
        return np.zeros(len(frame), dtype=np.float64)
    raise InvalidInput(f"bars need a {name!r} column; got {list(frame.columns)}")


def _timestamps(frame: pd.DataFrame) -> tuple[np.ndarray, str]:
    """UTC epoch nanoseconds and the time zone of the given times (naive times are UTC)."""
    try:
        return _parse_times(frame)
    except InvalidInput:
        raise
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidInput(f"bar times cannot be read as timestamps: {exc}") from None


def _parse_times(frame: pd.DataFrame) -> tuple[np.ndarray, str]:
    for candidate in ("ts", "timestamp", "time", "date", "Date"):
        if candidate in frame.columns:
            try:
                given = pd.DatetimeIndex(pd.to_datetime(frame[candidate]))
            except (ValueError, TypeError):  # mixed offsets: one UTC calendar
                given = pd.DatetimeIndex(pd.to_datetime(frame[candidate], utc=True))
            return _utc_ns(given), _zone(given)
    if isinstance(frame.index, pd.DatetimeIndex):
        return _utc_ns(frame.index), _zone(frame.index)
    raise InvalidInput("bars need a 'ts' column or a DatetimeIndex")


def _utc_ns(index: pd.DatetimeIndex) -> np.ndarray:
    index = index if index.tz is not None else index.tz_localize("UTC")
    return np.ascontiguousarray(index.as_unit("ns").asi8.astype(np.int64))


def _zone(index: pd.DatetimeIndex) -> str:
    return "UTC" if index.tz is None else str(index.tz)


def _utc(moment: pd.Timestamp | str) -> int:
    stamp = pd.Timestamp(moment)
    return int((stamp.tz_localize("UTC") if stamp.tz is None else stamp).value)


REPAIRS = ("sort", "drop_duplicates", "drop_invalid", "fix_high_low")
"""What `load_bars(..., repair=...)` may repair; `repair=True` means all of them:

- `sort`: put the bars in time order (stable);
- `drop_duplicates`: keep the last bar of each repeated timestamp (after sorting);
- `drop_invalid`: drop bars with no time or a missing, infinite, zero or negative price;
- `fix_high_low`: widen High/Low to the largest/smallest of Open, High, Low, Close."""


def load_bars(
    source: pd.DataFrame | bytes | str | Path,
    *,
    symbol: str = "",
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
    repair: bool | Iterable[str] = (),
) -> BarsFrame:
    """Bars from a DataFrame (columns open/high/low/close[/volume] in any case, time in a `ts`
    column or the index), Parquet bytes, or a Parquet file path; optionally cut to
    [start, end].

    Bad bars are refused (`InvalidInput` naming the rows, as positions in `source` with their
    times, and the fix): timestamps out of order or repeated, a missing, infinite, zero or
    negative price, High below Low. `repair` names repairs to apply instead (see `REPAIRS`;
    True for all)."""
    repairs = _repairs(repair)
    if isinstance(source, bytes | str | Path):
        try:
            table = pq.read_table(io.BytesIO(source) if isinstance(source, bytes) else str(source))
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise InvalidInput(f"bars could not be read as Parquet: {exc}") from None
        frame = table.to_pandas()
    elif isinstance(source, pd.DataFrame):
        frame = source
    else:
        raise InvalidInput(f"bars must be a DataFrame, Parquet bytes or a path, not {type(source)}")
    ts, tz = _timestamps(frame)
    arrays = {c: _column(frame, c) for c in COLUMNS}
    rows = np.arange(len(ts))  # positions in `source`, for the messages
    mask = np.ones(len(ts), dtype=bool)
    if start is not None:
        mask &= ts >= _utc(start)
    if end is not None:
        mask &= ts <= _utc(end)
    if not mask.all():
        ts, rows = ts[mask], rows[mask]
        arrays = {c: a[mask] for c, a in arrays.items()}

    def keep(selected: np.ndarray) -> None:
        nonlocal ts, rows, arrays
        ts, rows = ts[selected], rows[selected]
        arrays = {c: a[selected] for c, a in arrays.items()}

    untimed = np.flatnonzero(ts == np.iinfo(np.int64).min)  # NaT
    if untimed.size:
        if "drop_invalid" not in repairs:
            raise InvalidInput(
                f"{untimed.size} bar(s) have no time (rows {rows[untimed[:5]].tolist()}): "
                "drop them (frame.dropna()) or pass repair=['drop_invalid']"
            )
        keep(ts != np.iinfo(np.int64).min)
    back = np.flatnonzero(np.diff(ts) < 0) + 1
    if back.size:
        if "sort" not in repairs:
            raise InvalidInput(
                f"{back.size} bar(s) come before the bar above them ({_where(rows, ts, back)}): "
                "bars must be in time order; sort them (frame.sort_index()) or pass "
                "repair=['sort']"
            )
        keep(np.argsort(ts, kind="stable"))
    repeated = np.flatnonzero(np.diff(ts) == 0) + 1
    if repeated.size:
        if "drop_duplicates" not in repairs:
            raise InvalidInput(
                f"{repeated.size} bar(s) repeat the timestamp of the bar above them "
                f"({_where(rows, ts, repeated)}): keep one bar per time "
                "(frame[~frame.index.duplicated(keep='last')]) or pass "
                "repair=['drop_duplicates'] (keeps the last)"
            )
        last = np.ones(len(ts), dtype=bool)
        last[repeated - 1] = False
        keep(last)
    prices = np.vstack([arrays[c] for c in ("open", "high", "low", "close")])
    with np.errstate(invalid="ignore"):
        invalid = np.flatnonzero(~(np.isfinite(prices) & (prices > 0)).all(axis=0))
    if invalid.size:
        if "drop_invalid" not in repairs:
            raise InvalidInput(
                f"{invalid.size} bar(s) have a missing, infinite, zero or negative price "
                f"({_where(rows, ts, invalid)}): drop or fix them (e.g. frame.dropna(), "
                "frame[frame[['Open', 'High', 'Low', 'Close']].gt(0).all(axis=1)]) or pass "
                "repair=['drop_invalid']"
            )
        valid = np.ones(len(ts), dtype=bool)
        valid[invalid] = False
        keep(valid)
    inverted = np.flatnonzero(arrays["high"] < arrays["low"])
    if inverted.size and "fix_high_low" not in repairs:
        raise InvalidInput(
            f"{inverted.size} bar(s) have High below Low ({_where(rows, ts, inverted)}): "
            "fix the data or pass repair=['fix_high_low'] (High and Low widened to the "
            "largest and smallest of Open, High, Low, Close)"
        )
    if "fix_high_low" in repairs and len(ts):
        stacked = np.vstack([arrays[c] for c in ("open", "high", "low", "close")])
        arrays["high"] = stacked.max(axis=0)
        arrays["low"] = stacked.min(axis=0)
    arrays = {c: np.ascontiguousarray(a, dtype=np.float64) for c, a in arrays.items()}
    return BarsFrame(ts=np.ascontiguousarray(ts), symbol=symbol, tz=tz, **arrays)


def _repairs(repair: bool | Iterable[str]) -> frozenset[str]:
    if repair is True:
        return frozenset(REPAIRS)
    if repair is False:
        return frozenset()
    if isinstance(repair, str):
        repair = [repair]
    chosen = frozenset(repair)
    unknown = chosen - set(REPAIRS)
    if unknown:
        raise InvalidInput(
            f"unknown bar repair {', '.join(sorted(unknown))}; choose from {', '.join(REPAIRS)}"
        )
    return chosen


def _where(rows: np.ndarray, ts: np.ndarray, found: np.ndarray, limit: int = 5) -> str:
    """'rows 3 (2024-01-04T00:00:00Z), 7 (...)' for the first `limit` of `found`."""
    shown = [
        f"{int(rows[k])} ({pd.Timestamp(int(ts[k]), unit='ns', tz='UTC').isoformat()})"
        for k in found[:limit]
    ]
    more = f" and {found.size - limit} more" if found.size > limit else ""
    return f"row{'s' if found.size > 1 else ''} {', '.join(shown)}{more}"
