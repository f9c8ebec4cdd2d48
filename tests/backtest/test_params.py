"""One parameter declaration per strategy, enforced alike by single runs (`run_backtest`),
sweeps (`run_sweep`) and specs; warm-ups that do not fit the bars are refused before the
kernel runs."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.backtest import (
    BarsFrame,
    ExecutionSettings,
    Param,
    Relation,
    Strategy,
    StrategySpec,
    get_strategy,
    indicators,
    register,
    run_backtest,
    run_sweep,
    strategy_names,
)
from shared.errors import (
    DomainError,
    InvalidInput,
    InvalidParameter,
    NotEnoughBars,
    NoValidCombination,
)

EXECUTION = ExecutionSettings()
BUILTINS = [
    "bollinger_reversion",
    "donchian_breakout",
    "ema_cross",
    "macd",
    "rsi_reversion",
    "sma_cross",
]


@pytest.mark.parametrize(
    ("strategy", "params", "message"),
    [
        ("sma_cross", {"fast": 30, "slow": 20}, r"sma_cross: fast=30 must be < slow=20 \(rule"),
        ("sma_cross", {"fast": 20, "slow": 20}, r"fast=20 must be < slow=20"),
        ("ema_cross", {"fast": 0}, r"ema_cross: fast=0 must be >= 1"),
        ("sma_cross", {"fast": 2.5}, r"fast=2.5 must be an integer \(integer, 1 <= fast <="),
        ("sma_cross", {"fastt": 3}, r"sma_cross has no parameter 'fastt'; its parameters are fast"),
        ("rsi_reversion", {"lower": 80, "upper": 70}, r"lower=80.0 must be < upper=70.0 \(rule"),
        ("rsi_reversion", {"n": 1}, r"rsi_reversion: n=1 must be >= 2"),
        ("bollinger_reversion", {"k": -0.5}, r"bollinger_reversion: k=-0.5 must be >= 0"),
        ("macd", {"signal": 0}, r"macd: signal=0 must be >= 1"),
        ("macd", {"fast": 26}, r"macd: fast=26 must be < slow=26"),
        ("donchian_breakout", {"exit": 0}, r"donchian_breakout: exit=0 must be >= 1"),
        ("sma_cross", {"slow": 10**9}, r"sma_cross: slow=1000000000 must be <= 1000000"),
        ("sma_cross", {"slow": True}, r"sma_cross: slow=True must be a number"),
        ("sma_cross", {"slow": math.nan}, r"sma_cross: slow=nan must be a finite number"),
    ],
)  # fmt: skip
def test_single_runs_refuse_each_rule_by_name(
    goog: BarsFrame, strategy: str, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidParameter, match=message):
        run_backtest(goog, strategy, params, EXECUTION)


def test_zero_k_is_a_valid_bollinger_band(goog: BarsFrame) -> None:
    result = run_backtest(goog, "bollinger_reversion", {"n": 20, "k": 0}, EXECUTION)
    assert result.metrics["trades"] > 0


def test_a_sweep_without_a_valid_combination_is_an_error(goog: BarsFrame) -> None:
    spec = StrategySpec(strategy="sma_cross", grid={"fast": [50, 60], "slow": [20, 30]})
    with pytest.raises(NoValidCombination, match="satisfies fast < slow"):
        run_sweep(goog, spec, EXECUTION)


def test_a_warm_up_longer_than_the_bars_is_refused_before_the_kernel(goog: BarsFrame) -> None:
    bars = goog.slice(0, 41)
    with pytest.raises(
        NotEnoughBars,
        match=r"^sma_cross slow=300 needs 301 bars, GOOG 2004-08-19\.\.2004-10-15 has 41$",
    ):
        run_backtest(bars, "sma_cross", {"fast": 10, "slow": 300}, EXECUTION)
    spec = StrategySpec(strategy="sma_cross", grid={"fast": [5], "slow": [30, 10**6]})
    started = time.perf_counter()
    with pytest.raises(NotEnoughBars, match="sma_cross slow=1000000 needs 1000001 bars, GOOG"):
        run_sweep(goog, spec, EXECUTION)
    assert time.perf_counter() - started < 1.0
    with pytest.raises(NotEnoughBars, match=r"macd slow=26 signal=9 needs 35 bars"):
        run_backtest(goog.slice(0, 34), "macd", {}, EXECUTION)
    # exactly enough bars: it runs
    assert run_backtest(goog.slice(0, 35), "macd", {}, EXECUTION).metrics["trades"] >= 0
    assert run_backtest(bars, "sma_cross", {"fast": 10, "slow": 40}, EXECUTION) is not None


@pytest.mark.parametrize("name", BUILTINS)
def test_bars_needed_is_the_first_bar_that_can_trade_plus_one(goog: BarsFrame, name: str) -> None:
    """The warm-up each declaration states is the kernel's: with one bar fewer than
    `bars_needed` the run is refused, with exactly that many it runs."""
    strategy = get_strategy(name)
    combo = strategy.check({})
    needed = strategy.bars_needed(combo)
    with pytest.raises(NotEnoughBars, match=f"needs {needed} bars"):
        run_backtest(goog.slice(0, needed - 1), name, {}, EXECUTION)
    run_backtest(goog.slice(0, needed), name, {}, EXECUTION)


def test_every_builtin_declares_its_parameters() -> None:
    assert set(BUILTINS) <= set(strategy_names())
    for name in BUILTINS:
        declared = get_strategy(name).declaration()
        assert declared.names == list(get_strategy(name).defaults)
        assert declared.check({}) == get_strategy(name).defaults


_values = st.one_of(
    st.integers(-5, 400),
    st.floats(-5, 400, allow_nan=False),
    st.sampled_from([math.nan, math.inf, True, None, "12", "2.5", "1e450000", "x"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(BUILTINS),
    data=st.data(),
)
def test_single_runs_and_specs_apply_the_same_declaration(name: str, data: st.DataObject) -> None:
    """For random parameters, a single run's check and a spec with them as fixed values accept
    or refuse alike; accepted, they make the same combination."""
    names = [*get_strategy(name).declaration().names, "extra"]
    chosen = data.draw(st.lists(st.sampled_from(names), unique=True, max_size=3))
    params = {n: data.draw(_values) for n in chosen}
    single: dict[str, Any] | DomainError
    try:
        single = get_strategy(name).check(params)
    except InvalidInput as error:
        single = error
    try:
        combos: list[dict[str, Any]] | DomainError = StrategySpec(
            strategy=name, params=params
        ).combinations()
    except InvalidInput as error:
        combos = error
    if isinstance(single, DomainError):
        assert isinstance(combos, DomainError), (params, single.detail)
    else:
        assert combos == [single]


def test_readme_states_the_declared_rules() -> None:
    """The README's parameter table is the declarations' (regenerate it from `rules_table`)."""
    from pathlib import Path

    from shared.backtest.strategies.params import rules_table

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    marker = "<!-- strategy-params:start -->\n"
    start = readme.index(marker) + len(marker)
    stop = readme.index("\n<!-- strategy-params:end -->")
    expected = rules_table(get_strategy(n).rules_row() for n in BUILTINS)
    assert readme[start:stop] == expected, f"README's table is stale; it should be:\n{expected}"


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(BUILTINS), data=st.data())
def test_the_documented_bars_needed_rule_is_the_code(name: str, data: st.DataObject) -> None:
    strategy = get_strategy(name)
    combo = {
        p.name: data.draw(st.integers(int(p.ge or 0), 500)) if p.kind == "int" else p.default
        for p in strategy.declaration().params
    }
    assert eval(strategy.bars_needed_rule, {"max": max}, dict(combo)) == strategy.bars_needed(combo)


@register
class _Channel(Strategy):
    """A registered Python strategy declaring its own parameters and a relation."""

    name = "test_declared_channel"
    parameters = (Param("n", "int", 10, ge=2, le=500), Param("m", "int", 30, ge=2))
    relations = (Relation("n", "<=", "m"),)
    window_params = ("m",)

    def warmup(self, params: dict[str, Any]) -> int:
        return int(params["m"]) - 1

    def signals(self, bars: BarsFrame, params: dict[str, Any]) -> np.ndarray:
        fast = indicators.sma(bars.close, int(params["n"]))
        slow = indicators.sma(bars.close, int(params["m"]))
        return np.where(fast > slow, 1, -1).astype(np.int8)


def test_a_registered_strategy_gets_the_same_checks(goog: BarsFrame) -> None:
    spec = StrategySpec(strategy="test_declared_channel", grid={"n": [10, 30, 40], "m": [30]})
    assert spec.combinations() == [{"n": 10, "m": 30}, {"n": 30, "m": 30}]
    assert len(run_sweep(goog, spec, EXECUTION)) == 2
    with pytest.raises(InvalidParameter, match=r"n=40 must be <= m=30 \(rule n <= m\)"):
        run_backtest(goog, "test_declared_channel", {"n": 40}, EXECUTION)
    with pytest.raises(InvalidParameter, match=r"test_declared_channel: n=501 must be <= 500"):
        StrategySpec(strategy="test_declared_channel", params={"n": 501})
    with pytest.raises(NotEnoughBars, match="test_declared_channel m=30 needs 31 bars"):
        run_backtest(goog.slice(0, 30), "test_declared_channel", {}, EXECUTION)
