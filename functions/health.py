"""GET /api/health: version and storage reachability (public; 503 when a store is down)."""

from __future__ import annotations

import asyncio
from typing import Literal

import azure.functions as func
from pydantic import Field

from functions.http import Routes, json_response
from shared.api_model import ApiModel
from shared.auth.caller import Caller
from shared.config import SettingsError, get_settings
from shared.health import health_report, misconfigured_report

bp = func.Blueprint()
route = Routes(bp)


class StoreHealth(ApiModel):
    """One store's state (no paths, names or error texts: those are in the log)."""

    adapter: str = Field(description="local, azure, sqlite or cosmos")
    reachable: bool
    detail: str = Field(description="'answered', 'no answer within N s' or 'failed (Type)'")
    latency_ms: float | None = Field(None, description="How long the check took")


class StorageHealth(ApiModel):
    blob: StoreHealth
    documents: StoreHealth


class Health(ApiModel):
    """Version and storage reachability."""

    status: Literal["ok", "unavailable", "misconfigured"]
    version: str | None = None
    environment: str | None = None
    storage: StorageHealth | None = None
    detail: str | None = Field(None, description="Which settings do not load (misconfigured)")


@route(
    "GET",
    "health",
    auth_level=func.AuthLevel.ANONYMOUS,
    role=None,
    summary="Version and storage reachability (503 when a store is down)",
    response=Health,
    same_body_statuses=(503,),
    tags=("health",),
)
async def health(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    try:
        settings = get_settings()
    except SettingsError as error:
        body = misconfigured_report(error)
        return json_response(body, status=503, headers={"Cache-Control": "no-store"})
    status, body = await asyncio.to_thread(health_report, settings)
    return json_response(body, status=status, headers={"Cache-Control": "no-store"})
