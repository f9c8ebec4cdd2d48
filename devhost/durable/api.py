"""The Durable extension's HTTP API (what `DurableOrchestrationClient` calls) and the
`durableClient` binding value that points the client at it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from devhost.durable.engine import (
    RUNTIME_STATUSES,
    DurableEngine,
    InstanceExistsError,
    UnknownOrchestratorError,
)
from devhost.durable.history import parse_iso
from devhost.durable.store import Instance
from shared.orchestration import TERMINAL

WEBHOOK_PATH = "/runtime/webhooks/durabletask"
PLACEHOLDER = "INSTANCEID"
RUNNING_CODES = frozenset({"Running", "Pending", "ContinuedAsNew", "Suspended"})


def management_urls(base_url: str, hub: str, instance_id: str = PLACEHOLDER) -> dict[str, str]:
    """The management payload of an instance (the extension's `HttpManagementPayload`)."""
    instance = f"{base_url}{WEBHOOK_PATH}/instances/{instance_id}"
    query = f"taskHub={quote(hub)}&connection=Storage"
    return {
        "id": instance_id,
        "statusQueryGetUri": f"{instance}?{query}",
        "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{query}",
        "terminatePostUri": f"{instance}/terminate?reason={{text}}&{query}",
        "rewindPostUri": f"{instance}/rewind?reason={{text}}&{query}",
        "purgeHistoryDeleteUri": f"{instance}?{query}",
        "restartPostUri": f"{instance}/restart?{query}",
        "suspendPostUri": f"{instance}/suspend?reason={{text}}&{query}",
        "resumePostUri": f"{instance}/resume?reason={{text}}&{query}",
    }


def client_binding(base_url: str, hub: str) -> str:
    """The `durableClient` input binding value: a JSON string, exactly the extension's shape."""
    webhook = f"{base_url}{WEBHOOK_PATH}"
    return json.dumps(
        {
            "taskHubName": hub,
            "creationUrls": {
                "createNewInstancePostUri": f"{webhook}/orchestrators/{{functionName}}"
                "[/{instanceId}]",
                "createAndWaitOnNewInstancePostUri": f"{webhook}/orchestrators/{{functionName}}"
                "[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}",
            },
            "managementUrls": management_urls(base_url, hub),
            "baseUrl": webhook,
            "requiredQueryStringParameters": "",
            "rpcBaseUrl": f"{webhook}/",
        }
    )


def status_body(
    instance: Instance,
    *,
    show_history: bool = False,
    show_output: bool = False,
    show_input: bool = True,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": instance["name"],
        "instanceId": instance["instanceId"],
        "runtimeStatus": instance["runtimeStatus"],
        "input": instance["input"] if show_input else None,
        "customStatus": instance["customStatus"],
        "output": instance["output"],
        "createdTime": instance["createdTime"],
        "lastUpdatedTime": instance["lastUpdatedTime"],
    }
    if show_history:
        events = instance["history"]
        if not show_output:
            events = [
                {k: v for k, v in item.items() if k not in ("Result", "Input")} for item in events
            ]
        body["history"] = events
        body["historyEvents"] = events
    return body


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("true", "1")


def _input_text(raw: bytes) -> str | None:
    """The orchestration input: the client double-encodes (`"{\\"a\\": 1}"`), so one
    `json.loads` gives the JSON text the orchestrator's `get_input()` decodes."""
    if not raw.strip():
        return None
    value = json.loads(raw)
    return value if isinstance(value, str) else json.dumps(value)


def _matches(instance: Instance, query: Any) -> bool:
    created = parse_iso(instance["createdTime"])
    if "createdTimeFrom" in query and created < _time(query["createdTimeFrom"]):
        return False
    if "createdTimeTo" in query and created > _time(query["createdTimeTo"]):
        return False
    prefix = query.get("instanceIdPrefix")
    if prefix and not instance["instanceId"].startswith(prefix):
        return False
    statuses = {s for s in query.get("runtimeStatus", "").split(",") if s}
    return not statuses or instance["runtimeStatus"] in statuses


def _time(text: str) -> datetime:
    return parse_iso(text)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"Message": message, "ExceptionMessage": message}, status=status)


def durable_routes(engine: DurableEngine, base_url: str | Callable[[], str]) -> list[web.RouteDef]:
    """aiohttp routes of the Durable HTTP API under /runtime/webhooks/durabletask.

    `base_url` (or a callable giving it, for hosts that bind port 0) is the origin used in
    the management URLs the start route returns."""
    routes = web.RouteTableDef()

    def origin() -> str:
        return base_url() if callable(base_url) else base_url

    @routes.post(WEBHOOK_PATH + "/orchestrators/{name}")
    @routes.post(WEBHOOK_PATH + "/orchestrators/{name}/{instance_id}")
    async def start(request: web.Request) -> web.Response:
        try:
            input_text = _input_text(await request.read())
        except ValueError as error:
            return _error(400, f"the request body is not JSON: {error}")
        try:
            instance = engine.start_new(
                request.match_info["name"],
                request.match_info.get("instance_id"),
                input_text,
                version=request.query.get("version"),
            )
        except UnknownOrchestratorError as error:
            return _error(400, str(error))
        except InstanceExistsError as error:
            return _error(409, str(error))
        payload = management_urls(origin(), engine.hub, instance["instanceId"])
        return web.json_response(
            payload,
            status=202,
            headers={"Location": payload["statusQueryGetUri"], "Retry-After": "1"},
        )

    @routes.get(WEBHOOK_PATH + "/instances/{instance_id}")
    async def get_status(request: web.Request) -> web.Response:
        instance = engine.status(request.match_info["instance_id"])
        if instance is None:
            return web.Response(status=404)
        body = status_body(
            instance,
            show_history=_flag(request, "showHistory"),
            show_output=_flag(request, "showHistoryOutput"),
            show_input=request.query.get("showInput", "true").lower() != "false",
        )
        code = 202 if instance["runtimeStatus"] in RUNNING_CODES else 200
        return web.json_response(body, status=code)

    @routes.get(WEBHOOK_PATH + "/instances")
    @routes.get(WEBHOOK_PATH + "/instances/")
    async def list_instances(request: web.Request) -> web.Response:
        bad = {s for s in request.query.get("runtimeStatus", "").split(",") if s} - RUNTIME_STATUSES
        if bad:
            return _error(400, f"unknown runtimeStatus {sorted(bad)}")
        items = [
            status_body(i, show_input=_flag(request, "showInput"))
            for i in engine.instances()
            if _matches(i, request.query)
        ]
        return web.json_response(items)

    @routes.post(WEBHOOK_PATH + r"/instances/{instance_id}/{action:terminate|suspend|resume}")
    async def change_state(request: web.Request) -> web.Response:
        instance_id = request.match_info["instance_id"]
        if engine.status(instance_id) is None:
            return web.Response(status=404)
        change = {
            "terminate": engine.terminate,
            "suspend": engine.suspend,
            "resume": engine.resume,
        }[request.match_info["action"]]
        return web.Response(
            status=202 if change(instance_id, request.query.get("reason", "")) else 410
        )

    @routes.post(WEBHOOK_PATH + "/instances/{instance_id}/raiseEvent/{event_name}")
    async def raise_event(request: web.Request) -> web.Response:
        instance_id = request.match_info["instance_id"]
        if engine.status(instance_id) is None:
            return web.Response(status=404)
        try:
            data = _input_text(await request.read())
        except ValueError as error:
            return _error(400, f"the request body is not JSON: {error}")
        ok = engine.raise_event(instance_id, request.match_info["event_name"], data)
        return web.Response(status=202 if ok else 410)

    @routes.post(WEBHOOK_PATH + "/instances/{instance_id}/rewind")
    async def rewind(request: web.Request) -> web.Response:
        return _error(501, "rewind is not supported by the local durable host")

    @routes.post(WEBHOOK_PATH + "/instances/{instance_id}/restart")
    async def restart(request: web.Request) -> web.Response:
        old = engine.status(request.match_info["instance_id"])
        if old is None:
            return web.Response(status=404)
        new_id = None if _flag(request, "restartWithNewInstanceId") else old["instanceId"]
        if new_id is not None and old["runtimeStatus"] not in TERMINAL:
            return _error(409, f"instance {new_id} is still {old['runtimeStatus']}")
        instance = engine.start_new(old["name"], new_id, old["input"], version=old["version"])
        return web.json_response(
            management_urls(origin(), engine.hub, instance["instanceId"]), status=202
        )

    @routes.delete(WEBHOOK_PATH + "/instances/{instance_id}")
    async def purge(request: web.Request) -> web.Response:
        if not engine.purge(request.match_info["instance_id"]):
            return web.Response(status=404)
        return web.json_response({"instancesDeleted": 1})

    @routes.delete(WEBHOOK_PATH + "/instances")
    @routes.delete(WEBHOOK_PATH + "/instances/")
    async def purge_by(request: web.Request) -> web.Response:
        deleted = sum(
            1
            for i in engine.instances()
            if i["runtimeStatus"] in TERMINAL
            and _matches(i, request.query)
            and engine.purge(i["instanceId"])
        )
        if not deleted:
            return web.Response(status=404)
        return web.json_response({"instancesDeleted": deleted})

    return [route for route in routes if isinstance(route, web.RouteDef)]
