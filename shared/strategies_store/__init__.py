"""Saved strategies: versioned `StrategySpec` documents per account."""

from shared.strategies_store.store import (
    Strategy,
    StrategyIn,
    StrategyStore,
    StrategyVersion,
)

__all__ = ["Strategy", "StrategyIn", "StrategyStore", "StrategyVersion"]
