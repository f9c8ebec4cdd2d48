"""Strategies: `Strategy` (declare parameters, plan kernel work), the built-ins, and the
catalogue by name (`registry`)."""

from shared.backtest.strategies.base import Strategy
from shared.backtest.strategies.registry import get_strategy, register, strategy_names

__all__ = ["Strategy", "get_strategy", "register", "strategy_names"]
