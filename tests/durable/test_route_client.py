"""`Routes(..., durable_client=True)`: the worker's view of the function (an HTTP trigger
plus a `durableClient` binding named `client`) and a call through the local host, where the
handler receives the parsed query and a real `DurableOrchestrationClient` by name."""

from __future__ import annotations

import json

import httpx
import pytest

from devhost.durable.plugin import DurablePlugin
from devhost.index import index_app, load_app
from testsupport.host import in_process_host

APP = "tests.durable.apps.route_client_app:app"

pytestmark = pytest.mark.timeout(120)


def test_the_function_declares_the_client_binding_the_handler_is_given() -> None:
    (probe,) = index_app(load_app(APP))
    kinds = {(b["type"], b["name"]) for b in probe.bindings}
    assert kinds == {("httpTrigger", "req"), ("durableClient", "client"), ("http", "$return")}


async def test_the_handler_gets_its_query_and_a_durable_client() -> None:
    async with (
        in_process_host(APP, plugins=[DurablePlugin()]) as host,
        httpx.AsyncClient(base_url=host.base_url) as client,
    ):
        ok = await client.get("/api/probe/abc", params={"n": "7"})
        bad = await client.get("/api/probe/abc", params={"n": "seven"})
    assert ok.status_code == 200, ok.text
    assert ok.json() == {
        "n": 7,
        "client": "DurableOrchestrationClient",
        "x": "abc",
        "found": False,
    }
    assert bad.status_code == 422
    assert json.loads(bad.text)["errors"][0]["loc"] == "n"
