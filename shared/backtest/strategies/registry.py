"""The catalogue of strategies by name: the built-ins, listed here, and the Python classes
registered with `@register`. Whoever needs a strategy by name (a spec, a sweep, a run, the
drift replay) imports this module; the strategies themselves do not know it."""

from __future__ import annotations

from typing import TypeVar

from shared.backtest.strategies.base import Strategy
from shared.backtest.strategies.builtin import (
    BollingerReversion,
    DonchianBreakout,
    EmaCross,
    Macd,
    RsiReversion,
    SmaCross,
)
from shared.errors import InvalidInput

BUILTINS: tuple[type[Strategy], ...] = (
    SmaCross,
    EmaCross,
    Macd,
    RsiReversion,
    BollingerReversion,
    DonchianBreakout,
)
"""The built-in strategies, each usable by its `name` in a `StrategySpec`."""

_REGISTRY: dict[str, Strategy] = {}
S = TypeVar("S", bound=type[Strategy])


def register(cls: S) -> S:
    """Class decorator: make the strategy usable by its `name` in a `StrategySpec`."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a non-empty `name`")
    _REGISTRY[cls.name] = cls()
    return cls


for _builtin in BUILTINS:
    register(_builtin)


def get_strategy(name: str) -> Strategy:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InvalidInput(
            f"unknown strategy {name!r}; known: {', '.join(sorted(_REGISTRY))}"
        ) from None


def strategy_names() -> list[str]:
    return sorted(_REGISTRY)
