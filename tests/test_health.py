"""GET /api/health through the FunctionApp: 200 on embedded storage, 503 fast when a store
is unreachable, and the emulator profile (Azurite + Cosmos server) reported as reachable."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from shared.storage.factory import clear_cache
from tests.support.emulators import AzuriteEndpoints, CosmosEndpoint
from testsupport.routes import app_function, call_route


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def blob_storage_at(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    """Azure Blob storage (Azurite's well-known account) expected on loopback `port`."""
    monkeypatch.setenv("BLOB_BACKEND", "azure")
    monkeypatch.setenv(
        "AZURE_STORAGE_CONNECTION_STRING",
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;",
    )


def call_health() -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    reply = asyncio.run(call_route("GET", "health", role=None))
    elapsed = time.monotonic() - started
    return reply.status, reply.json, elapsed


@pytest.fixture(autouse=True)
def fresh_adapters() -> None:
    clear_cache()


def test_health_route_is_public_get() -> None:
    trigger = app_function("health").get_trigger()
    assert trigger.route == "health"
    assert [
        str(method.value if hasattr(method, "value") else method) for method in trigger.methods
    ] == ["GET"]


def test_health_ok_on_embedded_storage() -> None:
    status, body, _ = call_health()
    assert status == 200, body
    assert body["status"] == "ok"
    assert body["version"]
    assert body["storage"]["blob"]["adapter"] == "local"
    assert body["storage"]["blob"]["reachable"] is True
    assert body["storage"]["documents"]["adapter"] == "sqlite"
    assert body["storage"]["documents"]["reachable"] is True


def test_unreachable_blob_storage_is_503_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    port = closed_port()
    blob_storage_at(monkeypatch, port)
    status, body, elapsed = call_health()
    assert status == 503, body
    assert body["status"] == "unavailable"
    blob = body["storage"]["blob"]
    assert blob["adapter"] == "azure"
    assert blob["reachable"] is False
    assert "Traceback" not in blob["detail"]
    assert body["storage"]["documents"]["reachable"] is True
    assert elapsed < 6


def test_unreachable_cosmos_is_503_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCUMENT_BACKEND", "cosmos")
    monkeypatch.setenv("COSMOS_ENDPOINT", f"http://127.0.0.1:{closed_port()}/")
    monkeypatch.setenv("COSMOS_KEY", "a2V5a2V5a2V5")
    monkeypatch.setenv("COSMOS_ENDPOINT_DISCOVERY", "false")
    status, body, elapsed = call_health()
    assert status == 503, body
    documents = body["storage"]["documents"]
    assert documents["adapter"] == "cosmos"
    assert documents["reachable"] is False
    assert body["storage"]["blob"]["reachable"] is True
    assert elapsed < 6


def test_misconfigured_settings_are_503_not_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLOB_BACKEND", "azure")
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_URL", raising=False)
    status, body, _ = call_health()
    assert status == 503, body
    assert body == {
        "status": "misconfigured",
        "detail": "settings do not load: BLOB_BACKEND, AZURE_STORAGE_CONNECTION_STRING, "
        "AZURE_STORAGE_ACCOUNT_URL",
    }


@pytest.mark.emulator
def test_health_ok_on_emulator_profile(
    monkeypatch: pytest.MonkeyPatch, azurite: AzuriteEndpoints, cosmos_emulator: CosmosEndpoint
) -> None:
    monkeypatch.setenv("BLOB_BACKEND", "azure")
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    monkeypatch.setenv("DOCUMENT_BACKEND", "cosmos")
    monkeypatch.setenv("COSMOS_ENDPOINT", cosmos_emulator.url)
    monkeypatch.setenv("COSMOS_KEY", cosmos_emulator.key)
    monkeypatch.setenv("COSMOS_ENDPOINT_DISCOVERY", "false")
    status, body, _ = call_health()
    assert status == 200, body
    assert body["storage"]["blob"]["adapter"] == "azure"
    assert body["storage"]["documents"]["adapter"] == "cosmos"


def test_silent_server_hits_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    import shared.health

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        monkeypatch.setattr(shared.health, "DEADLINE_SECONDS", 0.5)
        blob_storage_at(monkeypatch, port)
        status, body, elapsed = call_health()
    assert status == 503, body
    assert body["storage"]["blob"]["detail"] == "no answer within 0.5 s"
    assert body["storage"]["documents"]["reachable"] is True
    assert elapsed < 2


def test_public_health_shows_states_not_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "secret-folder-name"
    monkeypatch.setenv("LOCAL_DATA_DIR", str(data))
    status, body, _ = call_health()
    assert status == 200, body
    text = json.dumps(body)
    assert "secret-folder-name" not in text
    assert str(tmp_path) not in text
    assert body["storage"]["blob"]["detail"] == "answered"
    assert body["storage"]["documents"]["detail"] == "answered"


def test_a_failing_store_shows_its_state_and_logs_the_cause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    monkeypatch.setenv("LOCAL_DATA_DIR", str(blocker))
    status, body, _ = call_health()
    assert status == 503, body
    assert "not-a-folder" not in json.dumps(body)
    assert body["storage"]["blob"]["reachable"] is False
    assert body["storage"]["blob"]["detail"].startswith("failed (")
    assert "not-a-folder" in caplog.text


def test_a_setting_value_never_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLOB_BACKEND", "s3-secret-value")
    status, body, _ = call_health()
    assert status == 503, body
    assert "s3-secret-value" not in json.dumps(body)
    assert body["detail"] == "settings do not load: BLOB_BACKEND"
