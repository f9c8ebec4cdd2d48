"""GET /api/health: version and storage reachability (public; 503 when a store is down)."""

from __future__ import annotations

import asyncio

import azure.functions as func

from functions.http import endpoint, json_response
from shared.api_model import ApiModel
from shared.auth.caller import Caller
from shared.config import SettingsError, get_settings
from shared.health import health_report

bp = func.Blueprint()


class Health(ApiModel):
    """Version and storage reachability."""

    model_config = {"extra": "allow"}


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@endpoint(
    role=None,
    summary="Version and storage reachability (503 when a store is down)",
    response=Health,
    errors=(503,),
    tags=("health",),
)
async def health(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    try:
        settings = get_settings()
    except SettingsError as error:
        body = {"status": "misconfigured", "detail": str(error)}
        return json_response(body, status=503, headers={"Cache-Control": "no-store"})
    status, body = await asyncio.to_thread(health_report, settings)
    return json_response(body, status=status, headers={"Cache-Control": "no-store"})
