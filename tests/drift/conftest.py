"""Bars and trader executions for the drift tests: a seeded random walk of daily bars, and
fills that copy (or change) a replay's trades."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from shared.backtest import BarsFrame, load_bars
from shared.journal.models import Execution
from shared.market.models import Bar

START = datetime(2024, 1, 1, tzinfo=UTC)
SYMBOL = "DRFT"
_ids = itertools.count()


def walk(n: int = 160, seed: int = 7) -> list[Bar]:
    rng = np.random.default_rng(seed)
    close = np.round(100 + np.cumsum(rng.normal(0, 1.5, n)), 2)
    open_ = np.round(close + rng.normal(0, 0.4, n), 2)
    return [
        Bar(
            symbol=SYMBOL, interval="1d", ts=START + timedelta(days=i), open=float(o),
            high=float(max(o, c) + 1), low=float(min(o, c) - 1), close=float(c), volume=1000,
            source="yahoo",
        )
        for i, (o, c) in enumerate(zip(open_, close, strict=True))
    ]  # fmt: skip


def frame_of(bars: list[Bar]) -> BarsFrame:
    frame = pd.DataFrame(
        {
            "open": [b.open for b in bars],
            "high": [b.high for b in bars],
            "low": [b.low for b in bars],
            "close": [b.close for b in bars],
            "volume": [float(b.volume or 0) for b in bars],
        },
        index=pd.DatetimeIndex([b.ts for b in bars]),
    )
    return load_bars(frame, symbol=SYMBOL)


def execution(
    side: str, quantity: float, price: float, at: datetime, fees: float = 0.0, account: str = "U1"
) -> Execution:
    return Execution(
        id=f"x-{next(_ids):06d}", account="alice", broker_account=account, symbol=SYMBOL,
        side=side, quantity=quantity, price=price, fees=fees, executed_at=at, source="manual",
        created_at=START,
    )  # fmt: skip
