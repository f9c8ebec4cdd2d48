"""Embedded storage throughput: SQLite document writes/reads/queries and Parquet lake merges.

    .venv/bin/python bench/storage.py [--docs 5000] [--bars 2000000]

Prints operations per second for the SQLite DocumentStore (single thread, and 2 processes
contending on one file) and rows per second for a lake merge of daily-like bars into
partitions, the idempotent re-merge (no write) and a filtered read.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pyarrow as pa

from shared.ingest.state import QUOTES  # any provisioned container; the documents are the bench's
from shared.storage.blob_local import LocalBlobStore
from shared.storage.documents import Filter, PatchOp
from shared.storage.documents_sqlite import SqliteDocumentStore
from shared.storage.lake import ParquetLake


def _writer(path: str, worker: int, count: int) -> None:
    store = SqliteDocumentStore(Path(path))
    for number in range(count):
        store.upsert(QUOTES, {"id": f"w{worker}-{number}", "pk": f"p{number % 50}", "n": number})


def bench_documents(root: Path, count: int) -> None:
    store = SqliteDocumentStore(root / "docs.sqlite3")
    started = time.perf_counter()
    for number in range(count):
        store.upsert(QUOTES, {"id": f"s{number}", "pk": f"p{number % 50}", "price": number * 0.5})
    writes = count / (time.perf_counter() - started)
    started = time.perf_counter()
    for number in range(count):
        store.read(QUOTES, f"s{number}", f"p{number % 50}")
    reads = count / (time.perf_counter() - started)
    started = time.perf_counter()
    for number in range(200):
        store.query(QUOTES, f"p{number % 50}", [Filter("price", ">", 100.0)], order_by="price")
    queries = 200 / (time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(count // 5):
        store.patch(QUOTES, "s1", "p1", [PatchOp("incr", "/price", 1)])
    patches = (count // 5) / (time.perf_counter() - started)
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_writer, args=(str(root / "docs.sqlite3"), index, count // 2))
        for index in range(2)
    ]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    contended = count / (time.perf_counter() - started)
    print(f"sqlite upsert           {writes:10,.0f} /s  (1 thread)")
    print(f"sqlite read             {reads:10,.0f} /s")
    print(f"sqlite query (~{count // 50} docs/partition, filter+order) {queries:8,.0f} /s")
    print(f"sqlite patch incr       {patches:10,.0f} /s")
    print(f"sqlite upsert, 2 procs  {contended:10,.0f} /s total (incl. process start)")


def bench_lake(root: Path, rows: int) -> None:
    rng = np.random.default_rng(7)
    symbols = 20
    per_symbol = rows // symbols
    stamps = np.datetime64("1990-01-01", "ns") + np.arange(per_symbol) * np.timedelta64(1, "h")
    years = stamps.astype("datetime64[Y]").astype(int) + 1970
    table = pa.concat_tables(
        pa.table(
            {
                "interval": pa.array(["1h"] * per_symbol),
                "symbol": pa.array([f"S{index:02d}"] * per_symbol),
                "year": pa.array(years),
                "ts": pa.array(stamps, pa.timestamp("ns", tz="UTC")),
                "close": pa.array(100 + rng.standard_normal(per_symbol).cumsum()),
                "volume": pa.array(rng.integers(1, 10_000, per_symbol)),
            }
        )
        for index in range(symbols)
    )
    lake = ParquetLake(LocalBlobStore(root / "blobs", "lake", signing_key="k", public_base_url="x"))
    parts = ["interval", "symbol", "year"]
    started = time.perf_counter()
    results = lake.merge("bars", table, partition_by=parts, key=["ts"])
    first = time.perf_counter() - started
    written = sum(result.bytes_written for result in results)
    started = time.perf_counter()
    again = lake.merge("bars", table, partition_by=parts, key=["ts"])
    second = time.perf_counter() - started
    assert sum(result.bytes_written for result in again) == 0
    started = time.perf_counter()
    window = lake.read("bars", [("symbol", "=", "S03"), ("year", ">=", 2000), ("year", "<", 2010)])
    read = time.perf_counter() - started
    print(
        f"lake merge (new)        {rows / first:10,.0f} rows/s  ({len(results)} partitions, "
        f"{written / 1e6:.1f} MB written)"
    )
    print(f"lake re-merge (no-op)   {rows / second:10,.0f} rows/s  (0 bytes written)")
    print(
        f"lake filtered read      {window.num_rows / read:10,.0f} rows/s  ({window.num_rows} rows)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=5000)
    parser.add_argument("--bars", type=int, default=2_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        bench_documents(Path(folder), args.docs)
        bench_lake(Path(folder), args.bars)


if __name__ == "__main__":
    main()
