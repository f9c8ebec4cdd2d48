"""The kernel's cross-rule events against the peers' own crossover functions, on hostile lines
(ties, NaN runs anywhere, lengths around the eight-bar words the kernel scans): the sticky
rule fires exactly where vectorbt's `crossed_above_1d_nb` does (both ways, as its
`crossed_below` does), the strict rule exactly where backtesting.py's `crossover` does, from
the first tradable bar on; the prefix-sum variants read the same averages from one sum row and
fire at the same bars."""

from __future__ import annotations

import numpy as np
from backtesting.lib import crossover
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vectorbt.generic.nb import crossed_above_1d_nb

from shared.backtest.kernel import (
    RULE_CROSS,
    RULE_CROSS_PREFIX,
    RULE_CROSS_STICKY,
    RULE_CROSS_STICKY_PREFIX,
    _events,
)

BUDGET = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
VALUES = st.sampled_from([1.0, 2.0, 3.0, np.nan])  # few values: ties and NaN runs are common


def kernel_events(
    code: int, lines: np.ndarray, ia: list[int], first_bar: int, n: int
) -> dict[int, int]:
    """{bar: event} of one combination, as the kernel's phase one finds them."""
    ev_bar = np.empty(n + 1, dtype=np.int32)
    ev_code = np.empty(n + 1, dtype=np.int8)
    sides = np.empty((n + 7) // 8 * 8, dtype=np.int8)
    close = np.ones(n)
    count = _events(
        code,
        close,
        lines,
        np.array(ia, dtype=np.int64),
        np.zeros(1),
        first_bar,
        ev_bar,
        ev_code,
        sides,
    )
    return {int(ev_bar[k]): int(ev_code[k]) for k in range(count)}


def vectorbt_events(a: np.ndarray, b: np.ndarray, first_bar: int) -> dict[int, int]:
    up = crossed_above_1d_nb(a, b)
    down = crossed_above_1d_nb(b, a)  # vectorbt's crossed_below
    return {i: 1 if up[i] else -1 for i in range(first_bar, len(a)) if up[i] or down[i]}


def backtesting_events(a: np.ndarray, b: np.ndarray, first_bar: int) -> dict[int, int]:
    found = {}
    for i in range(max(first_bar, 1), len(a)):
        if crossover(a[: i + 1], b[: i + 1]):
            found[i] = 2
        elif crossover(b[: i + 1], a[: i + 1]):
            found[i] = -2
    return found


@BUDGET
@given(data=st.data(), n=st.integers(1, 41))
def test_line_crosses_fire_where_the_peers_do(data: st.DataObject, n: int) -> None:
    a = np.array(data.draw(st.lists(VALUES, min_size=n, max_size=n)))
    b = np.array(data.draw(st.lists(VALUES, min_size=n, max_size=n)))
    first_bar = data.draw(st.integers(0, n))
    lines = np.stack([a, b])
    assert kernel_events(RULE_CROSS_STICKY, lines, [0, 1], first_bar, n) == vectorbt_events(
        a, b, first_bar
    )
    assert kernel_events(RULE_CROSS, lines, [0, 1], first_bar, n) == backtesting_events(
        a, b, first_bar
    )


def prefix_means(sums: np.ndarray, window: int) -> np.ndarray:
    """The mean of the `window` values ending at each bar, from their running sums (NaN
    before the window is full): what `ma="prefix"` reads from one sum row."""
    out = np.full(sums.shape[0], np.nan)
    if window <= sums.shape[0]:
        out[window - 1] = sums[window - 1] / window
        out[window:] = (sums[window:] - sums[:-window]) / window
    return out


@BUDGET
@given(
    data=st.data(),
    n=st.integers(1, 41),
    fast=st.integers(1, 6),
    slow=st.integers(1, 9),
)
def test_prefix_crosses_fire_where_the_peers_do_on_the_same_averages(
    data: st.DataObject, n: int, fast: int, slow: int
) -> None:
    close = np.array(data.draw(st.lists(st.sampled_from([1.0, 2.0, 4.0]), min_size=n, max_size=n)))
    first_bar = data.draw(st.integers(0, n))
    sums = np.cumsum(close)
    a, b = prefix_means(sums, fast), prefix_means(sums, slow)
    lines = sums.reshape(1, -1)
    assert kernel_events(RULE_CROSS_STICKY_PREFIX, lines, [fast, slow], first_bar, n) == (
        vectorbt_events(a, b, first_bar)
    )
    assert kernel_events(RULE_CROSS_PREFIX, lines, [fast, slow], first_bar, n) == (
        backtesting_events(a, b, first_bar)
    )


def test_a_cross_on_the_last_bar_of_an_unpadded_word_and_after_a_nan_gap() -> None:
    # 9 bars: the second word holds one real bar (the rest is padding); the NaN at bar 3
    # makes the sticky rule forget it was below, so bar 4 going above is no cross
    a = np.array([1.0, 3.0, 1.0, np.nan, 3.0, 1.0, 1.0, 1.0, 3.0])
    b = np.full(9, 2.0)
    lines = np.stack([a, b])
    assert kernel_events(RULE_CROSS_STICKY, lines, [0, 1], 0, 9) == {1: 1, 2: -1, 5: -1, 8: 1}
    assert kernel_events(RULE_CROSS, lines, [0, 1], 0, 9) == {1: 2, 2: -2, 5: -2, 8: 2}
    assert kernel_events(RULE_CROSS, lines, [0, 1], 6, 9) == {8: 2}
