"""Local host plugin: the Web PubSub stand-in, and the relay fed by a Finnhub replay server.

`make run` (no FINNHUB_API_KEYS) serves the stand-in on the host's own port, starts a local
Finnhub-protocol server replaying ticks derived from real S&P 500 daily closes, and runs
the relay in-process against both, so the live feed works on a fresh machine; the relay
writes their quotes (source `replay`, RELAY_WRITE_QUOTES), so paper orders fill locally. With
FINNHUB_API_KEYS set the relay connects to Finnhub itself. RELAY_IN_DEVHOST=false turns the
relay off (the stand-in stays).
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from devhost.plugins import Plugin, PluginHost
from devhost.webpubsub.standin import WebPubSubStandIn
from shared.config import get_settings
from shared.feed.connection import local_connection_string

if TYPE_CHECKING:
    from aiohttp import web

    from containerapps.relay.service import Relay
    from devhost.webpubsub.finnhub import FinnhubServer, SampleReplay

log = logging.getLogger("devhost.webpubsub")

REPLAY_KEY = "local-replay"


class WebPubSubPlugin(Plugin):
    name = "webpubsub"

    def __init__(self) -> None:
        self.standin: WebPubSubStandIn | None = None
        self.host: PluginHost | None = None
        self.relay: Relay | None = None
        self.finnhub: FinnhubServer | None = None
        self.replay: SampleReplay | None = None

    def setup(self, host: PluginHost, app: web.Application) -> None:
        self.host = host
        self.standin = WebPubSubStandIn(get_settings().webpubsub_local_key)
        self.standin.add_routes(app)

    async def start(self) -> None:
        assert self.host is not None

        if not os.environ.get("WEBPUBSUB_CONNECTION_STRING") and not os.environ.get(
            "WEBPUBSUB_ENDPOINT"
        ):
            assert self.standin is not None
            os.environ["WEBPUBSUB_CONNECTION_STRING"] = local_connection_string(
                self.host.base_url, self.standin.access_key
            )
            get_settings.cache_clear()
        log.info("web pubsub stand-in at %s/client/hubs/<hub>", self.host.base_url)
        try:
            await self._start_relay()
        except Exception:
            log.exception("the local relay did not start; the live feed is off")

    async def _start_relay(self) -> None:
        from containerapps.relay.service import Relay
        from containerapps.relay.settings import load_relay_settings
        from devhost.webpubsub.finnhub import FinnhubServer, SampleReplay

        relay_settings = load_relay_settings()
        if not relay_settings.relay_in_devhost:
            log.info("RELAY_IN_DEVHOST=false: relay not started")
            return
        settings = get_settings()
        overrides: dict[str, object] = {"relay_id": "devhost"}
        if not relay_settings.finnhub_api_keys:
            self.finnhub = await FinnhubServer(api_keys=[REPLAY_KEY]).start()
            self.replay = SampleReplay(
                self.finnhub, trades_per_second=relay_settings.relay_replay_rate
            )
            await self.replay.start()
            overrides.update(
                finnhub_api_keys=[REPLAY_KEY],
                finnhub_ws_url=self.finnhub.url,
            )
            log.info(
                "no FINNHUB_API_KEYS: relaying REPLAYED trades (derived from S&P 500 daily "
                "closes, not market data) from the local Finnhub-protocol server %s; their "
                "quotes (source 'replay') fill paper orders%s",
                self.finnhub.url,
                "" if relay_settings.relay_write_quotes else " (off: RELAY_WRITE_QUOTES=false)",
            )
        relay_settings = relay_settings.model_copy(update=overrides)
        self.relay = Relay(relay_settings, settings)
        await self.relay.start(http=False)

    async def stop(self) -> None:
        if self.relay is not None:
            await self.relay.stop()
            self.relay = None
        if self.replay is not None:
            await self.replay.stop()
        if self.finnhub is not None:
            await self.finnhub.stop()


def create_plugin() -> Plugin:
    return WebPubSubPlugin()


__all__ = ["WebPubSubPlugin", "WebPubSubStandIn", "create_plugin"]
