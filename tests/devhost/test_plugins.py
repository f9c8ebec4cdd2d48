"""The plugin seam: routes, input bindings, claimed triggers, lifecycle, invoke by name."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import azure.functions as func
import httpx
import pytest
from aiohttp import web

from devhost.plugins import (
    Binding,
    FunctionInfo,
    InvocationContext,
    Plugin,
    PluginHost,
    load_plugins,
)
from testsupport.host import in_process_host


def make_app() -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="start", methods=["POST"])
    @app.generic_input_binding(arg_name="client", type="echoClient")
    async def start(req: func.HttpRequest, client: str) -> func.HttpResponse:
        return func.HttpResponse(client, mimetype="application/json")

    @app.generic_trigger(arg_name="payload", type="echoTrigger")
    def echo_worker(payload: str) -> str:
        return payload.upper()

    @app.generic_trigger(arg_name="payload", type="echoTrigger")
    async def echo_async(payload: str) -> str:
        raise RuntimeError(payload)

    return app


class EchoPlugin(Plugin):
    name = "echo"
    trigger_types = frozenset({"echoTrigger"})
    input_types = frozenset({"echoClient"})

    def __init__(self) -> None:
        self.events: list[str] = []
        self.host: PluginHost | None = None

    def setup(self, host: PluginHost, app: web.Application) -> None:
        self.host = host
        self.events.append("setup")

        async def fire(request: web.Request) -> web.Response:
            name = request.match_info["name"]
            result = await host.invoke(name, payload=await request.text())
            return web.json_response({"result": result})

        app.router.add_post("/runtime/webhooks/echo/{name}", fire)
        app.router.add_get("/api/hubs/echo", lambda _: _ok())

    async def input_value(
        self, binding: Binding, function: FunctionInfo, context: InvocationContext
    ) -> Any:
        assert self.host is not None
        assert context.request is not None
        return json.dumps(
            {"binding": binding["name"], "function": function.name, "base": self.host.base_url}
        )

    async def start(self) -> None:
        assert self.host is not None
        async with httpx.AsyncClient(base_url=self.host.base_url) as client:
            status = await client.get("/admin/host/status")
        self.events.append(f"start (host status {status.status_code})")

    async def stop(self) -> None:
        self.events.append("stop")

    def describe(self, function: FunctionInfo) -> str:
        return "echoed"


async def _ok() -> web.Response:
    return web.Response(text="plugin route")


async def test_plugin_routes_inputs_and_claimed_triggers(caplog: pytest.LogCaptureFixture) -> None:
    plugin = EchoPlugin()
    caplog.set_level("INFO", logger="devhost.invocation")
    async with in_process_host(make_app(), plugins=[plugin]) as host:
        assert plugin.events == ["setup", "start (host status 503)"]
        async with httpx.AsyncClient(base_url=host.base_url) as client:
            assert (await client.get("/admin/host/status")).json()["state"] == "Running"
        async with httpx.AsyncClient(base_url=host.base_url) as client:
            started = await client.post("/api/start")
            assert started.status_code == 200
            assert started.json() == {
                "binding": "client",
                "function": "start",
                "base": host.base_url,
            }
            fired = await client.post("/runtime/webhooks/echo/echo_worker", content="hi")
            assert fired.json() == {"result": "HI"}
            assert (await client.get("/api/hubs/echo")).text == "plugin route"
        assert [f.name for f in host.functions_with_trigger("echoTrigger")] == [
            "echo_worker",
            "echo_async",
        ]
        with pytest.raises(RuntimeError, match="boom"):
            await host.invoke("echo_async", payload="boom")
        assert ("echo_worker", "echoTrigger", "echoed") in host.describe()
    assert plugin.events == ["setup", "start (host status 503)", "stop"]
    lines = [r.getMessage() for r in caplog.records if r.name == "devhost.invocation"]
    assert any("function=echo_worker trigger=echoTrigger" in x and "outcome=ok" in x for x in lines)
    assert any("function=echo_async" in x and "outcome=RuntimeError" in x for x in lines)
    assert any("function=start trigger=httpTrigger" in x and "outcome=200" in x for x in lines)


async def test_unserved_input_binding_is_reported_and_fails_the_call() -> None:
    async with in_process_host(make_app()) as host:
        assert any("echoClient" in p for p in host.unserved_inputs())
        assert ("echo_worker", "echoTrigger", "not served by the local host") in host.describe()
        async with httpx.AsyncClient(base_url=host.base_url) as client:
            assert (await client.post("/api/start")).status_code == 500


def test_load_plugins_skips_missing_modules_and_rejects_non_plugins() -> None:
    assert load_plugins(["devhost.no_such_plugin:create_plugin"]) == []
    with pytest.raises(TypeError, match="not Plugin"):
        load_plugins(["builtins:dict"])


def test_load_plugins_propagates_a_broken_plugin_import(tmp_path, monkeypatch) -> None:
    (tmp_path / "broken_plugin_mod.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_xyz"):
        load_plugins(["broken_plugin_mod:create_plugin"])


async def test_admin_runs_a_claimed_trigger_with_its_input(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="devhost.invocation")
    async with in_process_host(make_app(), plugins=[EchoPlugin()]) as host:
        async with httpx.AsyncClient(base_url=host.base_url) as client:
            response = await client.post("/admin/functions/echo_worker", json={"input": "abc"})
            assert response.status_code == 202
            unknown = await client.post("/admin/functions/nope", json={"input": "abc"})
            assert unknown.status_code == 404
            bad = await client.post("/admin/functions/echo_worker", content=b"not json")
            assert bad.status_code == 400
        for _ in range(100):
            if any("function=echo_worker" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.02)
    lines = [r.getMessage() for r in caplog.records if "function=echo_worker" in r.getMessage()]
    assert len(lines) == 1
    assert "outcome=ok" in lines[0]
