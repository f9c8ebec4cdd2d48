"""`QuoteBook`, the quote document's one reader and writer: what it writes it reads back as
the same `Quote`, and racing writers (ingestion timers, the relay) never put an older quote
over a newer one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.ingest.state import QUOTES, QuoteBook, quote_body, quote_document, quote_of
from shared.market.models import Quote, Source
from shared.storage.factory import document_store
from testsupport.race import race

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def quote(price: float, seconds: int, source: Source = "yahoo") -> Quote:
    return Quote(
        symbol="AAPL",
        price=price,
        change=1.5,
        change_percent=0.8,
        volume=1e6,
        ts=T0 + timedelta(seconds=seconds),
        source=source,
    )


def test_what_it_writes_it_reads_back() -> None:
    book = QuoteBook(document_store())
    written = quote(190.5, 0)
    assert book.upsert(written)
    assert book.get("AAPL") == written
    assert book.many(["AAPL", "MSFT"]) == [written]
    assert book.get("MSFT") is None
    body = quote_body(written)
    assert body == {
        "symbol": "AAPL",
        "price": 190.5,
        "change": 1.5,
        "changePercent": 0.8,
        "volume": 1e6,
        "ts": "2026-03-02T15:00:00+00:00",
        "source": "yahoo",
    }
    assert quote_of(quote_document(written)) == written
    assert quote_of({"id": "X", "pk": "X", "price": "n/a"}) is None


def test_older_equal_and_same_time_other_source_quotes_are_not_written() -> None:
    book = QuoteBook(document_store())
    assert book.upsert(quote(190.0, 10))
    assert not book.upsert(quote(189.0, 5))
    assert not book.upsert(quote(190.0, 10))
    assert not book.upsert(quote(191.0, 10, source="coingecko"))
    assert book.upsert(quote(192.0, 11))
    assert book.get("AAPL") == quote(192.0, 11)


def test_racing_writers_leave_the_newest_quote() -> None:
    store = document_store()
    book = QuoteBook(store)
    threads, each = 4, 25

    def writer(index: int) -> None:
        for step in range(each):
            seconds = step * threads + index  # every writer's quotes interleave in time
            book.upsert(quote(100.0 + seconds, seconds))

    assert race(threads, writer) == []
    newest = threads * each - 1
    assert store.read(QUOTES, "AAPL", "AAPL")["price"] == 100.0 + newest
    assert book.get("AAPL") == quote(100.0 + newest, newest)
