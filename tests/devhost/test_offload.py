"""shared.offload: request CPU work in the worker process, errors and settings carried over."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from shared import offload
from shared.errors import GridTooLarge


def pid_and_env(name: str) -> tuple[int, str | None]:
    return os.getpid(), os.environ.get(name)


def refuse(detail: str) -> None:
    error = GridTooLarge(detail)
    error.extensions["limit"] = 50_000
    raise error


class Unpicklable(Exception):
    def __init__(self, a: int, b: int) -> None:
        super().__init__(f"{a}/{b}")


def raise_unpicklable() -> None:
    raise Unpicklable(1, 2)


@pytest.fixture
def enabled() -> Iterator[None]:
    offload.enable()
    yield
    offload.shutdown()


async def test_runs_in_another_process_with_this_processs_environment(enabled, monkeypatch):
    monkeypatch.setenv("OFFLOAD_PROBE", "first")
    pid, value = await offload.run_cpu(pid_and_env, "OFFLOAD_PROBE")
    assert pid != os.getpid()
    assert value == "first"
    monkeypatch.setenv("OFFLOAD_PROBE", "second")  # changed after the worker started
    again, value = await offload.run_cpu(pid_and_env, "OFFLOAD_PROBE")
    assert (again, value) == (pid, "second")


async def test_a_domain_error_arrives_as_itself(enabled):
    with pytest.raises(GridTooLarge, match="too many") as caught:
        await offload.run_cpu(refuse, "too many")
    assert caught.value.extensions == {"limit": 50_000}


async def test_an_error_that_does_not_pickle_keeps_the_pool_working(enabled):
    with pytest.raises(RuntimeError, match="Unpicklable: 1/2"):
        await offload.run_cpu(raise_unpicklable)
    pid, _ = await offload.run_cpu(pid_and_env, "X")
    assert pid != os.getpid()


async def test_without_enable_it_runs_in_a_thread_of_this_process():
    pid, _ = await offload.run_cpu(pid_and_env, "X")
    assert pid == os.getpid()
