"""Executions for journal tests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from shared.journal.models import Execution

T0 = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)
_ids = itertools.count()


def fill(
    side: str,
    quantity: float,
    price: float,
    *,
    fees: float = 0.0,
    minutes: float = 0,
    symbol: str = "AAPL",
    broker_account: str = "U1",
    multiplier: float = 1.0,
    account: str = "alice",
    fx_rate: float = 1.0,
    currency: str = "USD",
) -> Execution:
    n = next(_ids)
    return Execution(
        id=f"x-{n:06d}",
        account=account,
        broker_account=broker_account,
        symbol=symbol,
        side=side,
        quantity=quantity,
        price=price,
        fees=fees,
        executed_at=T0 + timedelta(minutes=minutes),
        multiplier=multiplier,
        fx_rate=fx_rate,
        currency=currency,
        source="manual",
        created_at=T0,
    )
