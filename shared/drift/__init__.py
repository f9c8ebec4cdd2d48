"""Execution drift: what the trader did against what the strategy would have done on the
same scope, trade by trade, with the P&L of each difference attributed exactly.

Public API::

    report = drift_report(DriftRequest(...), caller, journal)   # -> DriftReport (the route's)
    result, tolerances = scope_drift(bars_by_symbol, trades_by_symbol, "sma_cross",
                                     {"fast": 10, "slow": 30}, ExecutionSettings(), 1)
    result.attribution()   # {"missed", "extra", "size", "timing", "price", "fees"} -> Decimal
    attribute(strategy_leg, trader_leg, Modelled(entry, exit))   # one pair's effects
    match_legs(strategy_legs, trader_legs, tolerance)            # pairs, missed, extra

The attribution rule is in `shared.drift.attribution` and the README ("Execution drift").
"""

from shared.drift.attribution import (
    CAUSES,
    QUANTUM,
    Drift,
    Leg,
    Modelled,
    Pair,
    attribute,
    drift,
    match_legs,
    money,
)
from shared.drift.service import DriftReport, DriftRequest, drift_report, scope_drift

__all__ = [
    "CAUSES",
    "QUANTUM",
    "Drift",
    "DriftReport",
    "DriftRequest",
    "Leg",
    "Modelled",
    "Pair",
    "attribute",
    "drift",
    "drift_report",
    "match_legs",
    "money",
    "scope_drift",
]
