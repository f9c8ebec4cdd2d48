"""Fixtures of the backtest engine tests: backtesting.py's bundled GOOG daily bars."""

from __future__ import annotations

import pytest
from backtesting.test import GOOG

from shared.backtest import BarsFrame, load_bars


@pytest.fixture(scope="session")
def goog() -> BarsFrame:
    return load_bars(GOOG, symbol="GOOG")
