"""The attribution rule on hand-computed legs: each cause alone, all together (the README's
worked example), matching with its tolerance, and the exact-sum property."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.drift import CAUSES, Leg, Modelled, attribute, drift, match_legs

T0 = pd.Timestamp("2024-03-04", tz="UTC")
DAY = pd.Timedelta(days=1)


def leg(
    id: str,
    *,
    side: str = "long",
    q: float = 100,
    entry: float = 10.0,
    exit: float = 11.0,
    fees: float = 0.0,
    bar: int = 0,
    bars: int = 5,
    symbol: str = "AAPL",
) -> Leg:
    d = 1 if side == "long" else -1
    return Leg(
        id=id, symbol=symbol, side=side, entered_at=T0 + bar * DAY,  # type: ignore[arg-type]
        exited_at=T0 + (bar + bars) * DAY, entry_bar=bar, exit_bar=bar + bars, quantity=q,
        entry_price=entry, exit_price=exit, gross=d * q * (exit - entry), fees=fees,
    )  # fmt: skip


def D(text: str) -> Decimal:
    return Decimal(text)


def only(effects: dict[str, Decimal], **expected: str) -> None:
    full = {cause: D(expected.get(cause, "0")) for cause in effects}
    assert effects == full


def test_a_copy_at_the_modelled_fills_has_no_drift():
    s = leg("s", fees=2)
    result = drift([s], [leg("j", fees=2)], {"j": Modelled(10.0, 11.0)}, pd.Timedelta(0))
    assert result.difference == 0
    assert all(v == 0 for v in result.attribution().values())


def test_a_missed_trade_costs_the_strategys_net():
    result = drift([leg("s", fees=2)], [], {}, DAY)
    assert (result.strategy_pnl, result.trader_pnl, result.difference) == (D("98"), 0, D("-98"))
    assert result.attribution() == dict.fromkeys(CAUSES, 0) | {"missed": D("-98")}
    assert [m.id for m in result.missed] == ["s"]


def test_an_extra_trade_adds_the_traders_net():
    j = leg("j", side="short", q=10, entry=50, exit=48, fees=1)  # +20 gross, +19 net
    result = drift([], [j], {"j": Modelled(50, 48)}, DAY)
    assert result.difference == D("19")
    assert result.attribution() == dict.fromkeys(CAUSES, 0) | {"extra": D("19")}


def test_a_late_entry_is_timing():
    # strategy long 100 @10 -> 11; trader one bar later at the model's fill there, 10.30
    s = leg("s")
    j = leg("j", entry=10.30, bar=1, bars=4)
    only(attribute(s, j, Modelled(10.30, 11.0)), timing="-30")


def test_slippage_is_price():
    # same bars; the model fills at 10 and 11, the trader paid 10.05 and got 10.97
    only(attribute(leg("s"), leg("j", entry=10.05, exit=10.97), Modelled(10.0, 11.0)), price="-8")


def test_a_short_filled_better_than_the_model_gains_price():
    s = leg("s", side="short", entry=20, exit=18)
    j = leg("j", side="short", entry=20.10, exit=18)
    only(attribute(s, j, Modelled(20, 18)), price="10")


def test_fees_difference():
    only(attribute(leg("s", fees=2), leg("j", fees=3.5), Modelled(10, 11)), fees="-1.5")


def test_half_the_size_is_size():
    only(attribute(leg("s"), leg("j", q=50), Modelled(10, 11)), size="-50")


def test_worked_example_of_the_readme():
    s = leg("s", q=100, entry=10.00, exit=11.00, fees=2)  # net 98
    j = leg("j", q=50, entry=10.25, exit=10.98, fees=1.5, bar=1, bars=4)  # net 35
    missed = leg("s2", q=100, entry=20, exit=20.40, bar=20, bars=3)  # net 40
    extra = leg("j2", side="short", q=20, entry=30, exit=30.60, bar=40, bars=2)  # net -12
    modelled = {"j": Modelled(10.20, 11.00), "j2": Modelled(30, 30.60)}
    result = drift([s, missed], [j, extra], modelled, DAY)
    assert [(p.strategy.id, p.trader.id) for p in result.pairs] == [("s", "j")]
    only(result.pairs[0].effects, size="-50", timing="-10", price="-3.5", fees="0.5")
    assert (result.strategy_pnl, result.trader_pnl) == (D("138"), D("23"))
    assert result.attribution() == {
        "missed": D("-40"), "extra": D("-12"), "size": D("-50"), "timing": D("-10"),
        "price": D("-3.5"), "fees": D("0.5"),
    }  # fmt: skip
    assert sum(result.attribution().values()) == result.difference == D("-115")


def test_matching_needs_the_same_symbol_and_side_and_overlap_within_the_tolerance():
    s = leg("s", bar=0, bars=5)  # held days 0..5
    after = leg("after", bar=6, bars=2)  # starts one day after the exit
    assert match_legs([s], [after], pd.Timedelta(0))[0] == []
    assert match_legs([s], [after], DAY)[0] == [(s, after)]
    assert match_legs([s], [leg("short", side="short")], DAY)[0] == []
    assert match_legs([s], [leg("msft", symbol="MSFT")], DAY)[0] == []


def test_matching_is_one_to_one_and_the_closest_entry_wins():
    s1, s2 = leg("s1", bar=0, bars=3), leg("s2", bar=3, bars=3)
    j = leg("j", bar=3, bars=2)  # overlaps both (touches s1's exit); starts with s2
    pairs, missed, extra = match_legs([s1, s2], [j], pd.Timedelta(0))
    assert pairs == [(s2, j)]
    assert (missed, extra) == ([s1], [])


# ------------------------------------------------------------------------------ property
prices = st.floats(0.01, 10_000, allow_nan=False, allow_infinity=False)
sizes = st.floats(0.0001, 1e6, allow_nan=False, allow_infinity=False)
fees = st.floats(0, 1_000, allow_nan=False, allow_infinity=False)


@st.composite
def legs(draw: st.DrawFn, prefix: str) -> Leg:
    bar = draw(st.integers(0, 60))
    return leg(
        f"{prefix}{draw(st.uuids())}", side=draw(st.sampled_from(["long", "short"])),
        q=draw(sizes), entry=draw(prices), exit=draw(prices), fees=draw(fees), bar=bar,
        bars=draw(st.integers(0, 10)), symbol=draw(st.sampled_from(["A", "B"])),
    )  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    strategy=st.lists(legs("s"), max_size=8),
    trader=st.lists(legs("j"), max_size=8),
    model=st.tuples(prices, prices),
    tolerance=st.integers(0, 3),
)
def test_attribution_sums_exactly_to_the_difference(strategy, trader, model, tolerance):
    modelled = {j.id: Modelled(*model) for j in trader}
    result = drift(strategy, trader, modelled, tolerance * DAY)
    causes = result.attribution()
    assert set(causes) == set(CAUSES)
    assert sum(causes.values()) == result.difference
    assert result.difference == result.trader_pnl - result.strategy_pnl
    for pair in result.pairs:
        assert sum(pair.effects.values()) == pair.difference
    assert len(result.pairs) + len(result.missed) == len(strategy)
    assert len(result.pairs) + len(result.extra) == len(trader)
    # JSON floats carry the decimals exactly up to 15 significant digits (below 1e9)
    if all(abs(v) < 1e9 for v in [*causes.values(), result.difference]):
        assert sum(Decimal(str(float(v))) for v in causes.values()) == result.difference


def brute_force(strategy: list[Leg], trader: list[Leg], tolerance: pd.Timedelta):
    """Every (strategy, trader) candidate, closest entries first: the rule as written."""
    candidates = sorted(
        (abs((j.entered_at - s.entered_at).total_seconds()), i, k)
        for i, s in enumerate(strategy)
        for k, j in enumerate(trader)
        if s.symbol == j.symbol
        and s.side == j.side
        and j.entered_at <= s.exited_at + tolerance
        and j.exited_at >= s.entered_at - tolerance
    )
    taken: dict[int, int] = {}
    for _, i, k in candidates:
        if i not in taken and k not in taken.values():
            taken[i] = k
    return [(strategy[i], trader[taken[i]]) for i in sorted(taken)]


@settings(max_examples=150, deadline=None)
@given(
    strategy=st.lists(legs("s"), max_size=10),
    trader=st.lists(legs("j"), max_size=10),
    tolerance=st.integers(0, 3),
)
def test_the_bounded_matching_finds_what_the_brute_force_finds(strategy, trader, tolerance):
    pairs, _, _ = match_legs(strategy, trader, tolerance * DAY)
    assert pairs == brute_force(strategy, trader, tolerance * DAY)
