"""Ingestion bench: 500 symbols x 5 years of daily bars from the local fake Alpha Vantage server.

Prints wall time and lake rows written per second for the full load, then the incremental
re-sync of one new day for every symbol (bytes rewritten, partitions changed), and compares
the partitioned merge with its peer, a naive layout that rewrites each symbol's whole history
as one file. Runs on 127.0.0.1 only; the prices are the fake server's fixtures.

    python bench/ingest.py [--symbols 500] [--years 5]
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.config import get_settings
from shared.ingest.bars import BarLake
from shared.ingest.sync import Ingestor
from shared.market.symbols import parse_symbol
from shared.storage.factory import blob_store, clear_cache
from shared.storage.lake import parquet_bytes
from testsupport.fake_providers import FakeMarket, FakeProviders, serve_fake_providers

LAST_DAY = date(2024, 6, 28)


def lake_sizes() -> dict[str, int]:
    store = blob_store(get_settings().lake_container)
    return {info.name: info.size for info in store.list("bars/")}


def naive_rewrite_bytes(bars: BarLake, symbols: list[str]) -> tuple[int, float]:
    """The peer: one file per symbol holding its whole history, rewritten on every sync."""
    started = time.process_time()
    total = 0
    for symbol in symbols:
        table = bars.read(symbol, "1d")
        total += len(parquet_bytes(table))
    return total, time.process_time() - started


def serve(first_day: date, last_day: date, conn: Connection) -> None:
    """Run the fake providers in their own process, like a remote provider would be."""
    with serve_fake_providers(FakeMarket(first_day=first_day, last_day=last_day)) as fake:
        conn.send(fake.url)
        conn.recv()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--years", type=int, default=5)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    market = FakeMarket(first_day=LAST_DAY - timedelta(days=365 * args.years), last_day=LAST_DAY)
    symbols = [parse_symbol(f"S{i:03d}") for i in range(args.symbols)]
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(market.first_day, LAST_DAY, child))
    server.start()
    try:
        url = parent.recv()
        fake = FakeProviders(market, url)
        os.environ.update(
            {
                **fake.env(),
                "LOCAL_DATA_DIR": str(data_dir),
                "ALPHAVANTAGE_API_KEYS": "bench-key",
                "ALPHAVANTAGE_CALLS_PER_MINUTE": "1000000",
                "ALPHAVANTAGE_CALLS_PER_DAY": "1000000",
                "DEFAULT_SYMBOLS": "AAPL",
                "SAMPLE_DATA_ENABLED": "false",
            }
        )
        get_settings.cache_clear()
        clear_cache()
        ingestor = Ingestor.from_settings(get_settings())

        as_of = datetime(2024, 6, 29, 0, 5, tzinfo=UTC)
        started, cpu = time.perf_counter(), time.process_time()
        full = ingestor.backfill(
            symbols, market.first_day, LAST_DAY, provider="alphavantage", as_of=as_of
        )
        full_wall, full_cpu = time.perf_counter() - started, time.process_time() - cpu
        sizes = lake_sizes()
        print(f"symbols: {len(symbols)}, days per symbol: {len(market.days())}")
        print(
            f"full load: {full_wall:.1f} s wall ({full_cpu:.1f} s CPU in the ingest process), "
            f"{full.merge.rows_written} rows written, {full.merge.rows_written / full_wall:,.0f} "
            f"rows/s wall ({full.merge.rows_written / full_cpu:,.0f} per CPU-s), "
            f"{len(sizes)} partitions, "
            f"{sum(sizes.values()) / 1e6:.1f} MB lake, {ingestor.raw.bytes / 1e6:.1f} MB raw (gzip)"
        )
        assert full.count("ok") == len(symbols), full.as_dict()

        market.last_day = LAST_DAY + timedelta(days=3)  # Monday 2024-07-01
        httpx.get(f"{url}/_control/last_day", params={"value": market.last_day.isoformat()})
        before = lake_sizes()
        started, cpu = time.perf_counter(), time.process_time()
        inc = ingestor.sync_alphavantage(as_of + timedelta(days=3), symbols)
        inc_wall, inc_cpu = time.perf_counter() - started, time.process_time() - cpu
        after = lake_sizes()
        changed = [name for name in after if before.get(name) != after[name]]
        print(
            f"incremental day: {inc_wall:.1f} s wall ({inc_cpu:.1f} s CPU), "
            f"{inc.count('ok')} symbols synced, "
            f"{inc.merge.rows_written} rows written, {inc.merge.partitions_changed} of "
            f"{len(after)} partitions rewritten, {inc.merge.bytes_written / 1e6:.2f} MB rewritten"
        )
        assert inc.count("ok") == len(symbols), inc.as_dict()
        assert all("period=2024" in name for name in changed), changed[:3]

        naive_bytes, naive_seconds = naive_rewrite_bytes(ingestor.bars, [s.text for s in symbols])
        print(
            f"peer (naive: one file per symbol, full rewrite each sync): "
            f"{naive_bytes / 1e6:.2f} MB rewritten ({naive_seconds:.1f} s CPU to read and encode)"
        )
        print(
            f"ratio: naive rewrites {naive_bytes / max(inc.merge.bytes_written, 1):.1f}x the "
            f"bytes of the partitioned merge"
        )
        sample = after[changed[0]] if changed else 0
        table = pq.read_table(io.BytesIO(blob_store("lake").get(changed[0]))) if changed else None
        if table is not None:
            print(f"one rewritten partition: {changed[0]} ({sample} bytes, {table.num_rows} rows)")
    finally:
        parent.send("stop")
        server.join(timeout=10)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
