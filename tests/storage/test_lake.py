"""ParquetLake over every BlobStore adapter: idempotent merges, filtered reads, atomicity."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from shared.errors import InvalidInput
from shared.storage.blob import BlobStore
from shared.storage.blob_local import LocalBlobStore
from shared.storage.lake import ParquetLake

DAY = timedelta(days=1)
START = datetime(2023, 12, 28, tzinfo=UTC)


def bars(symbol: str, days: int, *, start: datetime = START, close: float = 100.0) -> pa.Table:
    stamps = [start + DAY * offset for offset in range(days)]
    return pa.table(
        {
            "interval": ["1d"] * days,
            "symbol": [symbol] * days,
            "year": [stamp.year for stamp in stamps],
            "ts": pa.array(stamps, pa.timestamp("ns", tz="UTC")),
            "close": [close + offset for offset in range(days)],
            "volume": pa.array([1000 * (offset + 1) for offset in range(days)], pa.int64()),
        }
    )


PARTS = ["interval", "symbol", "year"]


@pytest.fixture
def lake(blob_store: BlobStore) -> ParquetLake:
    return ParquetLake(blob_store)


def test_merge_writes_hive_partitions(lake: ParquetLake) -> None:
    results = lake.merge("bars", bars("AAPL", 10), partition_by=PARTS, key=["ts"])
    assert [result.path for result in results] == [
        "bars/interval=1d/symbol=AAPL/year=2023/part.parquet",
        "bars/interval=1d/symbol=AAPL/year=2024/part.parquet",
    ]
    assert [result.rows for result in results] == [4, 6]
    assert all(result.bytes_written > 0 and result.changed for result in results)
    listed = lake.partitions("bars")
    assert [part.values for part in listed] == [
        {"interval": "1d", "symbol": "AAPL", "year": "2023"},
        {"interval": "1d", "symbol": "AAPL", "year": "2024"},
    ]


def test_same_merge_twice_is_byte_identical_and_skipped(
    lake: ParquetLake, blob_store: BlobStore
) -> None:
    table = bars("AAPL", 10)
    lake.merge("bars", table, partition_by=PARTS, key=["ts"])
    before = {info.name: (blob_store.get(info.name), info.etag) for info in blob_store.list()}
    again = lake.merge("bars", table, partition_by=PARTS, key=["ts"])
    assert [result.bytes_written for result in again] == [0, 0]
    after = {info.name: (blob_store.get(info.name), info.etag) for info in blob_store.list()}
    assert after == before
    shuffled = table.take(pa.array([9, 3, 0, 5, 1, 8, 2, 7, 4, 6]))
    assert [
        r.bytes_written for r in lake.merge("bars", shuffled, partition_by=PARTS, key=["ts"])
    ] == [0, 0]


def test_fresh_lake_gives_identical_bytes(tmp_path: Path) -> None:
    def build(root: Path, order: list[int]) -> dict[str, bytes]:
        store = LocalBlobStore(root, "lake", signing_key="k", public_base_url="http://x")
        ParquetLake(store).merge(
            "bars", bars("MSFT", 6).take(pa.array(order)), partition_by=PARTS, key=["ts"]
        )
        return {info.name: store.get(info.name) for info in store.list()}

    assert build(tmp_path / "one", [0, 1, 2, 3, 4, 5]) == build(
        tmp_path / "two", [5, 3, 1, 0, 2, 4]
    )


def test_later_rows_win_and_output_is_sorted(lake: ParquetLake) -> None:
    lake.merge(
        "bars",
        bars("AAPL", 5, start=datetime(2024, 1, 1, tzinfo=UTC)),
        partition_by=PARTS,
        key=["ts"],
    )
    revised = bars("AAPL", 3, start=datetime(2024, 1, 4, tzinfo=UTC), close=500.0)
    duplicated = pa.concat_tables([revised.slice(2, 1), revised])
    (result,) = lake.merge("bars", duplicated, partition_by=PARTS, key=["ts"])
    assert result.rows == 6
    table = lake.read("bars", [("symbol", "=", "AAPL")])
    assert table["close"].to_pylist() == [100.0, 101.0, 102.0, 500.0, 501.0, 502.0]
    stamps = table["ts"].to_pylist()
    assert stamps == sorted(stamps)


def test_read_with_filters_and_pruning(
    lake: ParquetLake, blob_store: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    for symbol in ("AAPL", "MSFT", "SPY"):
        lake.merge("bars", bars(symbol, 10), partition_by=PARTS, key=["ts"])
    fetched: list[str] = []
    original = blob_store.get

    def spy(name: str) -> bytes:
        fetched.append(name)
        return original(name)

    monkeypatch.setattr(blob_store, "get", spy)
    window: list[Any] = [
        ("symbol", "=", "MSFT"),
        ("interval", "=", "1d"),
        ("ts", ">=", datetime(2023, 12, 30, tzinfo=UTC)),
        ("ts", "<", datetime(2024, 1, 3, tzinfo=UTC)),
    ]
    table = lake.read("bars", window)
    assert table.num_rows == 4
    assert set(table["symbol"].to_pylist()) == {"MSFT"}
    assert all(name.startswith("bars/interval=1d/symbol=MSFT/") for name in fetched)
    fetched.clear()
    year = lake.read(
        "bars",
        [("year", "=", 2024), ("symbol", "in", ["AAPL", "SPY"])],
        columns=["symbol", "close"],
    )
    assert year.column_names == ["symbol", "close"]
    assert year.num_rows == 12
    assert sorted(fetched) == [
        "bars/interval=1d/symbol=AAPL/year=2024/part.parquet",
        "bars/interval=1d/symbol=SPY/year=2024/part.parquet",
    ]
    assert lake.read("bars", [("year", ">", 2024)]).num_rows == 0
    assert [p.values["symbol"] for p in lake.partitions("bars", [("year", "<=", 2023)])] == [
        "AAPL",
        "MSFT",
        "SPY",
    ]


def test_explicit_partition_without_partition_columns(lake: ParquetLake) -> None:
    rows = pa.table({"ts": pa.array([3, 1, 2, 1], pa.int64()), "price": [3.0, 1.0, 2.0, 1.5]})
    result = lake.merge_partition(
        "ticks", {"symbol": "BTC-USD", "date": "2024-05-01"}, rows, key=["ts"]
    )
    assert result.path == "ticks/symbol=BTC-USD/date=2024-05-01/part.parquet"
    stored = lake.read_partition("ticks", {"symbol": "BTC-USD", "date": "2024-05-01"})
    assert stored is not None
    assert stored.to_pydict() == {"ts": [1, 2, 3], "price": [1.5, 2.0, 3.0]}
    read = lake.read("ticks", [("symbol", "=", "BTC-USD"), ("ts", ">", 1)])
    assert read["price"].to_pylist() == [2.0, 3.0]
    assert read["symbol"].to_pylist() == ["BTC-USD", "BTC-USD"]
    assert lake.read_partition("ticks", {"symbol": "ETH-USD", "date": "2024-05-01"}) is None


def test_failed_merge_leaves_partition_intact(lake: ParquetLake, blob_store: BlobStore) -> None:
    lake.merge(
        "bars",
        bars("AAPL", 3, start=datetime(2024, 1, 1, tzinfo=UTC)),
        partition_by=PARTS,
        key=["ts"],
    )
    (info,) = list(blob_store.list("bars/"))
    before = blob_store.get(info.name)
    wrong = pa.table(
        {
            "interval": ["1d"],
            "symbol": ["AAPL"],
            "year": [2024],
            "ts": ["not a time"],
            "close": ["x"],
        }
    )
    with pytest.raises(InvalidInput):
        lake.merge("bars", wrong, partition_by=PARTS, key=["ts"])
    with pytest.raises(InvalidInput):
        lake.merge(
            "bars",
            bars("AAPL", 2).set_column(
                3, "ts", pa.array([None, None], pa.timestamp("ns", tz="UTC"))
            ),
            partition_by=PARTS,
            key=["ts"],
        )
    assert blob_store.get(info.name) == before
    assert [item.name for item in blob_store.list()] == [info.name]


def test_bad_partition_values_rejected(lake: ParquetLake) -> None:
    table = bars("A/B", 1)
    with pytest.raises(InvalidInput):
        lake.merge("bars", table, partition_by=PARTS, key=["ts"])
    with pytest.raises(InvalidInput):
        lake.merge("bars", bars("AAPL", 1), partition_by=["missing"], key=["ts"])
    with pytest.raises(InvalidInput):
        lake.read("bars", [("symbol", "like", "A%")])


def test_empty_dataset_reads_empty(lake: ParquetLake) -> None:
    assert lake.read("nothing").num_rows == 0
    assert lake.partitions("nothing") == []
    assert lake.merge("bars", bars("AAPL", 0), partition_by=PARTS, key=["ts"]) == []


def test_concurrent_merges_into_one_partition_lose_nothing(lake: ParquetLake) -> None:
    january = datetime(2024, 1, 1, tzinfo=UTC)
    slices = [bars("AAPL", 5, start=january + DAY * (5 * index)) for index in range(4)]
    barrier = threading.Barrier(len(slices))
    errors: list[BaseException] = []

    def merge(rows: pa.Table) -> None:
        barrier.wait()
        try:
            lake.merge("bars", rows, partition_by=PARTS, key=["ts"])
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=merge, args=(rows,)) for rows in slices]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    table = lake.read("bars", [("symbol", "=", "AAPL")])
    assert table.num_rows == 20
    assert table["ts"].to_pylist() == sorted(table["ts"].to_pylist())


def test_append_adds_a_part_per_partition_without_touching_what_is_there(
    lake: ParquetLake,
) -> None:
    lake.merge("bars", bars("AAPL", 3), partition_by=PARTS, key=["ts"])
    base = "bars/interval=1d/symbol=AAPL/year=2023/part.parquet"
    before = lake.blobs.get(base)
    results = lake.append("bars", bars("AAPL", 3, close=200.0), partition_by=PARTS, part="s1")
    assert [r.path for r in results] == ["bars/interval=1d/symbol=AAPL/year=2023/part-s1.parquet"]
    assert lake.blobs.get(base) == before
    assert lake.files("bars", {"interval": "1d", "symbol": "AAPL", "year": 2023}) == [
        "bars/interval=1d/symbol=AAPL/year=2023/part-s1.parquet",
        base,
    ]
    again = lake.append("bars", bars("AAPL", 3, close=200.0), partition_by=PARTS, part="s1")
    assert again[0].path == results[0].path
    closes = sorted(lake.read("bars")["close"].to_pylist())
    assert closes == [100.0, 101.0, 102.0, 200.0, 201.0, 202.0]
    with pytest.raises(InvalidInput, match="part name"):
        lake.append("bars", bars("AAPL", 1), partition_by=PARTS, part="a/b")


def test_compact_folds_loose_parts_then_everything_into_the_base(lake: ParquetLake) -> None:
    partition = {"interval": "1d", "symbol": "AAPL", "year": 2023}
    folder = "bars/interval=1d/symbol=AAPL/year=2023/"
    lake.merge("bars", bars("AAPL", 3), partition_by=PARTS, key=["ts"])
    for n in range(3):
        table = bars("AAPL", 3, close=200.0 + 10 * n)
        lake.append("bars", table, partition_by=PARTS, part=f"s{n}")
    assert lake.compact("bars", partition, key=["ts"], into_base=False) is not None
    assert lake.files("bars", partition) == [f"{folder}part-~s2.parquet", f"{folder}part.parquet"]
    assert lake.read("bars").num_rows == 6
    lake.append("bars", bars("AAPL", 1, close=999.0), partition_by=PARTS, part="s3")
    assert lake.compact("bars", partition, key=["ts"], into_base=False) is None

    folded = lake.compact("bars", partition, key=["ts"], into_base=True)
    assert folded is not None
    assert folded.path == f"{folder}part.parquet"
    assert lake.files("bars", partition) == [f"{folder}part.parquet"]
    stored = lake.read("bars").sort_by("ts")
    assert stored["close"].to_pylist() == [999.0, 221.0, 222.0]
    assert lake.compact("bars", partition, key=["ts"], into_base=True) is None


class Interleaved:
    """A BlobStore that runs `action` once, just before the first read of an appended part:
    a deterministic way to let another writer act between a reader's listing and its reads."""

    def __init__(self, inner: BlobStore, action: Any) -> None:
        self.inner = inner
        self.action = action

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def get(self, name: str) -> bytes:
        action, self.action = self.action, None
        if action is not None and "/part-" in name:
            action()
        return self.inner.get(name)


def _loose_parts(lake: ParquetLake, count: int) -> dict[str, Any]:
    for n in range(count):
        table = bars("AAPL", 3, start=START + DAY * 3 * n)
        lake.append(
            "bars",
            table.set_column(2, "year", pa.array([2023] * 3)),
            partition_by=PARTS,
            part=f"s{n:02d}",
        )
    return {"interval": "1d", "symbol": "AAPL", "year": 2023}


def test_a_read_that_overlaps_a_compaction_still_sees_every_row(blob_store: BlobStore) -> None:
    lake = ParquetLake(blob_store)
    partition = _loose_parts(lake, 5)
    compacting = lambda: lake.compact("bars", partition, key=["ts"], into_base=False)  # noqa: E731
    reader = ParquetLake(Interleaved(blob_store, compacting))  # type: ignore[arg-type]
    assert reader.read("bars").num_rows == 15
    assert len(lake.files("bars", partition)) == 1


def test_overlapping_compactions_lose_nothing(blob_store: BlobStore) -> None:
    lake = ParquetLake(blob_store)
    partition = _loose_parts(lake, 5)
    other = lambda: lake.compact("bars", partition, key=["ts"], into_base=False)  # noqa: E731
    first = ParquetLake(Interleaved(blob_store, other))  # type: ignore[arg-type]
    assert first.compact("bars", partition, key=["ts"], into_base=False) is None
    assert lake.read("bars").num_rows == 15
    folded = lake.compact("bars", partition, key=["ts"], into_base=True)
    assert folded is not None
    assert folded.rows == 15
    assert lake.read("bars").num_rows == 15


@pytest.mark.parametrize("ahead", [0, 1, 3, None])
def test_read_partitions_yields_each_partition_in_order(
    lake: ParquetLake, ahead: int | None
) -> None:
    """In turn or read ahead on threads: each partition's table (None where there is
    none) in the order asked, equal to `read_partition`'s."""
    lake.merge("bars", bars("AAPL", 900), partition_by=PARTS, key=["ts"])
    wanted = [
        {"interval": "1d", "symbol": "AAPL", "year": year}
        for year in (2026, 2023, 1999, 2024, 2025)
    ]
    tables = list(lake.read_partitions("bars", wanted, ["ts", "close"], ahead=ahead))
    assert tables[2] is None
    assert [t.num_rows if t is not None else 0 for t in tables] == [165, 4, 0, 366, 365]
    for partition, table in zip(wanted, tables, strict=True):
        expected = lake.read_partition("bars", partition, ["ts", "close"])
        assert table == expected
