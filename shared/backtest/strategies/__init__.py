"""The strategy registry: built-ins and Python strategy classes registered by name."""

from shared.backtest.strategies.base import Strategy, get_strategy, register, strategy_names

__all__ = ["Strategy", "get_strategy", "register", "strategy_names"]
