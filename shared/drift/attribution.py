"""The pure part of the drift report: matching the strategy's round trips to the trader's,
and attributing the P&L difference of each pair to its causes, exactly.

Every amount is computed in exact rational arithmetic from the float inputs, then rounded
once to `QUANTUM` (a millionth of the currency unit) as a `Decimal`; the timing effect is the
residual of the pair's rounded difference, so the causes of a pair, and the causes summed
over pairs, equal the reported differences exactly (in decimal arithmetic, no tolerance).

Sequential substitution for a matched pair (d = +1 long, -1 short; S = strategy,
J = trader; me/mx = the modelled fills at the trader's entry/exit bars)::

    P0 = S.net                                     the strategy's trade
    P1 = d*qJ*(S.exit - S.entry) - S.fees          ... at the trader's size      size  = P1-P0
    P2 = d*qJ*(mx - me)          - S.fees          ... at the trader's bars      timing = P2-P1
    P3 = J.gross                 - S.fees          ... at the trader's prices    price = P3-P2
    P4 = J.gross                 - J.fees = J.net  ... with the trader's fees    fees  = P4-P3

A trade of the strategy that no trader trade matches adds -S.net (missed); a trader trade
that matches none adds +J.net (extra).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Context, Decimal, localcontext
from fractions import Fraction
from typing import Literal

import pandas as pd

DIGITS = 6
SCALE = 10**DIGITS
QUANTUM = Decimal(1).scaleb(-DIGITS)
EXACT = Context(prec=200)
"""Decimal arithmetic here never rounds: amounts have at most ~40 digits (1e9 units x 1e9
price x 1e6 multiplier, 6 decimals), sums of any realistic count far below 200."""
CAUSES = ("missed", "extra", "size", "timing", "price", "fees")
Cause = Literal["missed", "extra", "size", "timing", "price", "fees"]


@dataclass(frozen=True)
class Leg:
    """One closed round trip, the strategy's or the trader's, in the trade's currency.
    `quantity` is absolute units (times the contract multiplier); `gross` is before fees."""

    id: str
    symbol: str
    side: Literal["long", "short"]
    entered_at: pd.Timestamp
    exited_at: pd.Timestamp
    entry_bar: int
    exit_bar: int
    quantity: float
    entry_price: float
    exit_price: float
    gross: float
    fees: float

    @property
    def direction(self) -> int:
        return 1 if self.side == "long" else -1

    def net(self) -> Decimal:
        return money(Fraction(self.gross) - Fraction(self.fees))

    @property
    def holding(self) -> pd.Timedelta:
        return self.exited_at - self.entered_at


@dataclass(frozen=True)
class Modelled:
    """The fills the execution model gives at the trader's entry and exit bars."""

    entry_price: float
    exit_price: float


@dataclass(frozen=True)
class Pair:
    strategy: Leg
    trader: Leg
    modelled: Modelled
    effects: dict[str, Decimal]

    @property
    def difference(self) -> Decimal:
        return EXACT.subtract(self.trader.net(), self.strategy.net())


def money(value: Fraction) -> Decimal:
    """An exact rational rounded (half-even) to `QUANTUM`."""
    return Decimal(round(value * SCALE)).scaleb(-DIGITS, context=EXACT)


def attribute(strategy: Leg, trader: Leg, modelled: Modelled) -> dict[str, Decimal]:
    """The P&L effects of one matched pair (trader minus strategy), by cause; they sum
    exactly to `trader.net() - strategy.net()`."""
    d = strategy.direction
    q_s, q_j = Fraction(strategy.quantity), Fraction(trader.quantity)
    s_move = Fraction(strategy.exit_price) - Fraction(strategy.entry_price)
    m_move = Fraction(modelled.exit_price) - Fraction(modelled.entry_price)
    size = money(d * (q_j - q_s) * s_move)
    price = money(Fraction(trader.gross) - d * q_j * m_move)
    fees = money(Fraction(strategy.fees) - Fraction(trader.fees))
    with localcontext(EXACT):
        total = trader.net() - strategy.net()
        timing = total - size - price - fees
    return {"size": size, "timing": timing, "price": price, "fees": fees}


def _overlaps(s: Leg, j: Leg, tolerance: pd.Timedelta) -> bool:
    return bool(j.entered_at <= s.exited_at + tolerance and j.exited_at >= s.entered_at - tolerance)


def match_legs(
    strategy: Sequence[Leg], trader: Sequence[Leg], tolerance: pd.Timedelta
) -> tuple[list[tuple[Leg, Leg]], list[Leg], list[Leg]]:
    """One-to-one pairs of (strategy, trader) legs with the same symbol and side whose
    holding intervals overlap once each is widened by `tolerance` on both ends; among the
    candidates the closest entries pair first (ties: earlier strategy trade, then earlier
    trader trade). Returns the pairs (in strategy order), the missed and the extra legs."""
    # trader legs by entry time: only those entering within [s.entry - tolerance - longest
    # trader holding, s.exit + tolerance] can overlap s, so the cost is not |S| x |J|
    order = sorted(range(len(trader)), key=lambda k: trader[k].entered_at)
    entries = [trader[k].entered_at for k in order]
    longest = max((j.holding for j in trader), default=pd.Timedelta(0))
    candidates = []
    for i, s in enumerate(strategy):
        low = bisect.bisect_left(entries, s.entered_at - tolerance - longest)
        high = bisect.bisect_right(entries, s.exited_at + tolerance)
        for k in order[low:high]:
            j = trader[k]
            if s.symbol == j.symbol and s.side == j.side and _overlaps(s, j, tolerance):
                candidates.append((abs((j.entered_at - s.entered_at).total_seconds()), i, k))
    candidates.sort()
    taken_s: dict[int, int] = {}
    taken_j: set[int] = set()
    for _, i, k in candidates:
        if i not in taken_s and k not in taken_j:
            taken_s[i] = k
            taken_j.add(k)
    pairs = [(strategy[i], trader[taken_s[i]]) for i in sorted(taken_s)]
    missed = [s for i, s in enumerate(strategy) if i not in taken_s]
    extra = [j for k, j in enumerate(trader) if k not in taken_j]
    return pairs, missed, extra


@dataclass(frozen=True)
class Drift:
    pairs: list[Pair]
    missed: list[Leg]
    extra: list[Leg]

    @property
    def strategy_pnl(self) -> Decimal:
        return _total([p.strategy for p in self.pairs] + self.missed)

    @property
    def trader_pnl(self) -> Decimal:
        return _total([p.trader for p in self.pairs] + self.extra)

    @property
    def difference(self) -> Decimal:
        return EXACT.subtract(self.trader_pnl, self.strategy_pnl)

    def attribution(self) -> dict[str, Decimal]:
        """Total effect by cause; sums exactly to `difference`."""
        totals = dict.fromkeys(CAUSES, Decimal(0))
        with localcontext(EXACT):
            totals["missed"] = -_total(self.missed)
            totals["extra"] = _total(self.extra)
            for pair in self.pairs:
                for cause, value in pair.effects.items():
                    totals[cause] += value
        return totals


def _total(legs: Sequence[Leg]) -> Decimal:
    with localcontext(EXACT):
        return sum((leg.net() for leg in legs), Decimal(0))


def drift(
    strategy: Sequence[Leg],
    trader: Sequence[Leg],
    modelled: dict[str, Modelled],
    tolerance: pd.Timedelta,
) -> Drift:
    """Match and attribute. `modelled` maps a trader leg's id to its modelled fills."""
    pairs, missed, extra = match_legs(strategy, trader, tolerance)
    return Drift(
        pairs=[Pair(s, j, modelled[j.id], attribute(s, j, modelled[j.id])) for s, j in pairs],
        missed=missed,
        extra=extra,
    )
