"""Best and worst excursion during a trade (MFE / MAE) from the lake's bars.

Intraday bars are used when the lake has any for the trade's symbol over its holding
period (the finest interval first), else daily bars; the result says which. The bars
taken are those overlapping the holding period, so a bar that starts before the entry or
ends after the exit contributes its whole range: with daily bars that is the whole first
and last session, a coarser (never narrower) excursion than the trade saw.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

import pyarrow.compute as pc
from pydantic import Field

from shared.api_model import ApiModel
from shared.ingest.bars import BarLake, TooManyBars
from shared.journal.models import Trade

MAX_BARS = 50_000
INTRADAY_MINUTES = {"1m": 1, "5m": 5, "15m": 15, "30m": 30, "60m": 60}


class Excursion(ApiModel):
    """How far price moved for and against a trade while it was open."""

    trade_id: str
    symbol: str
    basis: Literal["intraday", "daily", "none"] = Field(
        description="Which bars the figures come from ('none': the lake has no bars)."
    )
    interval: str | None
    bars: int
    mfe: float | None = Field(description="Maximum favorable excursion per unit (>= 0).")
    mae: float | None = Field(description="Maximum adverse excursion per unit (>= 0).")
    mfe_money: float | None = Field(description="mfe x largest position x multiplier (base).")
    mae_money: float | None
    high: float | None
    low: float | None


def _window(trade: Trade, interval: str) -> tuple[datetime, datetime]:
    end_at = trade.closed_at or datetime.now(UTC)
    if interval == "1d":
        start = datetime.combine(trade.opened_at.date(), datetime.min.time(), tzinfo=UTC)
        end = datetime.combine(end_at.date(), datetime.min.time(), tzinfo=UTC)
        return start, end + timedelta(days=1)
    step = timedelta(minutes=INTRADAY_MINUTES[interval])
    return trade.opened_at - step + timedelta(microseconds=1), end_at + timedelta(microseconds=1)


def excursion(bars: BarLake, trade: Trade) -> Excursion:
    """MFE/MAE of `trade` from the finest bars the lake has over its holding period."""
    for interval in (*INTRADAY_MINUTES, "1d"):
        start, end = _window(trade, interval)
        try:
            table = bars.read(trade.symbol, interval, start, end, max_rows=MAX_BARS)
        except TooManyBars:
            continue  # a long holding period: a coarser interval bounds the read
        if table.num_rows == 0:
            continue
        high = float(pc.max(table["high"]).as_py())
        low = float(pc.min(table["low"]).as_py())
        if trade.side == "long":
            mfe, mae = high - trade.entry_price, trade.entry_price - low
        else:
            mfe, mae = trade.entry_price - low, high - trade.entry_price
        mfe, mae = max(mfe, 0.0), max(mae, 0.0)
        size = trade.max_position * trade.multiplier * trade.fx_rate
        return Excursion(
            trade_id=trade.id,
            symbol=trade.symbol,
            basis="daily" if interval == "1d" else "intraday",
            interval=interval,
            bars=table.num_rows,
            mfe=mfe,
            mae=mae,
            mfe_money=mfe * size,
            mae_money=mae * size,
            high=high,
            low=low,
        )
    return Excursion(
        trade_id=trade.id,
        symbol=trade.symbol,
        basis="none",
        interval=None,
        bars=0,
        mfe=None,
        mae=None,
        mfe_money=None,
        mae_money=None,
        high=None,
        low=None,
    )
