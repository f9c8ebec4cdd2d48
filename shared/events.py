"""In-process notifications between parts of the core, e.g. quotes written → paper matching.

Publishers never depend on subscribers: `publish` calls each subscriber in turn and logs
(never raises) a subscriber's failure, so a broken subscriber cannot break a writer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("shared.events")


class Topic:
    """A named list of callbacks taking a list of keys (e.g. symbols)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._subscribers: dict[str, Callable[[list[str]], object]] = {}
        self._lock = threading.Lock()

    def subscribe(self, key: str, callback: Callable[[list[str]], object]) -> None:
        """Register `callback` under `key` (a second call with the same key replaces it)."""
        with self._lock:
            self._subscribers[key] = callback

    def unsubscribe(self, key: str) -> None:
        with self._lock:
            self._subscribers.pop(key, None)

    def publish(self, keys: list[str]) -> None:
        if not keys:
            return
        with self._lock:
            subscribers = list(self._subscribers.items())
        for key, callback in subscribers:
            try:
                callback(keys)
            except Exception:
                log.exception("%s subscriber %s failed for %s", self.name, key, keys[:10])


quotes_written = Topic("quotes_written")
"""Published with the symbols whose latest quote was just written to the `quotes` container."""
