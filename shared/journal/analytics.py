"""Performance analytics over a `TradeFrame`: the statistics, the daily curve, the calendar
and the breakdowns, for a date range and filters. Closed trades only; money in the base
currency (each trade converted at the rate its source stated)."""

from __future__ import annotations

import itertools
import math
from datetime import date, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from pydantic import Field, field_validator

from shared.api_model import ApiModel
from shared.journal.snapshot import TradeFrame

EPOCH = date(1970, 1, 1)
TRADING_DAYS = 252
R_EDGES = (-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0)
HOLDING_EDGES = (60.0, 300.0, 1800.0, 7200.0, 86400.0, 5 * 86400.0)
HOLDING_LABELS = ("<1m", "1-5m", "5-30m", "30m-2h", "2h-1d", "1-5d", ">5d")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
BreakdownKey = Literal["symbol", "tag", "setup", "weekday", "hour", "holding", "side", "mistake"]
BREAKDOWNS: tuple[BreakdownKey, ...] = (
    "symbol",
    "tag",
    "setup",
    "weekday",
    "hour",
    "holding",
    "side",
    "mistake",
)


def _csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class JournalFilter(ApiModel):
    """Which trades an analytics query covers (closed trades; dates of the close in `tz`)."""

    from_: date | None = Field(None, alias="from", description="First close date (inclusive).")
    to: date | None = Field(None, description="Last close date (inclusive).")
    symbols: list[str] = Field(default_factory=list, max_length=50)
    tags: list[str] = Field(default_factory=list, max_length=20, description="Any of these.")
    setup: str | None = Field(None, max_length=50)
    strategy: str | None = Field(None, max_length=64)
    side: Literal["long", "short"] | None = None
    broker_account: str | None = Field(None, max_length=64)
    tz: str = Field("UTC", max_length=64, description="IANA time zone for days and hours.")

    @field_validator("symbols", "tags", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return _csv(value)

    @field_validator("symbols")
    @classmethod
    def _upper(cls, value: list[str]) -> list[str]:
        return [item.upper() for item in value]

    @field_validator("tz")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"tz {value!r} is not an IANA time zone") from None
        return value


def select(frame: TradeFrame, f: JournalFilter) -> np.ndarray:
    """Row indices of the closed trades `f` covers, in order of close time."""
    mask = frame.closed.copy()
    day, _, _ = frame.local(f.tz)
    if f.from_ is not None:
        mask &= day >= (f.from_ - EPOCH).days
    if f.to is not None:
        mask &= day <= (f.to - EPOCH).days
    if f.side is not None:
        mask &= frame.side == (1 if f.side == "long" else -1)
    for name, wanted in (
        ("symbol", f.symbols),
        ("setup", [f.setup] if f.setup else []),
        ("strategy", [f.strategy] if f.strategy else []),
        ("broker_account", [f.broker_account] if f.broker_account else []),
    ):
        if wanted:
            labels, codes = frame.codes[name]
            mask &= np.isin(codes, np.flatnonzero(np.isin(labels, wanted)))
    if f.tags:
        mask &= frame.lists["tags"].rows_with_any(f.tags, len(frame))
    rows = np.flatnonzero(mask)
    return rows[np.argsort(frame.closed_ns[rows], kind="stable")]


class Bucket(ApiModel):
    label: str
    count: int


class Stats(ApiModel):
    """The statistics of the selected trades."""

    trades: int
    wins: int
    losses: int
    breakeven: int
    net_pnl: float
    gross_pnl: float
    fees: float
    win_rate: float | None = Field(description="wins / trades.")
    profit_factor: float | None = Field(description="Sum of wins / |sum of losses|.")
    expectancy: float | None = Field(description="Mean net P&L per trade.")
    average_win: float | None
    average_loss: float | None
    largest_win: float | None
    largest_loss: float | None
    average_r: float | None = Field(description="Mean R over trades with a planned stop.")
    r_trades: int = Field(description="Trades with a planned stop (an R).")
    r_distribution: list[Bucket]
    sqn: float | None = Field(description="sqrt(min(n,100)) * mean / stdev, of R (else of P&L).")
    sqn_basis: Literal["r", "pnl"] | None
    max_drawdown: float = Field(description="Largest fall of cumulative net P&L from a peak.")
    sharpe: float | None = Field(description="Of daily P&L over weekdays, annualized (252).")
    sortino: float | None
    days: int = Field(description="Weekdays in the daily series.")


def _none(value: float) -> float | None:
    return None if not math.isfinite(value) else float(value)


def daily_series(frame: TradeFrame, rows: np.ndarray, tz: str) -> tuple[np.ndarray, np.ndarray]:
    """(day numbers, P&L) over every weekday from the first to the last close (zeros where
    nothing closed) plus any weekend day something closed on."""
    if rows.size == 0:
        return np.empty(0, np.int64), np.empty(0)
    day, _, _ = frame.local(tz)
    days = day[rows]
    first, last = int(days.min()), int(days.max())
    span = np.arange(first, last + 1)
    pnl = np.bincount(days - first, weights=frame.net[rows], minlength=span.size)
    count = np.bincount(days - first, minlength=span.size)
    weekday = (span + 3) % 7  # 1970-01-01 was a Thursday (3)
    keep = (weekday < 5) | (count > 0)
    return span[keep], pnl[keep]


def max_drawdown(pnl: np.ndarray) -> float:
    if pnl.size == 0:
        return 0.0
    equity = np.concatenate(([0.0], np.cumsum(pnl)))
    return float(np.max(np.maximum.accumulate(equity) - equity))


def sharpe(daily: np.ndarray) -> float | None:
    if daily.size < 2:
        return None
    sd = float(np.std(daily, ddof=1))
    return _none(float(np.mean(daily)) / sd * math.sqrt(TRADING_DAYS)) if sd > 0 else None


def sortino(daily: np.ndarray) -> float | None:
    if daily.size < 2:
        return None
    downside = math.sqrt(float(np.mean(np.minimum(daily, 0.0) ** 2)))
    if downside == 0:
        return None
    return _none(float(np.mean(daily)) / downside * math.sqrt(TRADING_DAYS))


def _sqn(values: np.ndarray) -> float | None:
    if values.size < 2:
        return None
    sd = float(np.std(values, ddof=1))
    if sd == 0:
        return None
    return math.sqrt(min(values.size, 100)) * float(np.mean(values)) / sd


def r_distribution(r: np.ndarray) -> list[Bucket]:
    edges = np.asarray(R_EDGES)
    counts = np.bincount(np.searchsorted(edges, r, side="right"), minlength=edges.size + 1)
    labels = [f"<{R_EDGES[0]:g}R"]
    labels += [f"{lo:g}R..{hi:g}R" for lo, hi in itertools.pairwise(R_EDGES)]
    labels.append(f">={R_EDGES[-1]:g}R")
    return [Bucket(label=label, count=int(c)) for label, c in zip(labels, counts, strict=True)]


def stats(frame: TradeFrame, f: JournalFilter) -> Stats:
    rows = select(frame, f)
    net = frame.net[rows]
    wins, losses = net[net > 0], net[net < 0]
    n = int(net.size)
    r = frame.r[rows]
    r = r[np.isfinite(r)]
    sqn_r = _sqn(r)
    sqn = sqn_r if sqn_r is not None else _sqn(net)
    _, daily = daily_series(frame, rows, f.tz)
    return Stats(
        trades=n,
        wins=int(wins.size),
        losses=int(losses.size),
        breakeven=n - int(wins.size) - int(losses.size),
        net_pnl=float(net.sum()),
        gross_pnl=float(frame.gross[rows].sum()),
        fees=float(frame.fees[rows].sum()),
        win_rate=wins.size / n if n else None,
        profit_factor=float(wins.sum() / -losses.sum()) if losses.size else None,
        expectancy=float(net.mean()) if n else None,
        average_win=float(wins.mean()) if wins.size else None,
        average_loss=float(losses.mean()) if losses.size else None,
        largest_win=float(wins.max()) if wins.size else None,
        largest_loss=float(losses.min()) if losses.size else None,
        average_r=float(r.mean()) if r.size else None,
        r_trades=int(r.size),
        r_distribution=r_distribution(r),
        sqn=sqn,
        sqn_basis=None if sqn is None else ("r" if sqn_r is not None else "pnl"),
        max_drawdown=max_drawdown(net),
        sharpe=sharpe(daily),
        sortino=sortino(daily),
        days=int(daily.size),
    )


class DailyPoint(ApiModel):
    date: date
    pnl: float
    trades: int
    cumulative: float
    drawdown: float = Field(description="Cumulative P&L below its running peak (<= 0).")


def daily(frame: TradeFrame, f: JournalFilter) -> list[DailyPoint]:
    """The daily P&L curve and calendar: every day with a close, plus weekdays between."""
    rows = select(frame, f)
    if rows.size == 0:
        return []
    day, _, _ = frame.local(f.tz)
    days, pnl = daily_series(frame, rows, f.tz)
    first = int(days[0])
    counts = np.bincount(day[rows] - first, minlength=int(days[-1]) - first + 1)[days - first]
    cumulative = np.cumsum(pnl)
    peak = np.maximum.accumulate(np.maximum(cumulative, 0.0))
    return [
        DailyPoint(
            date=EPOCH + timedelta(days=int(d)),
            pnl=float(p),
            trades=int(c),
            cumulative=float(cum),
            drawdown=float(cum - top),
        )
        for d, p, c, cum, top in zip(days, pnl, counts, cumulative, peak, strict=True)
    ]


class Group(ApiModel):
    key: str
    trades: int
    net_pnl: float
    win_rate: float
    average: float


def _groups(labels: list[str], codes: np.ndarray, net: np.ndarray) -> list[Group]:
    size = len(labels)
    count = np.bincount(codes, minlength=size)
    total = np.bincount(codes, weights=net, minlength=size)
    wins = np.bincount(codes, weights=(net > 0).astype(np.float64), minlength=size)
    return [
        Group(
            key=labels[i],
            trades=int(count[i]),
            net_pnl=float(total[i]),
            win_rate=float(wins[i] / count[i]),
            average=float(total[i] / count[i]),
        )
        for i in range(size)
        if count[i]
    ]


def breakdown(frame: TradeFrame, f: JournalFilter, by: BreakdownKey) -> list[Group]:
    """Trades, net P&L, win rate and average per value of `by`."""
    rows = select(frame, f)
    net = frame.net[rows]
    if by in ("symbol", "setup"):
        labels, codes = frame.codes[by]
        return _groups([str(x) or "(none)" for x in labels], codes[rows], net)
    if by in ("tag", "mistake"):
        column = frame.lists["tags" if by == "tag" else "mistakes"]
        chosen = np.zeros(len(frame), dtype=bool)
        chosen[rows] = True
        hit = chosen[column.parents]
        untagged = rows[column.empty[rows]]
        none = len(column.labels)
        codes = np.concatenate((column.codes[hit], np.full(untagged.size, none, np.int32)))
        pnl = np.concatenate((frame.net[column.parents[hit]], frame.net[untagged]))
        return _groups([*map(str, column.labels), "(none)"], codes.astype(np.int64), pnl)
    _, weekday, hour = frame.local(f.tz)
    if by == "weekday":
        return _groups(list(WEEKDAYS), weekday[rows].astype(np.int64), net)
    if by == "hour":
        return _groups([f"{h:02d}" for h in range(24)], hour[rows].astype(np.int64), net)
    if by == "holding":
        codes = np.searchsorted(np.asarray(HOLDING_EDGES), frame.holding[rows], side="right")
        return _groups(list(HOLDING_LABELS), codes, net)
    codes = (frame.side[rows] < 0).astype(np.int64)
    return _groups(["long", "short"], codes, net)
