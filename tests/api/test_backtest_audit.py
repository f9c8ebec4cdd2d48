"""Starting and cancelling a backtest each write one audit record, with the server's request
id (the durable client is a recording fake: no orchestration runs)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

from functions import backtests
from testsupport.auth import auth_headers
from testsupport.bars import write_bars


@dataclass
class Status:
    runtime_status: OrchestrationRuntimeStatus | None
    custom_status: Any = None


@dataclass
class RecordingClient:
    started: list[str] = field(default_factory=list)
    terminated: list[str] = field(default_factory=list)

    async def start_new(self, name: str, instance_id: str, job: Any) -> str:
        self.started.append(instance_id)
        return instance_id

    async def get_status(self, instance_id: str) -> Status:
        if instance_id in self.terminated:
            return Status(OrchestrationRuntimeStatus.Terminated)
        if instance_id in self.started:
            return Status(OrchestrationRuntimeStatus.Running, {"stage": "running"})
        return Status(None)

    async def terminate(self, instance_id: str, reason: str) -> None:
        self.terminated.append(instance_id)


def _request(method: str, url: str, role: str, account: str, body: Any = None, **route: str):
    headers = {**auth_headers(role, account), "X-Request-Id": f"{method.lower()}-client"}
    return func.HttpRequest(
        method,
        f"http://127.0.0.1:7071/api/{url}",
        headers=headers,
        params={},
        route_params=route,
        body=json.dumps(body).encode() if body is not None else b"",
    )


async def test_start_and_cancel_each_write_one_record(call):
    write_bars()
    client = RecordingClient()
    body = {
        "symbols": ["GOOG"],
        "strategy": {"strategy": "sma_cross", "grid": {"fast": [5, 10], "slow": [20]}},
    }
    started = await backtests.backtests_start(
        _request("POST", "backtests", "trader", "alice", body), client=client
    )
    assert started.status_code == 202, started.get_body()
    run_id = json.loads(started.get_body())["runId"]
    cancel = _request("DELETE", f"backtests/{run_id}", "trader", "alice", run_id=run_id)
    cancelled = await backtests.backtests_cancel(cancel, client=client)
    assert cancelled.status_code == 202, cancelled.get_body()
    again = await backtests.backtests_cancel(cancel, client=client)
    assert again.status_code == 409

    reply = await call("GET", "audit", role="admin", account="root", query={"kind": "backtest"})
    records = reply.json["items"]
    assert [(r["action"], r["actor"], r["account"], r["target"]) for r in records] == [
        ("backtest.cancelled", "alice", "alice", f"backtests/{run_id}"),
        ("backtest.started", "alice", "alice", f"backtests/{run_id}"),
    ]
    assert records[1]["requestId"] == started.headers["X-Request-Id"]
    assert records[1]["clientRequestId"] == "post-client"
    assert records[1]["detail"] == {"symbols": ["GOOG"], "combinations": 2}
    assert records[0]["requestId"] == cancelled.headers["X-Request-Id"]
    assert records[0]["detail"] == {"previousStatus": "Running"}


async def test_a_refused_start_writes_no_record(call):
    client = RecordingClient()
    body = {"symbols": ["NODATA"], "strategy": {"strategy": "sma_cross", "grid": {"fast": [5]}}}
    refused = await backtests.backtests_start(
        _request("POST", "backtests", "trader", "alice", body), client=client
    )
    assert refused.status_code == 422
    reply = await call("GET", "audit", role="admin", account="root", query={"kind": "backtest"})
    assert reply.json["items"] == []
