"""The relay: Finnhub connections in, Web PubSub groups, the tick archive and quotes out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from containerapps.relay.archive import TickArchive
from containerapps.relay.publisher import TickPublisher
from containerapps.relay.quotes import QuoteWriter
from containerapps.relay.senders import GroupSender, RestSender, WebPubSubSender
from containerapps.relay.settings import RelaySettings
from containerapps.relay.upstream import FinnhubConnection, SymbolAllocator
from shared import telemetry
from shared.config import Settings, SettingsError
from shared.feed.connection import webpubsub_connection_string
from shared.feed.trades import Trade
from shared.ingest.state import AUTH, SyncStates
from shared.storage.documents import DocumentStore
from shared.storage.lake import ParquetLake
from shared.watchlists import SymbolSelection, select_watched

log = logging.getLogger("relay")

NOT_STREAMED = frozenset({"fx", "index"})
"""Kinds the relay does not subscribe: the Finnhub stream id mapping (`to_finnhub`) would send
an FX pair such as EUR-USD to the crypto pair BINANCE:EURUSDT, a different instrument, and
an index such as ^GSPC has no Finnhub trade stream (`to_finnhub` refuses it)."""


def build_sender(settings: Settings, client: str = "rest") -> GroupSender:
    """The Web PubSub sender (`client`: "rest", the lean one, or "sdk"): AccessKey-signed for
    WEBPUBSUB_CONNECTION_STRING, managed identity for WEBPUBSUB_ENDPOINT."""
    kind = WebPubSubSender if client == "sdk" else RestSender
    connection_string = webpubsub_connection_string(settings)
    if connection_string:
        return kind.from_connection_string(connection_string, settings.webpubsub_hub)
    if settings.webpubsub_endpoint:
        return kind.from_endpoint(settings.webpubsub_endpoint, settings.webpubsub_hub)
    raise SettingsError(
        "the relay needs WEBPUBSUB_CONNECTION_STRING or WEBPUBSUB_ENDPOINT — set it in the "
        "container's environment"
    )


class Relay:
    """Everything the relay runs; `start()` then `stop()` (flushes all it holds).

    `merge_in_child`: the archive writes the lake from a child process built from
    `settings` (the container does this; see `TickArchive`), else from a thread on `lake`."""

    def __init__(
        self,
        relay_settings: RelaySettings,
        settings: Settings,
        *,
        sender: GroupSender | None = None,
        documents: DocumentStore | None = None,
        lake: ParquetLake | None = None,
        merge_in_child: bool = False,
    ) -> None:
        if not relay_settings.finnhub_api_keys:
            raise SettingsError(
                "FINNHUB_API_KEYS is empty: set one or more Finnhub keys (comma-separated)"
            )
        merge_settings = settings if merge_in_child else None
        if documents is None or lake is None:
            from shared.storage import factory

            documents = documents or factory.document_store(settings)
            lake = lake or factory.lake(settings)
        self.rs = relay_settings
        self.settings = settings
        self.documents = documents
        self.sender = sender or build_sender(settings, relay_settings.relay_webpubsub_client)
        self.publisher = TickPublisher(
            self.sender,
            window_seconds=relay_settings.relay_batch_ms / 1000,
            max_batch=relay_settings.relay_max_batch_trades,
            max_delay_seconds=relay_settings.relay_max_delay_ms / 1000,
            all_ticks_group=relay_settings.relay_all_ticks_group,
            batching=relay_settings.relay_batching,
        )
        spool = relay_settings.relay_spool_dir or Path(settings.local_data_dir) / "relay-spool"
        self.archive = TickArchive(
            lake, spool, relay_settings.relay_id, merge_settings=merge_settings
        )
        self.quotes = QuoteWriter(documents, relay_settings.relay_quote_seconds)
        self.connections = [
            FinnhubConnection(
                index,
                relay_settings.finnhub_ws_url,
                key,
                self._on_trades,
                heartbeat_seconds=relay_settings.relay_heartbeat_seconds,
                backoff_initial=relay_settings.relay_backoff_initial_seconds,
                backoff_max=relay_settings.relay_backoff_max_seconds,
                connect_timeout=relay_settings.relay_connect_timeout_seconds,
                auth_backoff=relay_settings.relay_auth_backoff_seconds,
                on_auth=self._on_auth,
            )
            for index, key in enumerate(relay_settings.finnhub_api_keys)
        ]
        self.allocator = SymbolAllocator(
            len(self.connections), relay_settings.relay_symbols_per_connection
        )
        self.symbols: set[str] = set()
        self.over_cap: list[str] = []
        self.selection = SymbolSelection([], [], self.capacity)
        self.started_at = 0.0
        self.lag_ms = 0.0
        self.http_port: int | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self._last_metrics: dict[str, float] = {}
        self.archive_failures = 0
        self.archive_failures_at_last_success = 0
        self._archive_warned = 0.0

    # --- data path ------------------------------------------------------------------------
    def _on_trades(self, trades: tuple[Trade, ...]) -> None:
        self.publisher.offer(trades)
        if self.rs.relay_write_quotes:
            self.quotes.observe(trades)
        self.lag_ms = max(0.0, time.time() * 1000 - trades[-1].ts_ms)
        try:
            self.archive.append(trades)
        except Exception as error:
            self.archive_failures += len(trades)
            now = time.monotonic()
            if now - self._archive_warned > 60:
                self._archive_warned = now
                log.error(
                    "archive: spooling failed, %d trades not archived so far (%s)",
                    self.archive_failures,
                    error,
                )
            return
        self.archive_failures_at_last_success = self.archive_failures

    async def _on_auth(self, index: int, rejected: bool, why: str) -> None:
        """Record a refused (or again accepted) Finnhub key in the sync state, where provider
        health reads it (`authRejected`): once per RELAY_AUTH_BACKOFF_SECONDS."""
        states = SyncStates(self.documents)
        now = datetime.now(UTC)
        key = f"key{index}"  # which key, never the key itself
        if rejected:
            await asyncio.to_thread(
                states.failure, "finnhub", AUTH, key, as_of=now, error=why, kind="auth_rejected"
            )
        else:
            await asyncio.to_thread(states.success, "finnhub", AUTH, key, as_of=now, last_bar=None)

    # --- lifecycle ------------------------------------------------------------------------
    async def start(self, *, http: bool = True) -> None:
        self.started_at = time.time()
        await asyncio.to_thread(self.archive.open)
        self.archive.start(self.rs.relay_archive_flush_seconds)
        await self.publisher.start()
        self.quotes.start()
        await self.refresh_symbols()
        for connection in self.connections:
            connection.start()
        self._tasks = [
            asyncio.create_task(self._refresh_loop(), name="relay-symbols"),
            asyncio.create_task(self._metrics_loop(), name="relay-metrics"),
        ]
        if http:
            await self._start_http()
        log.info(
            "relay %s started: %d connection(s) to %s, %d symbols, archive spool %s",
            self.rs.relay_id,
            len(self.connections),
            self.rs.finnhub_ws_url,
            len(self.symbols),
            self.archive.spool_dir,
        )

    async def stop(self) -> None:
        """Close upstream, publish what is pending, merge the spool into the lake, write quotes."""
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.gather(*(c.stop() for c in self.connections))
        await self.publisher.stop()
        merged = await self.archive.close(self.rs.relay_stop_merge_seconds)
        await self.quotes.stop()
        with contextlib.suppress(Exception):
            await self.sender.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        log.info("relay stopped: %d trades merged into the lake at shutdown", merged)
        log.info(self.metrics_line())
        log.info(
            "relay totals archived=%d spooled=%d not_archived=%d dropped=%d conflated=%d",
            self.archive.stats.archived,
            self.archive.stats.received,
            self.archive_failures,
            self.publisher.stats.dropped,
            self.publisher.stats.conflated,
        )

    # --- symbols --------------------------------------------------------------------------
    @property
    def capacity(self) -> int:
        """Symbols the relay can subscribe: connections x RELAY_SYMBOLS_PER_CONNECTION."""
        return len(self.connections) * self.rs.relay_symbols_per_connection

    async def refresh_symbols(self) -> None:
        """Subscribe the watched symbols that fit, chosen fairly across accounts (see
        `shared.watchlists.selection`); the rest is `over_cap`, shown in /readyz."""
        defaults = [*self.settings.default_symbols, *self.rs.relay_extra_symbols]
        try:
            selection = await asyncio.to_thread(
                select_watched,
                self.documents,
                defaults,
                self.capacity,
                skip_kinds=NOT_STREAMED,
            )
        except Exception as error:
            log.warning("reading watchlists failed (%s); keeping the current symbols", error)
            return
        allocation = self.allocator.allocate(selection.selected)
        over_cap = selection.left_out + allocation.over_cap
        if over_cap and over_cap != self.over_cap:
            log.warning(
                "%d symbols over the cap of %d per connection x %d connection(s), not relayed: %s",
                len(over_cap),
                self.rs.relay_symbols_per_connection,
                len(self.connections),
                ",".join(over_cap[:50]),
            )
        self.over_cap = over_cap
        self.selection = selection
        self.symbols = set(selection.selected) - set(allocation.over_cap)
        for connection, symbols in zip(self.connections, allocation.per_connection, strict=True):
            await connection.set_symbols(symbols)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.rs.relay_watchlist_refresh_seconds)
            await self.refresh_symbols()

    # --- health and metrics ---------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        connections = [
            {
                "index": c.index,
                "connected": c.connected,
                "symbols": sorted(c.symbols),
                "reconnects": c.stats.reconnects,
                "lastError": c.stats.last_error,
                "authRejected": c.auth_rejected,
                "nextAttemptAt": c.next_attempt_at,
            }
            for c in self.connections
        ]
        return {
            "relayId": self.rs.relay_id,
            "ready": self.ready(),
            "upstreamAuthRejected": any(c.auth_rejected for c in self.connections),
            "connections": connections,
            "symbols": len(self.symbols),
            "overCap": self.over_cap[:50],
            "watched": self.selection.as_dict(),
            "lagMs": round(self.lag_ms, 1),
            "publisher": {
                "failing": self.publisher.failing,
                "lastLagMs": round(self.publisher.stats.last_lag_ms, 1),
                "lastSendMs": round(self.publisher.stats.last_send_ms, 1),
                "queueDepth": self.publisher.queue_depth,
                "messagesOut": self.publisher.stats.messages_out,
                "conflated": self.publisher.stats.conflated,
                "dropped": self.publisher.stats.dropped,
                "sendErrors": self.publisher.stats.send_errors,
            },
            "archive": {
                "received": self.archive.stats.received,
                "archived": self.archive.stats.archived,
                "pendingSegments": self.archive.pending,
                "failing": self.archive_failing,
                "notArchived": self.archive_failures,
                "quarantined": self.archive.stats.quarantined,
                "flushErrors": self.archive.stats.flush_errors,
            },
        }

    @property
    def archive_failing(self) -> bool:
        """The most recent spool write failed (trades are reaching the feed, not the archive)."""
        return self.archive_failures > self.archive_failures_at_last_success

    def ready(self) -> bool:
        """Connected (every connection that has symbols), publishing (last send not failed)
        and archiving (last spool write not failed)."""
        upstream = all(c.connected for c in self.connections if c.symbols)
        return upstream and not self.publisher.failing and not self.archive_failing

    def metrics_line(self) -> str:
        """Counts since the previous line (trades, messages, losses, archive progress), then
        the current gauges (queue depth, lags, symbols)."""
        stats = self.publisher.stats
        totals = {
            "trades_in": float(sum(c.stats.trades for c in self.connections)),
            "messages_out": float(stats.messages_out),
            "reconnects": float(sum(c.stats.reconnects for c in self.connections)),
            "conflated": float(stats.conflated),
            "dropped": float(stats.dropped),
            "send_errors": float(stats.send_errors),
            "spooled": float(self.archive.stats.received),
            "archived": float(self.archive.stats.archived),
            "not_archived": float(self.archive_failures),
        }
        deltas = {k: v - self._last_metrics.get(k, 0.0) for k, v in totals.items()}
        self._last_metrics = totals
        telemetry.record_relay(
            trades_in=int(deltas["trades_in"]),
            messages_out=int(deltas["messages_out"]),
            conflated=int(deltas["conflated"]),
            lag_ms=self.publisher.stats.last_lag_ms,
        )
        counts = " ".join(f"{name}={value:.0f}" for name, value in deltas.items())
        return (
            f"relay metrics {counts} queue_depth={self.publisher.queue_depth} "
            f"lag_ms={self.lag_ms:.0f} publish_lag_ms={stats.last_lag_ms:.0f} "
            f"pending_segments={self.archive.pending} "
            f"symbols={len(self.symbols)} over_cap={len(self.over_cap)}"
        )

    async def _metrics_loop(self) -> None:
        while True:
            await asyncio.sleep(self.rs.relay_metrics_seconds)
            log.info(self.metrics_line())

    async def _start_http(self) -> None:
        async def healthz(request: web.Request) -> web.Response:
            return web.json_response({"status": "alive", "relayId": self.rs.relay_id})

        async def readyz(request: web.Request) -> web.Response:
            body = self.health()
            return web.json_response(body, status=200 if body["ready"] else 503)

        app = web.Application()
        app.router.add_get("/healthz", healthz)
        app.router.add_get("/readyz", readyz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.rs.relay_http_host, self.rs.relay_http_port)
        await site.start()
        server = site._server
        if server is not None:
            self.http_port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        log.info("relay probes on http://%s:%s/healthz", self.rs.relay_http_host, self.http_port)
