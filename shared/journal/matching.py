"""FIFO lot matching: executions of one broker account and symbol become trades.

A trade runs from flat to flat. Fills in the trade's direction open lots; fills against it
close the oldest lots first (FIFO). A fill larger than the open position closes the trade
and opens the next one in the other direction with the rest (a flip through zero). Each
fill's fees are split over the parts it was cut into, in proportion to their quantity.

The result depends only on the executions: they are ordered by (time, id), so the same
set of executions always gives the same trades, with the same ids.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby

from shared.journal.models import Execution, Trade

EPSILON = 1e-9


@dataclass
class _Lot:
    quantity: float
    price: float


@dataclass
class _OpenTrade:
    account: str
    broker_account: str
    symbol: str
    direction: int
    opened_at: datetime
    first_execution: str
    currency: str
    multiplier: float
    quantity: float = 0.0
    entry_value: float = 0.0
    exit_quantity: float = 0.0
    exit_value: float = 0.0
    gross: float = 0.0
    fees: float = 0.0
    capital: float = 0.0
    max_position: float = 0.0
    fx_rate: float = 1.0
    execution_ids: list[str] = field(default_factory=list)

    def touch(self, execution_id: str) -> None:
        if not self.execution_ids or self.execution_ids[-1] != execution_id:
            self.execution_ids.append(execution_id)


def trade_id(broker_account: str, symbol: str, first_execution: str) -> str:
    """A trade's id: stable for as long as its first execution stays its first."""
    key = f"{broker_account}|{symbol}|{first_execution}"
    return "t-" + hashlib.sha256(key.encode()).hexdigest()[:20]


def _finish(state: _OpenTrade, closed_at: datetime | None) -> Trade:
    net = state.gross - state.fees
    entry_price = state.entry_value / state.quantity
    return Trade.model_construct(
        id=trade_id(state.broker_account, state.symbol, state.first_execution),
        account=state.account,
        broker_account=state.broker_account,
        symbol=state.symbol,
        side="long" if state.direction > 0 else "short",
        status="closed" if closed_at is not None else "open",
        opened_at=state.opened_at,
        closed_at=closed_at,
        quantity=state.quantity,
        exit_quantity=state.exit_quantity,
        entry_price=entry_price,
        exit_price=state.exit_value / state.exit_quantity if state.exit_quantity > 0 else None,
        gross_pnl=state.gross,
        fees=state.fees,
        net_pnl=net,
        capital=state.capital,
        return_on_capital=net / state.capital if state.capital > 0 else None,
        holding_seconds=(closed_at - state.opened_at).total_seconds() if closed_at else None,
        currency=state.currency,
        fx_rate=state.fx_rate,
        net_pnl_base=net * state.fx_rate,
        multiplier=state.multiplier,
        max_position=state.max_position,
        execution_ids=state.execution_ids,
    )


def match_group(executions: Iterable[Execution]) -> list[Trade]:
    """The trades of one (broker account, symbol): FIFO, flat to flat."""
    ordered = sorted(executions, key=lambda e: (e.executed_at, e.id))
    trades: list[Trade] = []
    lots: deque[_Lot] = deque()
    current: _OpenTrade | None = None
    for execution in ordered:
        direction = 1 if execution.side == "buy" else -1
        remaining = execution.quantity
        fee_per_unit = execution.fees / execution.quantity
        mult = execution.multiplier
        if current is not None and direction != current.direction:
            open_qty = sum(lot.quantity for lot in lots)
            closing = min(remaining, open_qty)
            left = closing
            while left > EPSILON and lots:
                lot = lots[0]
                piece = min(lot.quantity, left)
                current.gross += (execution.price - lot.price) * piece * mult * current.direction
                lot.quantity -= piece
                left -= piece
                if lot.quantity <= EPSILON:
                    lots.popleft()
            current.exit_quantity += closing
            current.exit_value += closing * execution.price
            current.fees += closing * fee_per_unit
            current.fx_rate = execution.fx_rate
            current.touch(execution.id)
            remaining -= closing
            if not lots:
                trades.append(_finish(current, execution.executed_at))
                current = None
        if remaining > EPSILON:
            if current is None:
                current = _OpenTrade(
                    account=execution.account,
                    broker_account=execution.broker_account,
                    symbol=execution.symbol,
                    direction=direction,
                    opened_at=execution.executed_at,
                    first_execution=execution.id,
                    currency=execution.currency,
                    multiplier=mult,
                    fx_rate=execution.fx_rate,
                )
            lots.append(_Lot(remaining, execution.price))
            current.quantity += remaining
            current.entry_value += remaining * execution.price
            current.fees += remaining * fee_per_unit
            current.touch(execution.id)
            position = sum(lot.quantity for lot in lots)
            cost = sum(lot.quantity * lot.price for lot in lots) * mult
            current.max_position = max(current.max_position, position)
            current.capital = max(current.capital, cost)
    if current is not None:
        trades.append(_finish(current, None))
    return trades


def match(executions: Iterable[Execution]) -> list[Trade]:
    """Every trade of a set of executions, grouped by (broker account, symbol), in the order
    they opened."""

    def group_key(e: Execution) -> tuple[str, str]:
        return (e.broker_account, e.symbol)

    trades: list[Trade] = []
    for _, group in groupby(sorted(executions, key=group_key), key=group_key):
        trades.extend(match_group(group))
    trades.sort(key=lambda t: (t.opened_at, t.id))
    return trades
