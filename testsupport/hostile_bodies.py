"""Hostile request bodies for the backtest and strategy routes, each with the problem type and
the detail pattern the API must answer with. Shared by tests/durable/test_backtests_hostile.py
(in process) and bench/backtest_validation.py (against a running local host)."""

from __future__ import annotations

from typing import Any

SMA = {"strategy": "sma_cross", "grid": {"fast": "5:15:5", "slow": "20:40:10"}}
EARLY = {"start": "2004-08-19", "end": "2004-10-15"}  # GOOG's first 41 daily bars


def body(strategy: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"symbols": ["GOOG"], "strategy": strategy or SMA, **extra}


def grid(**axes: Any) -> dict[str, Any]:
    return body({"strategy": "sma_cross", "grid": axes})


# (body, problem type, detail pattern); bytes bodies carry JSON the stdlib would not write.
BACKTESTS: list[tuple[Any, str, str]] = [
    # issue 12 #1: a grid is sized before it is expanded, per axis and as a whole
    (
        grid(fast="1:4000000", slow=[300]),
        "/problems/grid-too-large",
        r"grid axis 'fast' \('1:4000000'\) has 4000000 values, more than "
        r"BACKTEST_MAX_AXIS_VALUES=10000",
    ),
    (
        grid(fast="1:5000", slow="2:5001"),
        "/problems/grid-too-large",
        r"25000000 combinations before constraints \(fast 5000 x slow 5000\), more than "
        r"BACKTEST_MAX_GRID_SIZE=200000",
    ),
    (
        grid(fast="1:100", slow="2:101"),
        "/problems/grid-too-large",
        r"the grid has 5050 combinations \(5050 valid x 1 symbol\(s\)\), more than "
        r"BACKTEST_MAX_COMBINATIONS=1000",
    ),
    (  # the largest grid the size cap lets through: counted on arrays, refused by the cap
        grid(fast="1:447", slow="1:447"),
        "/problems/grid-too-large",
        r"the grid has 99681 combinations \(99681 valid x 1 symbol\(s\)\), more than "
        r"BACKTEST_MAX_COMBINATIONS=1000",
    ),
    # issue 12 #2: numbers of bounded length and exponent
    (
        grid(fast="1e450000"),
        "/problems/invalid-number",
        r"grid axis 'fast': '1e450000' is not a decimal number .*exponent at most 3 digits",
    ),
    (grid(fast=["1e450000"]), "/problems/invalid-number", r"grid axis 'fast': '1e450000'"),
    (
        b'{"symbols":["GOOG"],"strategy":{"strategy":"sma_cross","grid":{"fast":[1e450000]}}}',
        "/problems/invalid-number",
        r"grid axis 'fast': inf is not a finite number",
    ),
    # issue 12 #4: malformed input is a 4xx naming the field, never a 500
    (grid(fast=None), "about:blank", r"grid axis 'fast' is null"),
    (
        grid(fast="NaN:5"),
        "/problems/invalid-number",
        r"grid axis 'fast': 'NaN' is not a finite",
    ),
    (
        grid(fast="1:NaN"),
        "/problems/invalid-number",
        r"grid axis 'fast': 'NaN' is not a finite",
    ),
    (grid(fast="Infinity"), "/problems/invalid-number", r"'Infinity' is not a finite number"),
    (grid(fast=[True]), "/problems/invalid-number", r"grid axis 'fast': True is not a number"),
    (
        b'{"symbols":["GOOG"],"strategy":{"strategy":"bollinger_reversion","grid":{"n":[20]},'
        b'"params":{"k":NaN}}}',
        "/problems/invalid-number",
        r"params\.k: nan is not a finite number",
    ),
    (
        body({"strategy": "bollinger_reversion", "grid": {"n": [20]}, "params": {"k": "1e200000"}}),
        "/problems/invalid-number",
        r"params\.k: '1e200000' is not a decimal number",
    ),
    (
        b'{"symbols":["GOOG"],"strategy":{"strategy":"sma_cross","grid":{"fast":[5]}},'
        b'"execution":{"cash":1e309}}',
        "/problems/invalid-number",
        r"execution\.cash: inf is not a finite number",
    ),
    (
        body(execution={"cash": True}),
        "/problems/invalid-number",
        r"execution\.cash: True is not",
    ),
    (
        body(end="9999-12-31"),
        "about:blank",
        r"end: .*9999-12-31 is outside 1900-01-01\.\.2200-12-31",
    ),
    (
        body(symbols=["GO\x00OG"]),
        "about:blank",
        r"symbol contains a control character \(U\+0000\) at position 2",
    ),
    (body(topN=True), "about:blank", r"topN: Input should be a valid integer"),
    # issue 11 #5: one declaration of each strategy's parameters
    (
        grid(fast=[2.5]),
        "/problems/invalid-parameter",
        r"sma_cross: fast=2\.5 must be an integer",
    ),
    (grid(fastt=[3]), "/problems/invalid-parameter", r"sma_cross has no parameter 'fastt'"),
    (
        body({"strategy": "rsi_reversion", "grid": {"lower": [80]}, "params": {"upper": 70}}),
        "/problems/no-valid-combination",
        r"no combination of the rsi_reversion grid satisfies lower < upper",
    ),
    (
        body({"strategy": "macd", "grid": {"signal": [0, 9]}}),
        "/problems/invalid-parameter",
        r"macd: signal=0 must be >= 1",
    ),
    # issue 11 #3 / 12 #3: a warm-up that does not fit the bars is refused before queuing
    (
        body({"strategy": "sma_cross", "grid": {"slow": [300]}}, **EARLY),
        "/problems/not-enough-bars",
        r"^sma_cross slow=300 needs 301 bars, GOOG 2004-08-19\.\.2004-10-15 has 41; ",
    ),
    (
        body({"strategy": "sma_cross", "grid": {"slow": [10**6]}}),
        "/problems/not-enough-bars",
        r"^sma_cross slow=1000000 needs 1000001 bars, GOOG 2004-08-19\.\.2013-03-01 has 2148",
    ),
    (
        body({"strategy": "sma_cross", "grid": {"slow": [10**9]}}),
        "/problems/invalid-parameter",
        r"sma_cross: slow=1000000000 must be <= 1000000",
    ),
    (
        body(
            {"strategy": "sma_cross", "grid": {"slow": [300]}},
            walkForward={"trainBars": 250, "testBars": 50},
        ),
        "/problems/not-enough-bars",
        r"needs 301 bars, GOOG .* has 2148, and its walk-forward training windows have "
        r"trainBars=250",
    ),
]

STRATEGIES: list[tuple[Any, str, str]] = [
    (
        {"name": "x", "spec": {"strategy": "bollinger_reversion", "params": {"k": "1e200000"}}},
        "/problems/invalid-number",
        r"params\.k: '1e200000' is not a decimal number",
    ),
    (
        {"name": "x", "spec": {"strategy": "bollinger_reversion", "grid": {"k": "1e200000"}}},
        "/problems/invalid-number",
        r"grid axis 'k': '1e200000'",
    ),
    (
        {"name": "x", "spec": {"strategy": "sma_cross", "grid": {"fast": "1:4000000"}}},
        "/problems/grid-too-large",
        r"BACKTEST_MAX_AXIS_VALUES=10000",
    ),
    (
        {"name": "x", "spec": {"strategy": "sma_cross", "grid": {"fast": [50], "slow": [20]}}},
        "/problems/no-valid-combination",
        r"satisfies fast < slow",
    ),
    (
        {"name": "x", "spec": {"strategy": "sma_cross", "params": {"fast": 50, "slow": 20}}},
        "/problems/invalid-parameter",
        r"sma_cross: fast=50 must be < slow=20 \(rule fast < slow\)",
    ),
    (
        {"name": "x", "spec": {"strategy": "sma_cross", "params": {"fastt": 3}}},
        "/problems/invalid-parameter",
        r"sma_cross has no parameter 'fastt'",
    ),
]
