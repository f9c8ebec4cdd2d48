"""The bar lake: layout, provenance, precedence and rewrite size of an incremental day."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from shared.ingest.bars import BarLake, TooManyBars
from shared.market.models import Bar
from shared.storage.factory import lake
from shared.storage.lake import READ_AHEAD

T0 = datetime(2024, 7, 1, tzinfo=UTC)


def bar(day: int, close: float, source: str = "yahoo", symbol: str = "AAPL", **kw: object) -> Bar:
    ts = datetime(2023, 12, 27, tzinfo=UTC) + timedelta(days=day)
    return Bar(
        symbol=symbol,
        interval="1d",
        ts=ts,
        open=close,
        high=close + 1,
        low=close - 1,
        close=close,
        volume=100.0,
        source=source,
        adjustment="split",
        **kw,
    )


def test_layout_is_interval_symbol_year() -> None:
    store = BarLake(lake())
    store.merge([bar(i, 10 + i) for i in range(10)], ingested_at=T0)
    names = sorted(p.path for p in store.lake.partitions("bars"))
    assert names == [
        "bars/interval=1d/symbol=AAPL/period=2023/part.parquet",
        "bars/interval=1d/symbol=AAPL/period=2024/part.parquet",
    ]


def test_read_back_with_provenance() -> None:
    store = BarLake(lake())
    store.merge([bar(i, 10 + i) for i in range(10)], ingested_at=T0)
    table = store.read(
        "AAPL", "1d", datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 3, tzinfo=UTC)
    )
    rows = table.to_pylist()
    assert [r["close"] for r in rows] == [15.0, 16.0]
    assert rows[0]["source"] == "yahoo"
    assert rows[0]["adjustment"] == "split"
    assert rows[0]["ingested_at"] == T0


def test_max_rows_stops_reading_at_the_partition_that_passes_it() -> None:
    store = BarLake(lake())
    store.merge([bar(i, 10 + i) for i in range(800)], ingested_at=T0)
    assert len(store.periods("AAPL", "1d")) == 4
    read: list[str] = []
    real = store.lake.read_partition

    def counting(
        dataset: str, partition: Mapping[str, Any], columns: Sequence[str] | None = None
    ) -> pa.Table | None:
        read.append(partition["period"])
        return real(dataset, partition, columns)

    store.lake.read_partition = counting  # type: ignore[method-assign]
    with pytest.raises(TooManyBars) as refused:
        store.read("AAPL", "1d", max_rows=100)
    assert read == ["2023", "2024"]
    assert refused.value.status == 422
    assert "start=2023-12-27T00:00:00Z&end=2024-04-05T00:00:00Z" in refused.value.detail
    assert "continue with start=2024-04-05T00:00:00Z" in refused.value.detail
    assert store.read("AAPL", "1d", max_rows=800).num_rows == 800
    start = datetime(2024, 1, 1, tzinfo=UTC)
    end = datetime(2024, 4, 10, tzinfo=UTC)
    assert store.read("AAPL", "1d", start, end, max_rows=100).num_rows == 100


def test_a_remote_store_reads_ahead_on_threads_and_returns_the_same_bars(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """From a remote store (a round trip per blob) the partitions are fetched a few at a
    time on threads; the table is the one a read in turn gives, and a read refused past
    `max_rows` fetched at most READ_AHEAD partitions past the one that passed it."""
    store = BarLake(lake())
    store.merge([bar(i, 10 + i) for i in range(20 * 366)], ingested_at=T0)
    periods = store.periods("AAPL", "1d")
    assert len(periods) == 22
    in_turn = store.read("AAPL", "1d")
    cut = store.read(
        "AAPL", "1d", datetime(2026, 3, 5, tzinfo=UTC), datetime(2039, 7, 1, tzinfo=UTC)
    )
    with pytest.raises(TooManyBars) as refused_in_turn:
        store.read("AAPL", "1d", max_rows=500)
    threads: set[str] = set()
    fetched: list[str] = []
    real = store.lake.read_partition

    def recording(
        dataset: str, partition: Mapping[str, Any], columns: Sequence[str] | None = None
    ) -> pa.Table | None:
        threads.add(threading.current_thread().name)
        fetched.append(partition["period"])
        return real(dataset, partition, columns)

    store.lake.read_partition = recording  # type: ignore[method-assign]
    monkeypatch.setattr(store.lake.blobs, "remote", True)
    ahead = store.read("AAPL", "1d")
    assert ahead.equals(in_turn, check_metadata=True)
    assert ahead.num_rows == 20 * 366
    assert all(name.startswith("lake-read") for name in threads)
    assert sorted(fetched) == periods
    again = store.read(
        "AAPL", "1d", datetime(2026, 3, 5, tzinfo=UTC), datetime(2039, 7, 1, tzinfo=UTC)
    )
    assert again.equals(cut, check_metadata=True)
    assert again.num_rows == len(set(again["ts"].to_pylist())) > 4800
    fetched.clear()
    with pytest.raises(TooManyBars) as refused:
        store.read("AAPL", "1d", max_rows=500)
    assert refused.value.detail == refused_in_turn.value.detail
    assert len(fetched) <= 3 + READ_AHEAD < len(periods)  # 5 + 366 + 365 bars pass 500 at 2025


def test_a_read_of_some_columns_is_the_full_read_narrowed() -> None:
    store = BarLake(lake())
    store.merge([bar(i, 10 + i) for i in range(800)], ingested_at=T0)
    start, end = datetime(2024, 2, 29, 12, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC)
    full = store.read("AAPL", "1d", start, end)
    some = store.read("AAPL", "1d", start, end, columns=["volume", "close"])
    assert some.column_names == ["ts", "close", "volume"]
    assert some.equals(full.select(["ts", "close", "volume"]), check_metadata=True)
    assert some.num_rows == 365  # 2024-03-01 .. 2025-02-28
    empty = store.read("AAPL", "1d", datetime(2030, 1, 1, tzinfo=UTC), columns=["close"])
    assert empty.column_names == ["ts", "close"]
    assert empty.num_rows == 0
    with pytest.raises(ValueError, match="not bar columns: period"):
        store.read("AAPL", "1d", columns=["close", "period"])


def test_unchanged_rows_keep_their_ingested_at_and_bytes() -> None:
    store = BarLake(lake())
    store.merge([bar(i, 10 + i) for i in range(10)], ingested_at=T0)
    files = {p.path: store.lake.blobs.get(p.path) for p in store.lake.partitions("bars")}
    again = store.merge([bar(i, 10 + i) for i in range(10)], ingested_at=T0 + timedelta(days=1))
    assert again.bytes_written == 0
    assert {p.path: store.lake.blobs.get(p.path) for p in store.lake.partitions("bars")} == files


def test_correction_from_the_same_source_replaces() -> None:
    store = BarLake(lake())
    store.merge([bar(6, 10.0)], ingested_at=T0)
    later = T0 + timedelta(hours=1)
    summary = store.merge([bar(6, 11.0)], ingested_at=later)
    assert summary.rows_written == 1
    (row,) = store.read("AAPL", "1d").to_pylist()
    assert (row["close"], row["ingested_at"]) == (11.0, later)


@pytest.mark.parametrize(
    ("first", "second", "kept"),
    [
        ("sample", "yahoo", "yahoo"),
        ("yahoo", "sample", "yahoo"),
        ("yahoo", "alphavantage", "alphavantage"),
        ("yahoo", "coingecko", "yahoo"),
    ],
)
def test_source_precedence(first: str, second: str, kept: str) -> None:
    store = BarLake(lake())
    store.merge([bar(6, 10.0, first)], ingested_at=T0)
    store.merge([bar(6, 12.0, second)], ingested_at=T0 + timedelta(hours=1))
    (row,) = store.read("AAPL", "1d").to_pylist()
    assert row["source"] == kept


def test_a_new_day_rewrites_only_its_partition() -> None:
    store = BarLake(lake())
    symbols = ["AAPL", "MSFT", "IBM"]
    store.merge([bar(i, 10 + i, symbol=s) for s in symbols for i in range(400)], ingested_at=T0)
    before = {p.path: p.size for p in store.lake.partitions("bars")}
    assert len(before) == 3 * 3
    summary = store.merge([bar(400, 9.0, symbol=s) for s in symbols], ingested_at=T0)
    changed = {p.path for p in store.lake.partitions("bars") if before.get(p.path) != p.size}
    assert summary.partitions_changed == 3
    assert all("period=2025" in path for path in changed)
    assert summary.bytes_written < sum(before.values()) / 2


def test_nan_prices_are_not_bars() -> None:
    with pytest.raises(ValueError, match="finite"):
        bar(1, float("nan"))


def test_series_lock_keeps_concurrent_merges_from_losing_rows() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from shared.ingest.state import SeriesLocks
    from shared.storage.factory import document_store

    store = BarLake(lake())
    locks = SeriesLocks(document_store())

    def writer(offset: int) -> None:
        for i in range(offset, 60, 3):
            with locks.hold("AAPL", "1d"):
                store.merge([bar(10 + i, 100.0 + i)], ingested_at=T0)

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(writer, range(3)))
    assert store.read("AAPL", "1d").num_rows == 60
    assert document_store().query_all("sync_state", "_locks") == []


def test_a_null_never_replaces_a_stored_adj_close_or_volume() -> None:
    """The same bar again from the same source, without adj_close or volume (a raw answer
    after an adjusted one): the stored values stay; nothing is rewritten."""
    store = BarLake(lake())
    store.merge([bar(6, 10.0, adj_close=9.5)], ingested_at=T0)
    thin = bar(6, 10.0).model_copy(update={"volume": None})
    summary = store.merge([thin], ingested_at=T0 + timedelta(hours=1))
    assert (summary.rows_written, summary.refused) == (0, 0)
    (row,) = store.read("AAPL", "1d").to_pylist()
    assert (row["adj_close"], row["volume"], row["ingested_at"]) == (9.5, 100.0, T0)


def test_a_correction_without_adj_close_keeps_the_stored_one() -> None:
    store = BarLake(lake())
    store.merge([bar(6, 10.0, adj_close=9.5)], ingested_at=T0)
    fuller = bar(6, 10.0, adj_close=None).model_copy(update={"high": 11.5})
    summary = store.merge([fuller], ingested_at=T0 + timedelta(hours=1))
    assert summary.rows_written == 1
    (row,) = store.read("AAPL", "1d").to_pylist()
    assert (row["high"], row["adj_close"]) == (11.5, 9.5)


def test_raw_prices_never_replace_adjusted_ones() -> None:
    """Yahoo's split-adjusted row, then Alpha Vantage's raw (as traded, 4x before a 4:1
    split) row for the same day: the merge is refused and named, the adjusted row stays."""
    store = BarLake(lake())
    store.merge([bar(6, 10.0, adj_close=9.8)], ingested_at=T0)
    raw = bar(6, 40.0, source="alphavantage").model_copy(update={"adjustment": "none"})
    summary = store.merge([raw], ingested_at=T0 + timedelta(hours=1))
    assert (summary.rows_written, summary.refused) == (0, 1)
    assert "raw alphavantage prices differ from the stored adjusted" in summary.refusals[0]
    (row,) = store.read("AAPL", "1d").to_pylist()
    assert (row["source"], row["close"], row["adj_close"]) == ("yahoo", 10.0, 9.8)


def test_raw_equal_prices_from_a_better_source_keep_adj_close() -> None:
    store = BarLake(lake())
    store.merge([bar(6, 10.0, adj_close=9.8)], ingested_at=T0)
    raw = bar(6, 10.0, source="alphavantage").model_copy(update={"adjustment": "none"})
    assert store.merge([raw], ingested_at=T0 + timedelta(hours=1)).rows_written == 1
    (row,) = store.read("AAPL", "1d").to_pylist()
    assert (row["source"], row["adjustment"], row["adj_close"]) == ("alphavantage", "none", 9.8)
