"""The Durable HTTP API of the local host, driven by the SDK's real DurableOrchestrationClient."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import azure.durable_functions as df
import azure.functions as func
import pytest
from aiohttp import web
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus
from azure.durable_functions.models.utils import http_utils

from devhost.durable.api import client_binding, durable_routes
from devhost.durable.engine import DurableEngine
from tests.support.loopback import serve


@pytest.fixture
async def client(engine: DurableEngine) -> AsyncIterator[df.DurableOrchestrationClient]:
    app = web.Application()
    holder: dict[str, str] = {}
    app.router.add_routes(durable_routes(engine, lambda: holder["base"]))
    async with serve(app) as base:
        holder["base"] = base
        yield df.DurableOrchestrationClient(client_binding(base, engine.hub))
        await http_utils._close_session()


async def _until(client: df.DurableOrchestrationClient, instance_id: str, custom: object) -> None:
    for _ in range(200):
        status = await client.get_status(instance_id)
        if status.custom_status == custom:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"custom status never became {custom!r}")


def test_binding_json_matches_the_extension_shape() -> None:
    binding = json.loads(client_binding("http://127.0.0.1:7071", "Hub"))
    assert binding["rpcBaseUrl"] == "http://127.0.0.1:7071/runtime/webhooks/durabletask/"
    assert binding["managementUrls"]["id"] == "INSTANCEID"
    assert "instances/INSTANCEID?taskHub=Hub" in binding["managementUrls"]["statusQueryGetUri"]
    assert {"taskHubName", "creationUrls", "managementUrls"} <= binding.keys()


async def test_start_status_and_output(client: df.DurableOrchestrationClient) -> None:
    instance_id = await client.start_new("hello_sequence", None, ["Oslo"])
    assert instance_id
    for _ in range(200):
        status = await client.get_status(instance_id, show_history=True, show_history_output=True)
        if status.runtime_status == OrchestrationRuntimeStatus.Completed:
            break
        await asyncio.sleep(0.02)
    assert status.output == ["Hello Oslo!"]
    assert status.name == "hello_sequence"
    assert json.loads(status.input_) == ["Oslo"]
    assert any(event["EventType"] == 5 for event in status.historyEvents)
    missing = await client.get_status("no-such-instance")
    assert not missing


async def test_start_with_id_conflict_and_unknown_orchestrator(
    client: df.DurableOrchestrationClient,
) -> None:
    assert await client.start_new("timers_and_events", "fixed-id") == "fixed-id"
    with pytest.raises(Exception, match="already exists"):
        await client.start_new("timers_and_events", "fixed-id")
    with pytest.raises(Exception, match="doesn't exist"):
        await client.start_new("no_such_orchestrator", None, {"a": 1})
    await client.terminate("fixed-id", "cleanup")


async def test_raise_event_terminate_suspend_resume_purge(
    client: df.DurableOrchestrationClient,
) -> None:
    approved = await client.start_new("timers_and_events", "approve-me")
    await _until(client, approved, "waiting for Approval")
    await client.raise_event(approved, "Approval", {"ok": True})
    for _ in range(200):
        status = await client.get_status(approved)
        if status.runtime_status == OrchestrationRuntimeStatus.Completed:
            break
        await asyncio.sleep(0.02)
    assert status.output == {"approved": {"ok": True}}

    stopped = await client.start_new("timers_and_events", "stop-me")
    await client.suspend(stopped, "pause it")
    assert (await client.get_status(stopped)).runtime_status == OrchestrationRuntimeStatus.Suspended
    await client.resume(stopped, "go on")
    await client.terminate(stopped, "user asked / stop")
    status = await client.get_status(stopped)
    assert status.runtime_status == OrchestrationRuntimeStatus.Terminated
    assert status.output == "user asked / stop"

    everything = await client.get_status_all()
    assert {s.instance_id for s in everything} >= {approved, stopped}
    terminated = await client.get_status_by(runtime_status=[OrchestrationRuntimeStatus.Terminated])
    assert [s.instance_id for s in terminated] == [stopped]

    purged = await client.purge_instance_history(stopped)
    assert purged.instances_deleted == 1
    assert not await client.get_status(stopped)
    purged = await client.purge_instance_history("never-existed")
    assert purged.instances_deleted == 0


async def test_check_status_response_and_wait_for_completion(
    client: df.DurableOrchestrationClient,
) -> None:
    instance_id = await client.start_new("fan_out", None, {"count": 5})
    request = func.HttpRequest("POST", "http://example.test:8080/api/start", body=b"")
    response = client.create_check_status_response(request, instance_id)
    assert response.status_code == 202
    urls = json.loads(response.get_body())
    assert urls["id"] == instance_id
    assert urls["statusQueryGetUri"].startswith(
        f"http://example.test:8080/runtime/webhooks/durabletask/instances/{instance_id}"
    )
    done = await client.wait_for_completion_or_create_check_status_response(
        request, instance_id, 10000, 50
    )
    assert done.status_code == 200
    assert json.loads(done.get_body()) == sum(i * i for i in range(5))


async def test_restart_with_and_without_a_new_instance_id(
    client: df.DurableOrchestrationClient,
) -> None:
    instance_id = await client.start_new("hello_sequence", "restart-me", ["Rome"])
    for _ in range(200):
        if (
            await client.get_status(instance_id)
        ).runtime_status == OrchestrationRuntimeStatus.Completed:
            break
        await asyncio.sleep(0.02)
    fresh = await client.restart(instance_id, restart_with_new_instance_id=True)
    assert fresh["id"] != instance_id
    again = await client.restart(instance_id, restart_with_new_instance_id=False)
    assert again["id"] == instance_id
    for new_id in (fresh["id"], instance_id):
        for _ in range(200):
            status = await client.get_status(new_id)
            if status.runtime_status == OrchestrationRuntimeStatus.Completed:
                break
            await asyncio.sleep(0.02)
        assert status.output == ["Hello Rome!"]
    with pytest.raises(Exception, match="No instance"):
        await client.restart("never-existed")
