"""The report on a real replay (the engine over seeded bars) against journal trades derived
by the journal's FIFO matching: each cause alone, then all together."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

import pandas as pd
import pytest

from shared.backtest import ExecutionSettings, run_backtest
from shared.drift import CAUSES, money, scope_drift
from shared.journal import Execution, match
from tests.drift.conftest import START, SYMBOL, execution, frame_of, walk

BARS = frame_of(walk())
PARAMS: dict[str, int | float] = {"fast": 3, "slow": 10}
MODEL = ExecutionSettings(commission=0.001)
REPLAY = run_backtest(BARS, "sma_cross", PARAMS, MODEL).trades
INTRADAY = timedelta(hours=15)  # fills at 15:00 UTC fall inside the daily bar


def fills(k: int, *, bar_shift: int = 0, entry_add: float = 0.0, q_factor: float = 1.0,
          fees: float | None = None) -> list[Execution]:  # fmt: skip
    """The replay's trade k as the trader's two fills (fees split evenly)."""
    t = REPLAY.iloc[k]
    entry_bar = int(t.entry_bar) + bar_shift
    entry = (float(BARS.open[entry_bar]) if bar_shift else float(t.entry_price)) + entry_add
    fee = float(t.commission) if fees is None else fees
    q = float(t["size"]) * q_factor
    return [
        execution("buy", q, entry, t.entry_time.to_pydatetime() + bar_shift * timedelta(days=1)
                  + INTRADAY, fee / 2),
        execution("sell", q, float(t.exit_price), t.exit_time.to_pydatetime() + INTRADAY, fee / 2),
    ]  # fmt: skip


def run(executions: list[Execution]):
    trades = match(executions)
    return scope_drift({SYMBOL: BARS}, {SYMBOL: trades}, "sma_cross", PARAMS, MODEL, 1)[0]


def net(k: int) -> Decimal:
    t = REPLAY.iloc[k]
    gross = Fraction(float(t["size"])) * (
        Fraction(float(t.exit_price)) - Fraction(float(t.entry_price))
    )
    return money(gross - Fraction(float(t.commission)))


def copy_all() -> list[Execution]:
    return [e for k in range(len(REPLAY)) for e in fills(k)]


def long_trade() -> int:
    """A replay trade held at least 3 bars (room for a late entry)."""
    return next(k for k in range(len(REPLAY)) if REPLAY.exit_bar[k] - REPLAY.entry_bar[k] >= 3)


def extra_short() -> list[Execution]:
    """A short the long-only strategy never takes: 10 units 105 -> 101, fees 0.5 (net 39.5),
    while the trader is flat (before the replay's first entry)."""
    at = START + timedelta(days=1) + INTRADAY
    return [
        execution("sell", 10, 105, at, 0.25),
        execution("buy", 10, 101, at + timedelta(days=1), 0.25),
    ]


def causes(**expected: Decimal) -> dict[str, Decimal]:
    return dict.fromkeys(CAUSES, Decimal(0)) | expected


def test_the_replay_has_trades_to_work_with():
    assert len(REPLAY) >= 4
    assert REPLAY.entry_bar[0] > 3  # room for the extra short before it
    assert (REPLAY["size"] > 0).all()  # long only


def test_a_faithful_copy_has_no_drift():
    result = run(copy_all())
    assert len(result.pairs) == len(REPLAY)
    assert (result.missed, result.extra) == ([], [])
    assert result.difference == 0
    assert result.attribution() == causes()
    assert result.strategy_pnl == sum(net(k) for k in range(len(REPLAY)))


def test_a_missed_trade():
    executions = [e for k in range(len(REPLAY)) if k != 1 for e in fills(k)]
    result = run(executions)
    assert [m.entry_bar for m in result.missed] == [int(REPLAY.entry_bar[1])]
    assert result.attribution() == causes(missed=-net(1))


def test_an_extra_trade():
    # a short the long-only strategy never takes: 10 units, 105 -> 101, fees 0.5
    result = run(copy_all() + extra_short())
    assert [j.side for j in result.extra] == ["short"]
    assert result.attribution() == causes(extra=Decimal("39.5"))


def test_a_late_entry_costs_the_move_between_the_two_fills():
    k = long_trade()
    executions = [
        e for i in range(len(REPLAY)) for e in (fills(k, bar_shift=1) if i == k else fills(i))
    ]
    result = run(executions)
    [pair] = [p for p in result.pairs if p.strategy.entry_bar == REPLAY.entry_bar[k]]
    assert (
        pair.trader.entry_bar - pair.strategy.entry_bar,
        pair.trader.exit_bar - pair.strategy.exit_bar,
    ) == (1, 0)
    t = REPLAY.iloc[k]
    late = Fraction(float(BARS.open[int(t.entry_bar) + 1]))
    expected = money(Fraction(float(t["size"])) * (Fraction(float(t.entry_price)) - late))
    assert pair.effects == {"size": 0, "timing": expected, "price": 0, "fees": 0}
    assert result.attribution() == causes(timing=expected)


def test_slippage_on_the_entry_is_price():
    k = 0
    executions = [
        e for i in range(len(REPLAY)) for e in (fills(k, entry_add=0.05) if i == k else fills(i))
    ]
    q = Decimal(str(float(REPLAY["size"][k])))
    result = run(executions)
    assert result.attribution() == causes(
        price=-(q * Decimal("0.05")).quantize(Decimal("0.000001"))
    )


def test_fees_and_size():
    k = 0
    t = REPLAY.iloc[k]
    executions = [
        e
        for i in range(len(REPLAY))
        for e in (fills(k, q_factor=0.5, fees=7.0) if i == k else fills(i))
    ]
    result = run(executions)
    size = money(
        -Fraction(float(t["size"]) * 0.5)
        * (Fraction(float(t.exit_price)) - Fraction(float(t.entry_price)))
    )
    fees = money(Fraction(float(t.commission)) - 7)
    [pair] = [p for p in result.pairs if p.strategy.entry_bar == t.entry_bar]
    assert pair.effects["size"] == size
    assert pair.effects["fees"] == fees
    assert abs(pair.effects["timing"]) <= Decimal("0.000002")  # rounding residual only
    assert pair.effects["price"] == 0


def test_every_cause_together_sums_exactly():
    k_late, k_missed = long_trade(), 1 if long_trade() != 1 else 2
    executions: list[Execution] = []
    for i in range(len(REPLAY)):
        if i == k_missed:
            continue
        if i == k_late:
            executions += fills(i, bar_shift=1, entry_add=0.03, q_factor=0.5, fees=4.0)
        else:
            executions += fills(i)
    executions += extra_short()
    result = run(executions)
    attribution = result.attribution()
    assert all(attribution[c] != 0 for c in CAUSES)
    assert sum(attribution.values()) == result.difference
    assert attribution["missed"] == -net(k_missed)
    assert attribution["extra"] == Decimal("39.5")


@pytest.mark.parametrize("tolerance", [0, 1, 5])
def test_tolerance_is_reported_in_seconds(tolerance):
    _, tolerances = scope_drift({SYMBOL: BARS}, {SYMBOL: []}, "sma_cross", PARAMS, MODEL, tolerance)
    assert tolerances == {SYMBOL: tolerance * 86400.0}
    assert pd.Timedelta(seconds=tolerances[SYMBOL]) == tolerance * pd.Timedelta(days=1)
