"""Local host plugin: runs Cosmos DB change-feed triggers (`cosmosDBTrigger`) against the
app's own `DocumentStore`, embedded or the Cosmos emulator, as the Functions host does.

The host's change-feed processor hands a function the latest version of each document
written since its lease's checkpoint, in batches of at most `maxItemsPerInvocation`, and
polls every `feedPollDelay` ms when idle; without `startFromBeginning` it starts at "now".
Here the checkpoint is the store's `_ts` (seconds, set on every write by both adapters): each
poll reads the documents with `_ts` at or after the checkpoint and skips those it already
delivered in that second (by etag). As in Azure, a batch whose function fails is not
retried (the checkpoint moves on); the failure is logged with the invocation line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import azure.functions as func

from devhost.plugins import Binding, FunctionInfo, Plugin, PluginHost
from shared.storage.documents import Document, DocumentStore, Filter

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger("devhost.changefeed")

COSMOS_TRIGGER = "cosmosDBTrigger"
DEFAULT_POLL_MS = 5000
DEFAULT_MAX_ITEMS = 100
TS = "_ts"

_Key = tuple[str, str, str]


def _key(document: Document) -> _Key:
    return (str(document.get("pk")), str(document.get("id")), str(document.get("_etag")))


class ChangeFeed:
    """The changes of one container after a checkpoint, read by polling `_ts`."""

    def __init__(
        self,
        store: DocumentStore,
        container: str,
        *,
        start_from_beginning: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.container = container
        self.since = 0 if start_from_beginning else int(clock())
        self._delivered: set[_Key] = set()
        if not start_from_beginning:
            self._delivered = {_key(doc) for doc in self._at_or_after(self.since)}

    def _at_or_after(self, since: int) -> list[Document]:
        return self.store.query_all(self.container, None, [Filter(TS, ">=", since)])

    def read(self) -> list[Document]:
        """Documents written since the last read (oldest first), and move the checkpoint."""
        found = sorted(self._at_or_after(self.since), key=lambda doc: int(doc.get(TS, 0)))
        fresh = [doc for doc in found if _key(doc) not in self._delivered]
        if found:
            newest = int(found[-1].get(TS, self.since))
            if newest > self.since:
                self.since = newest
                self._delivered = set()
            self._delivered |= {_key(doc) for doc in found if int(doc.get(TS, 0)) == self.since}
        return fresh


class ChangeFeedPlugin(Plugin):
    """Claims `cosmosDBTrigger`: one polling loop per function, on the app's store."""

    name = "cosmos change feed"
    trigger_types = frozenset({COSMOS_TRIGGER})

    def __init__(self) -> None:
        self.host: PluginHost | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def setup(self, host: PluginHost, app: web.Application) -> None:
        self.host = host

    async def start(self) -> None:
        assert self.host is not None
        from shared.storage.factory import document_store

        for function in self.host.functions_with_trigger(COSMOS_TRIGGER):
            trigger = function.trigger

            def open_feed(trigger: Binding = trigger) -> ChangeFeed:
                return ChangeFeed(
                    document_store(),
                    str(trigger["containerName"]),
                    start_from_beginning=bool(trigger.get("startFromBeginning", False)),
                )

            try:  # the feed starts when the host does ...
                feed: ChangeFeed | None = await asyncio.to_thread(open_feed)
            except Exception:  # ... or, if the store does not answer yet, once it does
                feed = None
            self._tasks.append(
                asyncio.create_task(
                    self._run(function, open_feed, feed), name=f"changefeed-{function.name}"
                )
            )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def describe(self, function: FunctionInfo) -> str:
        trigger = function.trigger
        poll = int(trigger.get("feedPollDelay") or DEFAULT_POLL_MS)
        return f"change feed of {trigger['containerName']} (every {poll} ms)"

    async def _run(
        self,
        function: FunctionInfo,
        open_feed: Callable[[], ChangeFeed],
        feed: ChangeFeed | None,
    ) -> None:
        """Poll one function's feed; a store that does not answer (the emulator profile with
        the emulator down) is retried every poll, and said once, not on every poll."""
        trigger = function.trigger
        poll = int(trigger.get("feedPollDelay") or DEFAULT_POLL_MS) / 1000
        batch = int(trigger.get("maxItemsPerInvocation") or DEFAULT_MAX_ITEMS)
        failing = False
        while True:
            try:
                if feed is None:
                    feed = await asyncio.to_thread(open_feed)
                changed = await asyncio.to_thread(feed.read)
                failing = False
            except Exception as error:
                if not failing:
                    log.warning("%s: change feed unreadable, retrying: %s", function.name, error)
                failing = True
                changed = []
            for start in range(0, len(changed), batch):
                await self._deliver(function, changed[start : start + batch])
            await asyncio.sleep(poll)

    async def _deliver(self, function: FunctionInfo, documents: list[Document]) -> None:
        assert self.host is not None
        value = func.DocumentList([func.Document.from_dict(doc) for doc in documents])
        try:
            await self.host.invoke(function.name, **{str(function.trigger["name"]): value})
        except Exception:
            log.exception("%s failed on %d changed documents", function.name, len(documents))


def create_plugin() -> Plugin:
    return ChangeFeedPlugin()


__all__ = ["ChangeFeed", "ChangeFeedPlugin", "create_plugin"]
