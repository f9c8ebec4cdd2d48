"""Provider quotas shared by every instance: token buckets in the DocumentStore `quota` container.

One document per (provider, key): the times of the calls granted in the last 60 s and the
count granted on the current UTC day. A bucket holds `per_minute` tokens; each token comes back
60 s after it was spent (so no rolling minute ever sees more than `per_minute` calls), and no
UTC day more than `per_day`. Every grant is a read-modify-write guarded by the document's etag:
when two instances race, one write loses (`DocumentStore.update`) and that instance re-reads
and decides again, so together they never exceed a limit.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.config import Settings
from shared.providers.errors import QuotaExhausted
from shared.providers.http import Limiter
from shared.storage.documents import Document, DocumentNotFound, DocumentStore, UpdateContended

__all__ = ["Limit", "QuotaBook", "QuotaExhausted", "key_id", "limits_from_settings"]

CONTAINER = "quota"
WINDOW = 60.0
MAX_RACES = 200


@dataclass(frozen=True)
class Limit:
    per_minute: int
    per_day: int | None = None


def limits_from_settings(settings: Settings) -> dict[str, Limit]:
    return {
        "alphavantage": Limit(
            settings.alphavantage_calls_per_minute, settings.alphavantage_calls_per_day
        ),
        "yahoo": Limit(settings.yahoo_calls_per_minute),
        "coingecko": Limit(settings.coingecko_calls_per_minute),
    }


def key_id(key: str) -> str:
    """A stable, non-secret name for an API key ("shared" for keyless providers)."""
    return hashlib.sha256(key.encode()).hexdigest()[:12] if key else "shared"


@dataclass(frozen=True)
class BucketState:
    provider: str
    key_id: str
    minute_left: int
    day_left: int | None
    next_token_in: float


class QuotaBook:
    """Token buckets per (provider, key), persisted with optimistic concurrency."""

    def __init__(
        self,
        store: DocumentStore,
        limits: dict[str, Limit],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.limits = limits
        self.clock = clock

    def limiter(self, provider: str, key: str = "", *, max_wait: float = 0.0) -> Limiter:
        """A limiter for `get_json` and friends: takes a token or raises `QuotaExhausted`."""
        return lambda: self.acquire(provider, key, max_wait=max_wait)

    def limiter_for(self, provider: str, *, max_wait: float = 0.0) -> Callable[[str], Limiter]:
        return lambda key: self.limiter(provider, key, max_wait=max_wait)

    def acquire(self, provider: str, key: str = "", *, max_wait: float = 0.0) -> None:
        """Take one token, waiting up to `max_wait` seconds for one to come back."""
        deadline = time.monotonic() + max_wait
        while True:
            try:
                self._take(provider, key)
                return
            except QuotaExhausted as error:
                wait = error.retry_after or 0.0
                if time.monotonic() + wait > deadline:
                    raise
                time.sleep(wait + 0.01)

    def state(self, provider: str, key: str = "") -> BucketState:
        limit = self.limits[provider]
        doc = self._read(provider, key_id(key))
        now = self.clock()
        spent, day_count = self._current(doc, now)
        return BucketState(
            provider,
            key_id(key),
            max(limit.per_minute - len(spent), 0),
            None if limit.per_day is None else max(limit.per_day - day_count, 0),
            self._minute_wait(spent, limit, now),
        )

    def _read(self, provider: str, kid: str) -> dict[str, Any] | None:
        try:
            return self.store.read(CONTAINER, f"{provider}:{kid}", provider)
        except DocumentNotFound:
            return None

    @staticmethod
    def _day(now: float) -> str:
        return datetime.fromtimestamp(now, tz=UTC).date().isoformat()

    def _current(self, doc: dict[str, Any] | None, now: float) -> tuple[list[float], int]:
        if doc is None:
            return [], 0
        spent = sorted(t for t in doc.get("spent", []) if t > now - WINDOW)
        day_count = int(doc.get("dayCount", 0)) if doc.get("day") == self._day(now) else 0
        return spent, day_count

    @staticmethod
    def _minute_wait(spent: list[float], limit: Limit, now: float) -> float:
        if len(spent) < limit.per_minute:
            return 0.0
        return max(spent[-limit.per_minute] + WINDOW - now, 0.0)

    def _take(self, provider: str, key: str) -> None:
        limit = self.limits.get(provider)
        if limit is None:
            return
        kid = key_id(key)
        doc_id = f"{provider}:{kid}"

        def grant(doc: Document) -> Document:
            now = self.clock()
            spent, day_count = self._current(doc, now)
            if limit.per_day is not None and day_count >= limit.per_day:
                midnight = datetime.fromtimestamp(now, tz=UTC).replace(
                    hour=0, minute=0, second=0, microsecond=0
                ) + timedelta(days=1)
                raise QuotaExhausted(
                    provider,
                    f"daily quota of {limit.per_day} calls used (key {kid})",
                    midnight.timestamp() - now,
                )
            if len(spent) >= limit.per_minute:
                raise QuotaExhausted(
                    provider,
                    f"{limit.per_minute} calls per minute used (key {kid})",
                    self._minute_wait(spent, limit, now),
                )
            return {
                "id": doc_id,
                "pk": provider,
                "provider": provider,
                "keyId": kid,
                "spent": [*spent, now],
                "day": self._day(now),
                "dayCount": day_count + 1,
                "perMinute": limit.per_minute,
                "perDay": limit.per_day,
            }

        try:
            self.store.update(
                CONTAINER,
                doc_id,
                provider,
                grant,
                default={"id": doc_id, "pk": provider},
                attempts=MAX_RACES,
            )
        except UpdateContended:
            raise QuotaExhausted(
                provider, f"quota document for key {kid} is too contended", 1.0
            ) from None
