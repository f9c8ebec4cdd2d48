"""`load_bars` refuses bad bars, naming the rows and the fix, unless a named repair is asked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shared.backtest import load_bars
from shared.backtest.bars import REPAIRS
from shared.errors import InvalidInput


def frame(n: int = 6) -> pd.DataFrame:
    close = 100.0 + np.arange(n)
    return pd.DataFrame(
        {"Open": close, "High": close + 1, "Low": close - 1, "Close": close},
        index=pd.date_range("2024-01-01", periods=n, freq="D", tz="UTC"),
    )


def test_unsorted_bars_are_named_and_sorted_only_on_request() -> None:
    data = frame().iloc[[0, 1, 3, 2, 4, 5]]
    with pytest.raises(
        InvalidInput,
        match=r"1 bar\(s\) come before .*row 3 \(2024-01-03T00:00:00\+00:00\).*repair=\['sort'\]",
    ):
        load_bars(data)
    bars = load_bars(data, repair=["sort"])
    assert bars.close.tolist() == frame().Close.tolist()


def test_duplicate_timestamps_keep_the_last_on_request() -> None:
    data = pd.concat([frame().iloc[:3], frame().iloc[[2]].assign(Close=150.0), frame().iloc[3:]])
    with pytest.raises(
        InvalidInput, match=r"repeat the timestamp .*row 3 \(2024-01-03.*drop_duplicates"
    ):
        load_bars(data)
    bars = load_bars(data, repair=["drop_duplicates"])
    assert len(bars) == 6
    assert bars.close[2] == 150.0


@pytest.mark.parametrize(
    ("column", "value"), [("Open", 0.0), ("Close", -3.0), ("Low", np.nan), ("High", np.inf)]
)
def test_missing_zero_or_negative_prices_are_refused(column: str, value: float) -> None:
    data = frame()
    data.iloc[4, data.columns.get_loc(column)] = value
    with pytest.raises(
        InvalidInput,
        match=r"missing, infinite, zero or negative price \(row 4 \(2024-01-05.*drop_invalid",
    ):
        load_bars(data)
    bars = load_bars(data, repair=["drop_invalid"])
    assert len(bars) == 5
    assert 104.0 not in bars.close


def test_high_below_low_is_refused_or_widened() -> None:
    data = frame()
    data.iloc[1, data.columns.get_loc("High")] = 90.0
    with pytest.raises(InvalidInput, match=r"High below Low \(row 1 .*fix_high_low"):
        load_bars(data)
    bars = load_bars(data, repair=["fix_high_low"])
    assert (bars.high[1], bars.low[1]) == (101.0, 90.0)
    assert (bars.high >= np.maximum(bars.open, bars.close)).all()


def test_rows_are_positions_in_the_source_even_after_a_cut() -> None:
    data = frame(10)
    data.iloc[[7, 8], data.columns.get_loc("Close")] = 0.0
    with pytest.raises(InvalidInput, match=r"2 bar\(s\) .*rows 7 .*, 8 "):
        load_bars(data, start="2024-01-05")
    assert len(load_bars(data, end="2024-01-07")) == 7  # the bad rows are outside the cut


def test_repair_true_means_all_and_unknown_repairs_are_named() -> None:
    data = frame().iloc[[1, 0, 2, 2, 3, 4, 5]].copy()
    data.iloc[4, data.columns.get_loc("Open")] = -1.0
    bars = load_bars(data, repair=True)
    assert np.all(np.diff(bars.ts) > 0)
    assert len(bars) == 5
    with pytest.raises(InvalidInput, match=r"unknown bar repair magic; choose from sort, "):
        load_bars(data, repair=["magic"])
    assert REPAIRS == ("sort", "drop_duplicates", "drop_invalid", "fix_high_low")


def test_missing_times_are_refused() -> None:
    data = frame().reset_index(names="ts")
    data.loc[2, "ts"] = pd.NaT
    with pytest.raises(InvalidInput, match=r"no time \(rows \[2\]\)"):
        load_bars(data)
    assert len(load_bars(data, repair=["drop_invalid"])) == 5
