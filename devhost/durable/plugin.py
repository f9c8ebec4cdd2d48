"""The Durable plugin of the local host: runs orchestrators and activities, serves the Durable
HTTP API, and provides the `durableClient` binding."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from aiohttp import web

from devhost.durable.api import client_binding, durable_routes
from devhost.durable.engine import DurableEngine
from devhost.durable.functions import (
    ACTIVITY_TRIGGER,
    ORCHESTRATION_TRIGGER,
    DurableFunction,
    durable_function,
)
from devhost.plugins import Binding, FunctionInfo, InvocationContext, Plugin, PluginHost
from shared import offload
from shared.config import get_settings

DEFAULT_HUB = "TradingJournalHub"


def hub_name(host_json: Path = Path("host.json")) -> str:
    """The task hub named in host.json (`extensions.durableTask.hubName`)."""
    try:
        config = json.loads(host_json.read_text(encoding="utf-8"))
        return str(config["extensions"]["durableTask"]["hubName"])
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_HUB


class DurablePlugin(Plugin):
    """Claims orchestration and activity triggers; provides `durableClient`."""

    name = "durable"
    trigger_types = frozenset({ORCHESTRATION_TRIGGER, ACTIVITY_TRIGGER})
    input_types = frozenset({"durableClient"})

    def __init__(self) -> None:
        self.engine: DurableEngine | None = None
        self.host: PluginHost | None = None

    def setup(self, host: PluginHost, app: web.Application) -> None:
        self.host = host
        settings = get_settings()
        functions: dict[str, DurableFunction] = {}
        for info in host.functions.values():
            item = durable_function(info.name, dict(info.trigger), info.user_function)
            if item is not None:
                functions[item.name] = item
        app_ref = str(
            getattr(host, "app_reference", None)
            or os.environ.get("DEVHOST_APP", "function_app:app")
        )
        self.engine = DurableEngine(
            app_ref=app_ref,
            data_dir=settings.local_data_dir,
            hub=hub_name(),
            workers=settings.backtest_workers,
            functions=functions,
            on_invocation=host.log_invocation,
        )
        app.router.add_routes(durable_routes(self.engine, lambda: host.base_url))

    async def input_value(
        self, binding: Binding, function: FunctionInfo, context: InvocationContext
    ) -> Any:
        assert self.engine is not None
        assert self.host is not None
        return client_binding(self.host.base_url, self.engine.hub)

    async def start(self) -> None:
        if self.engine is not None and self.engine.functions:
            await self.engine.start(warm=False)
            self.engine.prestart()
        if self.engine is not None and self.engine.workers > 0:
            # request CPU work (validation, bars, backfills) in a worker process too (issue 12)
            offload.enable()
            offload.warm("shared.backtest.runs", "shared.ingest.query")

    async def stop(self) -> None:
        offload.shutdown()
        if self.engine is not None:
            await self.engine.stop()

    def describe(self, function: FunctionInfo) -> str:
        workers = self.engine.workers if self.engine else 0
        if function.trigger_type == ACTIVITY_TRIGGER:
            return f"durable activity ({workers} worker processes)"
        return "durable orchestrator (replayed by the SDK)"
