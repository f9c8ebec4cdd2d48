"""The same timer occurrence twice leaves byte-identical lake partitions and equal documents."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shared.ingest.sync import Ingestor, RunReport
from tests.ingest.conftest import AS_OF, snapshot

RUNS: dict[str, Callable[[Ingestor], RunReport]] = {
    "alphavantage": lambda i: i.sync_alphavantage(AS_OF),
    "yahoo": lambda i: i.sync_yahoo(AS_OF),
    "coingecko": lambda i: i.sync_coingecko(AS_OF),
    "coingecko_ping": lambda i: i.ping_coingecko(AS_OF),
}


@pytest.mark.parametrize("timer", sorted(RUNS))
def test_same_timer_twice(ingestor: Ingestor, timer: str) -> None:
    first = RUNS[timer](ingestor)
    assert first.count("failed") == 0, first.as_dict()
    after_first = snapshot()
    if timer != "coingecko_ping":
        assert after_first["lake"], "the first run wrote no partitions"
    assert after_first["sync_state"]
    second = RUNS[timer](ingestor)
    after_second = snapshot()
    assert after_second == after_first
    assert second.merge.bytes_written == 0
    assert second.merge.rows_written == 0


def test_sample_twice(ingestor: Ingestor) -> None:
    first = ingestor.sync_sample(AS_OF, force=True)
    assert first.count("ok") >= 3
    assert first.merge.rows_written > 10_000
    after_first = snapshot()
    second = ingestor.sync_sample(AS_OF, force=True)
    assert snapshot() == after_first
    assert second.merge.rows_written == 0


def test_a_later_occurrence_writes_nothing_when_nothing_is_new(ingestor: Ingestor) -> None:
    ingestor.sync_yahoo(AS_OF)
    lake = snapshot()["lake"]
    later = ingestor.sync_yahoo(AS_OF.replace(hour=5))
    assert later.merge.bytes_written == 0
    assert snapshot()["lake"] == lake


def test_symbols_come_from_every_watchlist(ingestor: Ingestor) -> None:
    docs = ingestor.documents
    docs.upsert("watchlists", {"id": "w1", "pk": "alice", "symbols": ["nvda", "AAPL"]})
    docs.upsert("watchlists", {"id": "w2", "pk": "bob", "symbols": ["eth-usd", "bad!"]})
    tracked = [s.text for s in ingestor.tracked_symbols()]
    # DEFAULT_SYMBOLS as configured first, then the watchlists' symbols
    assert tracked == ["AAPL", "MSFT", "BTC-USD", "ETH-USD", "NVDA"]


def test_raw_bodies_are_archived_by_provider_and_day(ingestor: Ingestor) -> None:
    import gzip
    import json
    import re

    from shared.storage.factory import blob_store

    ingestor.sync_alphavantage(AS_OF)
    names = [info.name for info in blob_store("raw").list("alphavantage/")]
    assert names
    pattern = (
        r"^alphavantage/\d{4}/\d{2}/\d{2}/(daily|digital_daily)/[A-Z_]+-200-[0-9a-f]{16}\.json\.gz$"
    )
    assert all(re.match(pattern, name) for name in names), names
    body = json.loads(gzip.decompress(blob_store("raw").get(names[0])))
    assert "Time Series (Daily)" in body or "Time Series (Digital Currency Daily)" in body
    assert all("key-1" not in str(blob_store("raw").metadata(name)) for name in names)
