"""Sync state per (provider, symbol, interval) and the latest quotes, in the DocumentStore.

Both are written idempotently: a run is identified by its `as_of` (the timer occurrence), so
the same occurrence run twice leaves equal documents, and a document whose content would not
change is not rewritten at all.
"""

from __future__ import annotations

import contextlib
import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from pydantic import ValidationError

from shared.errors import Unavailable
from shared.events import quotes_written
from shared.market.models import Quote
from shared.storage.documents import (
    Document,
    DocumentNotFound,
    DocumentStore,
    Filter,
    StaleEtag,
    content,
)

SYNC = "sync_state"
QUOTES = "quotes"
PING = "_ping"
PAUSE = "_pause"
AUTH = "_auth"
PSEUDO_SYMBOLS = frozenset({PING, PAUSE, AUTH})
"""Sync-state documents that are not a symbol's series (heartbeat, pause, key check)."""


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class SyncStates:
    """`sync_state` documents: id = "{symbol}|{interval}", pk = provider."""

    def __init__(self, store: DocumentStore) -> None:
        self.store = store

    def get(self, provider: str, symbol: str, interval: str) -> Document | None:
        try:
            return self.store.read(SYNC, f"{symbol}|{interval}", provider)
        except DocumentNotFound:
            return None

    def all(self, provider: str | None = None) -> list[Document]:
        return self.store.query_all(SYNC, provider)

    def _update(
        self, provider: str, symbol: str, interval: str, edit: Callable[[Document], None]
    ) -> Document:
        """Apply `edit` to the series' document (all fields present, see `_base`) under its
        etag; a document `edit` leaves as it was is not rewritten."""
        doc_id = f"{symbol}|{interval}"
        kept: list[Document] = []

        def change(old: Document) -> Document | None:
            doc = self._base(provider, symbol, interval, old)
            edit(doc)
            if doc == old:
                kept[:] = [old]
                return None
            return doc

        stored = self.store.update(
            SYNC, doc_id, provider, change, default={"id": doc_id, "pk": provider}
        )
        return stored if stored is not None else kept[-1]

    def _base(self, provider: str, symbol: str, interval: str, old: Document) -> Document:
        doc: Document = {
            "id": f"{symbol}|{interval}",
            "pk": provider,
            "provider": provider,
            "symbol": symbol,
            "interval": interval,
            "lastBar": None,
            "lastSuccess": None,
            "lastAttempt": None,
            "lastError": None,
            "lastErrorAt": None,
            "lastErrorKind": None,
            "consecutiveFailures": 0,
            "retryAt": None,
            "lastNotice": None,
            "lastMergeRefusal": None,
        }
        doc.update({k: v for k, v in content(old).items() if k in doc})
        return doc

    def success(
        self,
        provider: str,
        symbol: str,
        interval: str,
        *,
        as_of: datetime,
        last_bar: datetime | None,
        refusal: str | None = None,
    ) -> Document:
        """Record a successful sync; `refusal` names a bar whose merge was refused (kept until
        a later sync has none)."""

        def edit(doc: Document) -> None:
            stored_last = doc["lastBar"]
            newest = iso(last_bar)
            if stored_last and (newest is None or stored_last > newest):
                newest = stored_last
            doc.update(
                lastBar=newest,
                lastSuccess=iso(as_of),
                lastAttempt=iso(as_of),
                consecutiveFailures=0,
                retryAt=None,
                lastMergeRefusal=refusal,
            )

        return self._update(provider, symbol, interval, edit)

    def deferred(
        self,
        provider: str,
        symbol: str,
        interval: str,
        *,
        as_of: datetime,
        reason: str,
        kind: str,
        retry_at: datetime | None,
    ) -> Document:
        """Record that the provider asked us to wait: not a failure (the count stays), the
        stored data stays, and `retryAt` says when the series is tried again."""

        def edit(doc: Document) -> None:
            doc.update(
                lastAttempt=iso(as_of),
                lastError=reason[:500],
                lastErrorAt=iso(as_of),
                lastErrorKind=kind,
                retryAt=iso(retry_at),
            )

        return self._update(provider, symbol, interval, edit)

    def failure(
        self,
        provider: str,
        symbol: str,
        interval: str,
        *,
        as_of: datetime,
        error: str,
        kind: str,
        notice: str | None = None,
    ) -> Document:
        """Record a failed attempt; a second record for the same `as_of` does not count again.
        `notice`: a provider message we did not recognise, kept verbatim for provider health."""

        def edit(doc: Document) -> None:
            repeat = doc["lastAttempt"] == iso(as_of) and doc["lastErrorAt"] == iso(as_of)
            doc.update(
                lastAttempt=iso(as_of),
                lastError=error[:500],
                lastErrorAt=iso(as_of),
                lastErrorKind=kind,
                consecutiveFailures=doc["consecutiveFailures"] + (0 if repeat else 1),
            )
            if notice is not None:
                doc["lastNotice"] = notice[:2000]

        return self._update(provider, symbol, interval, edit)


class ProviderPauses:
    """A provider that said "wait until T" (HTTP 429 + Retry-After, a throttle or daily-cap
    message) is paused until T for every run, whichever endpoint said it: one `sync_state`
    document per provider (id "_pause|-", pk = provider)."""

    def __init__(self, store: DocumentStore) -> None:
        self.store = store

    def get(self, provider: str) -> Document | None:
        try:
            return self.store.read(SYNC, f"{PAUSE}|-", provider)
        except DocumentNotFound:
            return None

    def until(self, provider: str, now: datetime) -> tuple[datetime, str] | None:
        """(until, reason) while `provider` is paused at `now`, else None."""
        doc = self.get(provider)
        if doc is None or not doc.get("until"):
            return None
        until = datetime.fromisoformat(str(doc["until"]))
        if until <= now:
            return None
        return until, str(doc.get("reason") or "")

    def pause(self, provider: str, until: datetime, reason: str, *, now: datetime) -> Document:
        """Pause `provider` until `until` (a later pause already recorded is kept)."""
        doc_id = f"{PAUSE}|-"
        kept: list[Document] = []

        def change(old: Document) -> Document | None:
            recorded = datetime.fromisoformat(str(old["until"])) if old.get("until") else None
            if recorded is not None and recorded > now and recorded >= until:
                kept[:] = [old]
                return None
            return {
                "id": doc_id,
                "pk": provider,
                "provider": provider,
                "symbol": PAUSE,
                "interval": "-",
                "until": until.isoformat(),
                "reason": reason[:500],
                "pausedAt": now.isoformat(),
            }

        stored = self.store.update(
            SYNC, doc_id, provider, change, default={"id": doc_id, "pk": provider}
        )
        return stored if stored is not None else kept[-1]


def quote_document(quote: Quote) -> Document:
    """The `quotes` document of a quote (id = pk = symbol): one shape whoever writes it."""
    return {
        "id": quote.symbol,
        "pk": quote.symbol,
        "symbol": quote.symbol,
        "price": quote.price,
        "change": quote.change,
        "changePercent": quote.change_percent,
        "volume": quote.volume,
        "ts": quote.ts.isoformat(),
        "source": quote.source,
    }


def quote_body(quote: Quote) -> Document:
    """A quote as the API returns it: its document without `id` and `pk`."""
    return {k: v for k, v in quote_document(quote).items() if k not in ("id", "pk")}


def quote_of(doc: Document) -> Quote | None:
    """The `Quote` a `quotes` document holds (`quote_document` read back); None if the
    document holds none (no price, a malformed time)."""
    try:
        return Quote(
            symbol=doc.get("symbol", doc.get("id")),
            price=doc.get("price"),
            change=doc.get("change"),
            change_percent=doc.get("changePercent"),
            volume=doc.get("volume"),
            ts=doc.get("ts"),
            source=doc.get("source"),
        )
    except ValidationError:
        return None


class QuoteBook:
    """`quotes` documents, their one reader and writer: id = pk = symbol; a quote never
    replaces a newer one."""

    def __init__(self, store: DocumentStore) -> None:
        self.store = store

    def get(self, symbol: str) -> Quote | None:
        try:
            return quote_of(self.store.read(QUOTES, symbol, symbol))
        except DocumentNotFound:
            return None

    def many(self, symbols: list[str]) -> list[Quote]:
        if not symbols:
            return []
        docs = self.store.query_all(QUOTES, None, [Filter("symbol", "in", symbols)])
        return [quote for quote in map(quote_of, docs) if quote is not None]

    def write(self, symbol: str, make: Callable[[Quote | None], Quote]) -> bool:
        """Store the quote `make` derives from the stored one (None if there is none), under
        the stored one's etag (a write in between is re-read and `make` applied on top of
        it), unless the stored quote is newer, equal, or as new from another source. True if
        written; nothing is published (see `upsert`)."""

        def change(old: Document) -> Document | None:
            new = quote_document(make(quote_of(old)))
            if "ts" in old:
                if old == new or str(old["ts"]) > new["ts"]:
                    return None
                if old["ts"] == new["ts"] and old.get("source") != new["source"]:
                    return None
            return new

        written = self.store.update(
            QUOTES, symbol, symbol, change, default={"id": symbol, "pk": symbol}
        )
        return written is not None

    def upsert(self, quote: Quote) -> bool:
        """Store `quote` unless the stored one is newer or equal (see `write`); True if
        written, and then `quotes_written` is published."""
        if not self.write(quote.symbol, lambda _stored: quote):
            return False
        quotes_written.publish([quote.symbol])
        return True


class SeriesLocks:
    """Leases (in `sync_state`, pk `_locks`) that serialize lake merges of one series.

    Two timers (say Alpha Vantage and Yahoo) may merge into the same partition at once; the
    lake's merge is read-modify-write, so without this one side's rows could be lost. A lease
    expires after `ttl` seconds, so a crashed holder never blocks a series for long.
    """

    PK = "_locks"

    def __init__(self, store: DocumentStore, *, ttl: float = 120.0, wait: float = 60.0) -> None:
        self.store = store
        self.ttl = ttl
        self.wait = wait

    @contextmanager
    def hold(self, symbol: str, interval: str) -> Iterator[None]:
        lock_id = f"lock|{symbol}|{interval}"
        owner = uuid.uuid4().hex
        deadline = time.monotonic() + self.wait
        while True:
            now = time.time()
            lease = {
                "id": lock_id,
                "pk": self.PK,
                "owner": owner,
                "expires": now + self.ttl,
                "ttl": int(self.ttl) + 60,
            }

            def take(
                current: Document, lease: Document = lease, now: float = now
            ) -> Document | None:
                return lease if float(current.get("expires", 0)) < now else None

            held = self.store.update(
                SYNC, lock_id, self.PK, take, default={"id": lock_id, "pk": self.PK}
            )
            if held is not None:
                break
            if time.monotonic() > deadline:
                raise Unavailable(f"{symbol} {interval} bars are being merged by another run")
            time.sleep(0.02 + random.uniform(0, 0.05))
        try:
            yield
        finally:
            with contextlib.suppress(StaleEtag, DocumentNotFound):
                self.store.delete(SYNC, lock_id, self.PK, if_match=held["_etag"])
