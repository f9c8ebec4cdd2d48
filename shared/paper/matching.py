"""When and at what price an order fills against a last price (pure functions)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

PRECISION = 6


def fill_price(
    order_type: str,
    side: str,
    price: float,
    *,
    limit_price: float | None = None,
    stop_price: float | None = None,
    slippage_bps: float = 0.0,
) -> float | None:
    """The fill price of an order at last price `price`, or None if it does not fill yet.

    Market: the last price, worse by the slippage. Limit: when the price reaches the limit
    (buy at or below, sell at or above), at the last price. Stop: when the price reaches
    the stop (buy at or above, sell at or below), as a market order with slippage.
    """
    if not math.isfinite(price) or price <= 0:
        return None
    slip = slippage_bps / 10_000
    worse = price * (1 + slip) if side == "buy" else price * (1 - slip)
    if order_type == "market":
        return worse
    if order_type == "limit" and limit_price is not None:
        crossed = price <= limit_price if side == "buy" else price >= limit_price
        return price if crossed else None
    if order_type == "stop" and stop_price is not None:
        triggered = price >= stop_price if side == "buy" else price <= stop_price
        return worse if triggered else None
    return None


def reservation_price(
    order_type: str,
    side: str,
    price: float | None,
    *,
    limit_price: float | None,
    stop_price: float | None,
    slippage_bps: float,
) -> float | None:
    """Per-unit cash a buy order holds back while open (None: no basis to price it)."""
    slip = 1 + slippage_bps / 10_000
    if order_type == "limit":
        return limit_price
    if order_type == "stop":
        basis = max(stop_price or 0.0, price or 0.0)
        return basis * slip if basis > 0 else None
    return price * slip if price else None


def affordable_qty(cash: float, price: float) -> float:
    """The largest quantity (to 6 decimals, rounded down) `cash` buys at `price`."""
    if price <= 0 or cash <= 0:
        return 0.0
    scale = 10**PRECISION
    return math.floor(cash / price * scale) / scale


def expired(time_in_force: str, created_at: str, now: datetime) -> bool:
    """Day orders expire when the UTC date of `now` is past the date they were placed on."""
    if time_in_force != "day":
        return False
    return now.astimezone(UTC).date() > datetime.fromisoformat(created_at).astimezone(UTC).date()


def round_money(value: float) -> float:
    return round(value, 6)


def apply_fill(account: dict[str, Any], side: str, symbol: str, qty: float, price: float) -> None:
    """Move cash and position of `account` (a document) for a fill; realized P&L on sells."""
    positions: dict[str, Any] = account.setdefault("positions", {})
    position = positions.setdefault(symbol, {"qty": 0.0, "avgPrice": 0.0, "reservedQty": 0.0})
    if side == "buy":
        total = position["qty"] + qty
        position["avgPrice"] = (position["qty"] * position["avgPrice"] + qty * price) / total
        position["qty"] = round_money(total)
        account["cash"] = round_money(account["cash"] - qty * price)
    else:
        account["realizedPnl"] = round_money(
            account.get("realizedPnl", 0.0) + qty * (price - position["avgPrice"])
        )
        position["qty"] = round_money(position["qty"] - qty)
        account["cash"] = round_money(account["cash"] + qty * price)
        if position["qty"] <= 0 and position.get("reservedQty", 0.0) <= 0:
            del positions[symbol]
