"""`ExecutionSettings`: how orders fill, cost and size; encoded for the kernel as a float vector."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

FILL_NEXT_OPEN = 0
FILL_CLOSE = 1
SIZING_ALL_CASH_UNITS = 0
SIZING_FRACTIONAL = 1
SIZING_FIXED_FRACTION = 2

# Positions of the fields in the vector the kernel reads (see `ExecutionSettings.vector`).
X_CASH, X_FILL, X_LONG_SHORT, X_COMM_RATE, X_COMM_FIXED, X_SLIPPAGE, X_SIZING = range(7)
X_FRACTION, X_STOP_LOSS, X_TAKE_PROFIT, X_ANNUAL_PERIODS, X_RISK_FREE = range(7, 12)
N_EXEC_FIELDS = 12


class ExecutionSettings(BaseModel):
    """The execution model. Cash, fills, sizing and costs default to backtesting.py's
    `Backtest(data, strategy, cash=10_000)`; `direction` defaults to long-only.

    - `fill`: `next_open` fills a signal seen at bar i's close at bar i+1's open (default,
      as backtesting.py and backtrader); `close` fills at bar i's close.
    - `direction`: `long_only` (a sell signal closes the long) or `long_short` (a signal
      against the position closes it, then opens the other way: a reversal is two orders).
    - costs: `commission` is a rate of each order's traded value, `commission_fixed` an amount
      per order; `slippage_bps` moves every fill price against the order.
    - `sizing`: `all_cash_units` buys as many whole units as the available cash covers with
      the commission-adjusted price (backtesting.py's `size=.9999` default); `fractional`
      the same without rounding; `fixed_fraction` commits `fraction` of equity per entry
      (whole units).
    - `stop_loss_pct` / `take_profit_pct`: exits at a % from the entry price. Inside a bar,
      for both fill modes: the open (next-open fills; a gap through either level fills it at
      the open), then the bar's low/high (the stop first when both levels are inside it:
      pessimistic), then the close (close fills). A next-open entry is checked against its
      own bar's range, a close entry from the next bar.
    - ruin: when the equity at a close is 0 or below, everything is closed at that close and
      nothing trades after it (equity 0), as backtesting.py; the result says `ruined`.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )
    """camelCase in API JSON (`stopLossPct`, `slippageBps`), as every request body; the
    snake_case names are accepted too, as by `shared.api_model.ApiModel`."""

    cash: float = Field(10_000.0, gt=0, description="Starting cash.")
    fill: Literal["next_open", "close"] = "next_open"
    direction: Literal["long_only", "long_short"] = "long_only"
    commission: float = Field(0.0, ge=0, lt=0.5, description="Rate of traded value per order.")
    commission_fixed: float = Field(0.0, ge=0, description="Fixed amount per order.")
    slippage_bps: float = Field(0.0, ge=0, lt=10_000, description="Adverse fill move, bps.")
    sizing: Literal["all_cash_units", "fractional", "fixed_fraction"] = "all_cash_units"
    fraction: float = Field(1.0, gt=0, le=1, description="Equity share per entry (fixed_fraction).")
    stop_loss_pct: float | None = Field(None, gt=0, lt=100, description="% below/above entry.")
    take_profit_pct: float | None = Field(None, gt=0, description="% above/below entry.")
    annual_periods: float | None = Field(
        None, gt=0, description="Return periods per year; inferred from timestamps if unset."
    )
    risk_free_rate: float = Field(0.0, ge=0, lt=1, description="Annual rate for Sharpe/Sortino.")

    @model_validator(mode="after")
    def _check(self) -> ExecutionSettings:
        return self

    def vector(self, annual_periods: float) -> np.ndarray:
        """The settings as the float64 vector the kernel takes."""
        x = np.zeros(N_EXEC_FIELDS, dtype=np.float64)
        x[X_CASH] = self.cash
        x[X_FILL] = FILL_NEXT_OPEN if self.fill == "next_open" else FILL_CLOSE
        x[X_LONG_SHORT] = 1.0 if self.direction == "long_short" else 0.0
        x[X_COMM_RATE] = self.commission
        x[X_COMM_FIXED] = self.commission_fixed
        x[X_SLIPPAGE] = self.slippage_bps / 10_000.0
        x[X_SIZING] = {
            "all_cash_units": SIZING_ALL_CASH_UNITS,
            "fractional": SIZING_FRACTIONAL,
            "fixed_fraction": SIZING_FIXED_FRACTION,
        }[self.sizing]
        x[X_FRACTION] = self.fraction
        x[X_STOP_LOSS] = (self.stop_loss_pct or 0.0) / 100.0
        x[X_TAKE_PROFIT] = (self.take_profit_pct or 0.0) / 100.0
        x[X_ANNUAL_PERIODS] = self.annual_periods or annual_periods
        x[X_RISK_FREE] = self.risk_free_rate
        return x
