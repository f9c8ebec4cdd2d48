"""Real GOOG daily bars (shipped with backtesting.py) written into the lake as ingestion does."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from backtesting.test import GOOG

from shared.backtest import BarsFrame, load_bars
from shared.ingest.bars import BarLake
from shared.market.models import Bar
from shared.storage.factory import lake


def goog_frame() -> pd.DataFrame:
    frame = GOOG.rename(columns=str.lower).copy()
    frame.index = pd.DatetimeIndex(frame.index).tz_localize("UTC")
    return frame


def write_bars(
    symbol: str = "GOOG", interval: str = "1d", frame: pd.DataFrame | None = None
) -> BarsFrame:
    """Merge bars into the lake's "bars" dataset through the ingestion code; return them as
    the engine loads them."""
    frame = goog_frame() if frame is None else frame
    bars = [
        Bar(
            symbol=symbol,
            interval=interval,
            ts=ts.to_pydatetime(),
            open=row.open,
            high=row.high,
            low=row.low,
            close=row.close,
            volume=float(row.volume),
            source="sample",
        )
        for ts, row in zip(frame.index, frame.itertuples(), strict=True)
    ]
    BarLake(lake()).merge(bars, ingested_at=datetime(2026, 1, 1, tzinfo=UTC))
    return load_bars(frame, symbol=symbol)
