"""Bar counts from the lake's metadata (`BarLake.count`, `lake_bar_count`) equal the length of
what `read` / `lake_bars` return, for any range: daily (yearly partitions) and intraday
(monthly partitions), open or closed at either end, inside one partition or across many."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.ingest.bars import DATASET, BarLake
from shared.ingest.query import lake_bar_count, lake_bars
from shared.storage.factory import lake
from testsupport.bars import goog_frame, write_bars


def _intraday(periods: int) -> pd.DataFrame:
    index = pd.date_range("2024-01-30 14:30", periods=periods, freq="5min", tz="UTC")
    close = 100 + np.cumsum(np.random.default_rng(3).normal(0, 0.1, periods))
    return pd.DataFrame(
        {"open": close, "high": close + 0.2, "low": close - 0.2, "close": close, "volume": 1.0},
        index=index,
    )


@pytest.fixture
def goog_lake(isolated_settings: Path) -> BarLake:
    write_bars()
    return BarLake(lake())


def test_the_whole_series_counts_from_footers_alone(goog_lake: BarLake) -> None:
    assert goog_lake.count("GOOG", "1d") == len(goog_frame()) == 2148
    assert lake_bar_count("GOOG", "1d", None, None) == 2148
    assert goog_lake.count("NOPE", "1d") == 0
    assert goog_lake.count("GOOG", "5m") == 0


def test_a_footer_count_equals_the_partition_rows(goog_lake: BarLake) -> None:
    part = {"interval": "1d", "symbol": "GOOG", "period": "2010"}
    table = goog_lake.lake.read_partition(DATASET, part)
    assert table is not None
    assert goog_lake.lake.partition_rows(DATASET, part) == table.num_rows == 252
    path = Path(goog_lake.lake.blobs.open(goog_lake.lake.partition_path(DATASET, part)).name)
    assert pq.ParquetFile(path).metadata.num_rows == 252
    assert goog_lake.lake.partition_rows(DATASET, {**part, "period": "1990"}) == 0


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    start=st.one_of(st.none(), st.dates(date(2003, 1, 1), date(2014, 12, 31))),
    days=st.one_of(st.none(), st.integers(0, 4000)),
)
def test_any_daily_range_counts_what_lake_bars_reads(
    goog_lake: BarLake, start: date | None, days: int | None
) -> None:
    end = None if days is None else (start or date(2004, 8, 19)) + timedelta(days=days)
    assert lake_bar_count("GOOG", "1d", start, end) == len(lake_bars("GOOG", "1d", start, end))


def test_intraday_ranges_cut_monthly_partitions(isolated_settings: Path) -> None:
    frame = _intraday(3000)  # 2024-01-30 .. 2024-02-09: two monthly partitions
    write_bars("SPY", "5m", frame)
    bars = BarLake(lake())
    assert bars.periods("SPY", "5m") == ["2024-01", "2024-02"]
    cases = [
        (None, None),
        (datetime(2024, 2, 1, tzinfo=UTC), None),
        (None, datetime(2024, 2, 1, tzinfo=UTC)),
        (datetime(2024, 1, 31, 16, tzinfo=UTC), datetime(2024, 2, 3, 9, 35, tzinfo=UTC)),
        (datetime(2024, 3, 1, tzinfo=UTC), None),
    ]
    for begin, stop in cases:
        assert bars.count("SPY", "5m", begin, stop) == bars.read("SPY", "5m", begin, stop).num_rows
    assert bars.count("SPY", "5m") == 3000
