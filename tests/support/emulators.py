"""Session fixtures that start Azurite and the Cosmos DB SQL API server on free loopback ports.

Both come from node_modules (`npm ci`, pinned in package.json + package-lock.json). When a
binary is missing the tests that need it skip with a loud reason locally, and FAIL when
`CI=true` (CI must exercise every contract suite). Processes are stopped by PID afterwards.

The root conftest registers this module as a plugin: any test may request `azurite`
(`AzuriteEndpoints`) or `cosmos_emulator` (`CosmosEndpoint`); mark such tests `emulator`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / "node_modules" / ".bin"
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
COSMOS_KEY = (
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
)
READY_SECONDS = 30.0


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def unavailable(reason: str) -> None:
    """Skip loudly (locally) or fail (CI=true) because an emulator cannot run."""
    message = f"EMULATOR UNAVAILABLE: {reason}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: contract suites must not be skipped)")
    pytest.skip(f"{message} — run `npm ci` (or `make deps-dev`) to exercise this suite")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Emulator:
    process: subprocess.Popen[bytes]
    workdir: Path
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""


def _start(binary: str, args: list[str], ready_url: str) -> Emulator:
    executable = BIN / binary
    if not executable.exists():
        unavailable(f"{executable} is missing")
    if shutil.which("node") is None:
        unavailable("node is not on PATH")
    workdir = Path(tempfile.mkdtemp(prefix=f"{binary}-"))
    log = workdir / "emulator.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [str(executable), *args],
            cwd=workdir,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    emulator = Emulator(process, workdir, log)
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = emulator.tail()
            emulator.stop()
            unavailable(f"{binary} exited with {process.returncode}: {output}")
        try:
            httpx.get(ready_url, timeout=1.0)
            return emulator
        except httpx.HTTPError:
            time.sleep(0.1)
    output = emulator.tail()
    emulator.stop()
    unavailable(f"{binary} did not answer {ready_url} within {READY_SECONDS:g} s: {output}")
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class AzuriteEndpoints:
    blob_port: int
    queue_port: int
    table_port: int

    @property
    def blob_url(self) -> str:
        return f"http://127.0.0.1:{self.blob_port}/{AZURITE_ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};BlobEndpoint={self.blob_url};"
            f"QueueEndpoint=http://127.0.0.1:{self.queue_port}/{AZURITE_ACCOUNT};"
            f"TableEndpoint=http://127.0.0.1:{self.table_port}/{AZURITE_ACCOUNT};"
        )


@dataclass(frozen=True)
class CosmosEndpoint:
    port: int
    key: str = COSMOS_KEY

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


@pytest.fixture(scope="session")
def azurite() -> Iterator[AzuriteEndpoints]:
    """A running Azurite (blob, queue, table) on free loopback ports, in memory."""
    ports = AzuriteEndpoints(free_port(), free_port(), free_port())
    emulator = _start(
        "azurite",
        [
            "--silent",
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
            "--inMemoryPersistence",
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(ports.blob_port),
            "--queueHost",
            "127.0.0.1",
            "--queuePort",
            str(ports.queue_port),
            "--tableHost",
            "127.0.0.1",
            "--tablePort",
            str(ports.table_port),
        ],
        f"http://127.0.0.1:{ports.blob_port}/",
    )
    try:
        yield ports
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def cosmos_emulator() -> Iterator[CosmosEndpoint]:
    """A running @vercel/cosmosdb-server (plain HTTP) on a free loopback port."""
    endpoint = CosmosEndpoint(free_port())
    emulator = _start(
        "cosmosdb-server",
        ["--no-ssl", "--host", "127.0.0.1", "--port", str(endpoint.port)],
        endpoint.url,
    )
    try:
        yield endpoint
    finally:
        emulator.stop()
