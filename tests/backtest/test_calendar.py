"""Return periods and annualisation from the index's own calendar (local dates), for intraday,
daily, weekly and monthly bars, checked against backtesting.py on the same frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from backtesting.test import EURUSD, GOOG

from shared.backtest import ExecutionSettings, load_bars, run_backtest, run_sweep
from shared.backtest.spec import StrategySpec
from tests.backtest.peers import Config, differences, run_peer

OHLCV = {"Open": "first", "High": "max", "Low": "min", "Close": "last", "Volume": "sum"}
SMA = {"fast": 10, "slow": 20}


def test_daily_bars_dated_in_tokyo_are_annualised_with_252() -> None:
    tokyo = GOOG.tz_localize("Asia/Tokyo")  # UTC dates fall on Sunday..Thursday
    bars = load_bars(tokyo)
    assert bars.tz == "Asia/Tokyo"
    assert bars.periodicity == "daily"
    assert bars.annual_periods() == 252.0
    utc = run_backtest(load_bars(GOOG), "sma_cross", SMA, ExecutionSettings())
    ours = run_backtest(bars, "sma_cross", SMA, ExecutionSettings())
    assert ours.metrics["sharpe_ratio"] == utc.metrics["sharpe_ratio"]
    assert ours.annualisation == {
        "periodicity": "daily",
        "period": "day",
        "periodsPerYear": 252.0,
        "timeZone": "Asia/Tokyo",
    }
    assert differences(ours, run_peer(tokyo, "sma_cross", SMA, Config())) == []


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata"])
def test_hourly_bars_take_daily_returns_on_local_dates(zone: str) -> None:
    frame = EURUSD.tz_localize("UTC").tz_convert(zone).iloc[:2000]
    bars = load_bars(frame)
    assert bars.periodicity == "intraday"
    ends = bars.period_ends()
    local = frame.index.date
    assert ends[:-1].tolist() == (local[1:] != local[:-1]).tolist()
    ours = run_backtest(bars, "sma_cross", SMA, ExecutionSettings(direction="long_short"))
    ref = run_peer(frame, "sma_cross", SMA, Config(direction="long_short"))
    assert differences(ours, ref) == []


def test_weekly_bars() -> None:
    weekly = GOOG.resample("W").agg(OHLCV).dropna()
    bars = load_bars(weekly)
    assert (bars.periodicity, bars.annual_periods()) == ("weekly", 52.0)
    assert bars.period_ends().all()
    params = {"fast": 4, "slow": 10}
    ours = run_backtest(bars, "sma_cross", params, ExecutionSettings())
    assert differences(ours, run_peer(weekly, "sma_cross", params, Config())) == []


def test_monthly_bars_and_the_report_of_a_sweep() -> None:
    monthly = GOOG.resample("ME").agg(OHLCV).dropna()
    bars = load_bars(monthly)
    assert (bars.periodicity, bars.annual_periods()) == ("monthly", 12.0)
    assert bars.period_ends().all()
    # two bars in one month: one period
    two = pd.concat(
        [monthly.iloc[:3], monthly.iloc[[2]].set_axis([monthly.index[2] - pd.Timedelta(days=1)])]
    ).sort_index()
    assert load_bars(two).period_ends().tolist() == [True, True, False, True]
    sweep = run_sweep(
        bars,
        StrategySpec(strategy="sma_cross", grid={"fast": [2, 3], "slow": [6]}),
        ExecutionSettings(),
    )
    assert sweep.annualisation["periodsPerYear"] == 12.0
    ours = run_backtest(bars, "sma_cross", {"fast": 2, "slow": 6}, ExecutionSettings())
    assert differences(ours, run_peer(monthly, "sma_cross", {"fast": 2, "slow": 6}, Config())) == []
    forced = run_backtest(
        bars, "sma_cross", {"fast": 2, "slow": 6}, ExecutionSettings(annual_periods=4)
    )
    assert forced.annualisation["periodsPerYear"] == 4


def test_weekend_dates_in_the_local_calendar_give_365() -> None:
    index = pd.date_range("2024-01-01", periods=400, freq="D", tz="Asia/Tokyo")
    close = 100 + np.cumsum(np.ones(400))
    frame = pd.DataFrame({"Open": close, "High": close, "Low": close, "Close": close}, index=index)
    assert load_bars(frame).annual_periods() == 365.0


def test_thirty_day_bars_are_monthly_here_and_daily_in_backtesting_py() -> None:
    """Pins a remaining difference (README): backtesting.py annualises per month only when
    the median spacing is exactly 31 days (per week: 7); bars 30 days apart are 'daily' there
    (252 periods a year, one return per bar). The engine takes 27-32 days as monthly (12)."""
    n = 100
    close = 100 * np.exp(np.cumsum(np.random.default_rng(5).normal(0.01, 0.05, n)))
    frame = pd.DataFrame(
        {"Open": close, "High": close * 1.02, "Low": close * 0.98, "Close": close},
        index=pd.date_range("2010-01-01", periods=n, freq="30D"),
    )
    bars = load_bars(frame)
    assert (bars.periodicity, bars.annual_periods()) == ("monthly", 12.0)
    params = {"fast": 2, "slow": 6}
    ours = run_backtest(bars, "sma_cross", params, ExecutionSettings())
    ref = run_peer(frame, "sma_cross", params, Config())
    found = differences(ours, ref)
    assert found
    assert {line.split(":")[0] for line in found} <= {
        "return_ann_pct", "volatility_ann_pct", "sharpe_ratio", "sortino_ratio", "calmar_ratio",
    }  # fmt: skip
    assert differences(ours, ref, skip=frozenset(
        {"return_ann_pct", "volatility_ann_pct", "sharpe_ratio", "sortino_ratio", "calmar_ratio"}
    )) == []  # fmt: skip
