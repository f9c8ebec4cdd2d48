"""The local Durable Task host: orchestration replay, activity process pool, Durable HTTP API."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devhost.durable.plugin import DurablePlugin


def create_plugin() -> DurablePlugin:
    """The host plugin (imported lazily so `devhost.durable` stays cheap to import)."""
    from devhost.durable.plugin import DurablePlugin

    return DurablePlugin()
