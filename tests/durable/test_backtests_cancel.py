"""Cancel terminates each block sub-orchestration through the durable client itself (Azure
does not cascade a parent's termination), skipping blocks that ended or never started."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

from shared.backtest.runs import RunService


@dataclass
class FakeStatus:
    runtime_status: OrchestrationRuntimeStatus | None
    custom_status: Any = None


@dataclass
class FakeClient:
    statuses: dict[str, FakeStatus]
    missing_on_terminate: set[str] = field(default_factory=set)
    terminated: list[tuple[str, str]] = field(default_factory=list)

    async def get_status(self, instance_id: str) -> FakeStatus:
        return self.statuses.get(instance_id, FakeStatus(None))

    async def start_new(self, name: str, instance_id: str, job: Any) -> str:
        raise AssertionError("cancelling starts nothing")

    async def terminate(self, instance_id: str, reason: str) -> None:
        if instance_id in self.missing_on_terminate:
            raise Exception(f"No instance with ID '{instance_id}' found.")
        self.terminated.append((instance_id, reason))


async def test_every_running_block_is_terminated_and_the_rest_tolerated() -> None:
    running = OrchestrationRuntimeStatus.Running
    client = FakeClient(
        statuses={
            "r1": FakeStatus(
                OrchestrationRuntimeStatus.Terminated, {"stage": "running", "blocks": 5}
            ),
            "r1:b000": FakeStatus(OrchestrationRuntimeStatus.Completed),
            "r1:b001": FakeStatus(running),
            "r1:b003": FakeStatus(running),
            "r1:b004": FakeStatus(running),
        },
        missing_on_terminate={"r1:b004"},
    )
    done = await RunService(client).terminate_blocks("r1", "cancelled by alice")
    assert done == ["r1:b001", "r1:b003"]
    assert client.terminated == [
        ("r1:b001", "cancelled by alice"),
        ("r1:b003", "cancelled by alice"),
    ]


async def test_a_run_without_blocks_terminates_nothing_more() -> None:
    client = FakeClient(
        statuses={"r2": FakeStatus(OrchestrationRuntimeStatus.Terminated, {"stage": "running"})}
    )
    assert await RunService(client).terminate_blocks("r2", "x") == []
    assert client.terminated == []


@dataclass
class SlowParent(FakeClient):
    """The parent ends (and reveals its blocks) only on the third status read, as in Azure,
    where termination is queued."""

    reads: int = 0

    async def get_status(self, instance_id: str) -> FakeStatus:
        if instance_id != "r3":
            return await super().get_status(instance_id)
        self.reads += 1
        if self.reads < 3:
            return FakeStatus(OrchestrationRuntimeStatus.Running, {"stage": "planning"})
        return FakeStatus(OrchestrationRuntimeStatus.Terminated, {"blocks": 1})


async def test_blocks_scheduled_before_the_termination_lands_are_terminated_too() -> None:
    client = SlowParent(statuses={"r3:b000": FakeStatus(OrchestrationRuntimeStatus.Pending)})
    assert await RunService(client).terminate_blocks("r3", "x") == ["r3:b000"]
    assert client.reads == 3
