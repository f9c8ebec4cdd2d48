"""Paper-trading models at the HTTP edge: accounts, positions, orders."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator, model_validator

from shared.api_model import ApiModel, Name
from shared.errors import InvalidInput
from shared.market.symbols import parse_symbol

Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit", "stop"]
TimeInForce = Literal["day", "gtc"]
OrderStatus = Literal["open", "filled", "partially_filled", "cancelled", "rejected", "expired"]
OPEN: OrderStatus = "open"

MAX_QTY = 1e9
MIN_QTY = 1e-6
"""Quantities are kept to 6 decimals; a smaller order would book a zero position."""
MAX_PRICE = 1e9


class PaperAccountIn(ApiModel):
    """A new paper account."""

    name: Name = "Paper account"
    starting_cash: float | None = Field(
        None, gt=0, le=1e12, description="Defaults to PAPER_DEFAULT_STARTING_CASH."
    )


class Position(ApiModel):
    """Holdings of one symbol, valued at the latest quote."""

    symbol: str
    qty: float
    avg_price: float = Field(description="Average cost per unit.")
    reserved_qty: float = Field(description="Units held back for open sell orders.")
    market_price: float | None = Field(description="Latest quote; null if none yet.")
    market_value: float | None
    unrealized_pnl: float | None


class PaperAccount(ApiModel):
    """A paper account: cash, positions and P&L."""

    id: str
    account: str = Field(description="The owner's account id.")
    name: str
    starting_cash: float
    cash: float
    reserved_cash: float = Field(description="Cash held back for open buy orders.")
    available_cash: float = Field(description="cash - reservedCash: what new buys may use.")
    realized_pnl: float
    unrealized_pnl: float
    equity: float = Field(description="cash + market value of positions.")
    positions: list[Position]
    created_at: datetime
    updated_at: datetime


class OrderIn(ApiModel):
    """An order: market, limit (`limitPrice`) or stop (`stopPrice`); day or GTC."""

    symbol: str = Field(min_length=1, max_length=24)
    side: Side
    type: OrderType = "market"
    qty: float = Field(ge=MIN_QTY, le=MAX_QTY)
    limit_price: float | None = Field(None, gt=0, le=MAX_PRICE)
    stop_price: float | None = Field(None, gt=0, le=MAX_PRICE)
    time_in_force: TimeInForce = "day"

    @field_validator("symbol")
    @classmethod
    def _symbol(cls, value: str) -> str:
        try:
            return parse_symbol(value).text
        except InvalidInput as error:
            raise ValueError(error.detail) from None

    @model_validator(mode="after")
    def _prices(self) -> OrderIn:
        if self.type == "limit" and self.limit_price is None:
            raise ValueError("a limit order needs limitPrice")
        if self.type == "stop" and self.stop_price is None:
            raise ValueError("a stop order needs stopPrice")
        if self.type != "limit" and self.limit_price is not None:
            raise ValueError("limitPrice is only for limit orders")
        if self.type != "stop" and self.stop_price is not None:
            raise ValueError("stopPrice is only for stop orders")
        return self


class Order(ApiModel):
    """An order and what became of it."""

    id: str
    paper_account_id: str
    account: str
    symbol: str
    side: Side
    type: OrderType
    qty: float
    limit_price: float | None
    stop_price: float | None
    time_in_force: TimeInForce
    status: OrderStatus
    filled_qty: float
    fill_price: float | None
    reason: str = Field("", description="Why it was rejected, cut short or expired.")
    created_at: datetime
    updated_at: datetime
    filled_at: datetime | None


class MatchReport(ApiModel):
    """What one matching pass did."""

    checked: int
    filled: int
    expired: int
    rejected: int
