"""The common market-data models every provider returns: Bar, Quote and the intervals."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2200, 12, 31)
"""The days a request may name (a backtest's or a drift report's `start`/`end`)."""


def check_day(value: date) -> date:
    """`value` if it lies in FIRST_DAY..LAST_DAY, else a ValueError naming the range."""
    if not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(f"{value} is outside {FIRST_DAY}..{LAST_DAY}")
    return value


Interval = Literal["1m", "5m", "15m", "30m", "60m", "1d"]
INTERVALS: tuple[str, ...] = get_args(Interval)
INTRADAY: frozenset[str] = frozenset(INTERVALS) - {"1d"}

Adjustment = Literal["none", "split", "split_dividend"]
"""How a bar's OHLC were adjusted by its source: 'none' = as traded; 'split' = split-adjusted
(Yahoo's raw OHLC); 'split_dividend' = split- and dividend-adjusted. `adj_close`, when present,
is always split- and dividend-adjusted."""

MarketProvider = Literal["alphavantage", "yahoo", "coingecko"]
"""The market-data providers called over HTTP (each has a client in `shared/providers/`).
The one list of providers: every other list below and elsewhere is derived from it."""
MARKET_PROVIDERS: tuple[MarketProvider, ...] = get_args(MarketProvider)

IngestProvider = Literal[MarketProvider, "sample"]
"""What ingestion can run: the HTTP providers and the bundled offline sample data."""
INGEST_PROVIDERS: tuple[IngestProvider, ...] = get_args(IngestProvider)

Source = Literal[MarketProvider, "finnhub", "replay", "sample", "test"]
"""`replay`: a quote the local host's relay made from REPLAYED trades (condition `replay`)."""


def interval_length(interval: str) -> timedelta:
    """The duration of one bar of `interval`."""
    if interval == "1d":
        return timedelta(days=1)
    return timedelta(minutes=int(interval.removesuffix("m")))


def as_utc(value: datetime) -> datetime:
    """`value` in UTC; naive datetimes are taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class Bar(BaseModel):
    """One OHLCV bar. `ts` is the bar's start in UTC (daily bars: 00:00 UTC of the session's
    date). NaN and infinities are rejected: a row without a real price is not a bar."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    symbol: str
    interval: Interval
    ts: AwareDatetime
    open: float
    high: float
    low: float
    close: float
    volume: float | None = Field(None, description="None where the source has no volume.")
    adj_close: float | None = None
    source: Source
    adjustment: Adjustment = "none"

    @field_validator("ts")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


class Quote(BaseModel):
    """The latest price of a symbol as one provider saw it."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    symbol: str
    price: float
    change: float | None = None
    change_percent: float | None = None
    volume: float | None = None
    ts: AwareDatetime
    source: Source

    @field_validator("ts")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)
