"""Entry point of the relay container: `python -m containerapps.relay` (SIGTERM/SIGINT stop it)."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys

from containerapps.relay.service import Relay
from containerapps.relay.settings import load_relay_settings
from shared import telemetry
from shared.config import SettingsError, load_settings


async def run(relay: Relay) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await relay.start()
    # Everything loaded so far (modules, settings, clients) lives as long as the process;
    # frozen, the full collections skip it and stop pausing the trade path for ~30 ms.
    gc.freeze()
    await stop.wait()
    logging.getLogger("relay").info("signal received; flushing and stopping")
    await relay.stop()


def main() -> int:
    try:
        settings = load_settings()
        relay_settings = load_relay_settings()
        telemetry.configure_telemetry("tradingjournal-relay", log_level=settings.log_level)
        for noisy in ("azure", "websockets", "aiohttp.access"):
            logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.root.level))
        relay = Relay(relay_settings, settings, merge_in_child=True)
    except SettingsError as error:
        print(f"relay: {error}", file=sys.stderr)
        return 2
    asyncio.run(run(relay))
    return 0


if __name__ == "__main__":
    sys.exit(main())
