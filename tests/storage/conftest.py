"""Adapter fixtures for the storage contract suites (embedded always, emulators when present)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import httpx
import pytest

from shared.config import load_settings
from shared.errors import DomainError
from shared.storage.blob import BlobStore
from shared.storage.blob_local import LocalBlobStore
from shared.storage.documents import DocumentStore
from shared.storage.documents_sqlite import SqliteDocumentStore
from tests.support.emulators import AzuriteEndpoints, CosmosEndpoint

SIGNING_KEY = "contract-test-signing-key"
FetchSigned = Callable[[str], tuple[int, bytes]]


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["local", pytest.param("azurite", marks=pytest.mark.emulator)])
def blob_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def blob_store(blob_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    """A fresh, empty container on the adapter under test."""
    container = unique("c")
    if blob_backend == "local":
        return LocalBlobStore(
            tmp_path / "blobs",
            container,
            signing_key=SIGNING_KEY,
            public_base_url="http://127.0.0.1:7071",
        )
    from shared.storage.blob_azure import AzureBlobStore

    endpoints: AzuriteEndpoints = request.getfixturevalue("azurite")
    settings = load_settings(
        blob_backend="azure", azure_storage_connection_string=endpoints.connection_string
    )
    return AzureBlobStore.from_settings(container, settings)


def _fetch_local(store: LocalBlobStore, url: str) -> tuple[int, bytes]:
    """What the devhost's /devstorage route does with a signed URL."""
    parsed = urlparse(url)
    prefix = f"/devstorage/{store.container}/"
    assert parsed.path.startswith(prefix), url
    query = {key: values[0] for key, values in parse_qs(parsed.query).items()}
    try:
        stream, _info = store.read_signed(
            unquote(parsed.path.removeprefix(prefix)), query.get("se", ""), query.get("sig", "")
        )
    except DomainError as error:
        return error.status, b""
    with stream:
        return 200, stream.read()


@pytest.fixture
def fetch_signed(blob_store: BlobStore) -> FetchSigned:
    """GET a signed URL without credentials: (status, body)."""
    if isinstance(blob_store, LocalBlobStore):
        local = blob_store
        return lambda url: _fetch_local(local, url)

    def fetch(url: str) -> tuple[int, bytes]:
        response = httpx.get(url, timeout=10)
        return response.status_code, response.content

    return fetch


@pytest.fixture(params=["sqlite", pytest.param("cosmos", marks=pytest.mark.emulator)])
def document_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DocumentStore]:
    if request.param == "sqlite":
        store = SqliteDocumentStore(tmp_path / "documents.sqlite3")
        yield store
        store.close()
        return
    from shared.storage.documents_cosmos import CosmosDocumentStore

    endpoint: CosmosEndpoint = request.getfixturevalue("cosmos_emulator")
    settings = load_settings(
        document_backend="cosmos",
        cosmos_endpoint=endpoint.url,
        cosmos_key=endpoint.key,
        cosmos_database="contract",
        cosmos_endpoint_discovery=False,
    )
    yield CosmosDocumentStore.from_settings(settings)


@pytest.fixture
def container() -> str:
    """A container name no other test uses (emulators live for the whole session)."""
    return unique("t")
