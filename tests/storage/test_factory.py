"""The factory picks adapters from settings and caches them per storage settings."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import pytest

from shared.config import get_settings
from shared.errors import Forbidden, Unavailable
from shared.storage.blob_local import LocalBlobStore, read_signed
from shared.storage.documents_sqlite import SqliteDocumentStore
from shared.storage.factory import blob_store, clear_cache, document_store, lake
from tests.support.emulators import free_port


@pytest.fixture(autouse=True)
def fresh() -> None:
    clear_cache()


def test_embedded_defaults(isolated_settings: Path) -> None:
    raw = blob_store("raw")
    assert isinstance(raw, LocalBlobStore)
    assert raw.root == isolated_settings / "blobs"
    assert blob_store("raw") is raw
    assert blob_store("results") is not raw
    docs = document_store()
    assert isinstance(docs, SqliteDocumentStore)
    assert docs.path == isolated_settings / "documents.sqlite3"
    assert document_store() is docs
    assert lake().blobs is blob_store("lake")
    raw.put("x.txt", b"hello")
    assert (isolated_settings / "blobs" / "raw" / "x.txt").read_bytes() == b"hello"


def test_new_settings_get_new_adapters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = blob_store("raw")
    monkeypatch.setenv("LOCAL_DATA_DIR", str(tmp_path / "elsewhere"))
    get_settings.cache_clear()
    second = blob_store("raw")
    assert second is not first
    assert isinstance(second, LocalBlobStore)
    assert second.root == tmp_path / "elsewhere" / "blobs"


def test_azure_backends_are_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.storage.blob_azure import AzureBlobStore
    from shared.storage.documents_cosmos import CosmosDocumentStore

    monkeypatch.setenv("BLOB_BACKEND", "azure")
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", "UseDevelopmentStorage=true")
    get_settings.cache_clear()
    store = blob_store("lake")
    assert isinstance(store, AzureBlobStore)
    assert store.container == "lake"
    assert isinstance(lake().blobs, AzureBlobStore)
    monkeypatch.setenv("DOCUMENT_BACKEND", "cosmos")
    monkeypatch.setenv("COSMOS_ENDPOINT", f"http://127.0.0.1:{free_port()}/")
    monkeypatch.setenv("COSMOS_KEY", "a2V5a2V5")
    monkeypatch.setenv("COSMOS_ENDPOINT_DISCOVERY", "false")
    get_settings.cache_clear()
    try:
        docs = document_store()
    except Unavailable:
        return
    assert isinstance(docs, CosmosDocumentStore)
    with pytest.raises(Unavailable):
        docs.ping()


def test_devhost_signed_read(isolated_settings: Path) -> None:
    store = blob_store("results")
    store.put("runs/r1/equity.parquet", b"PAR1", content_type="application/vnd.apache.parquet")
    url = urlparse(store.signed_url("runs/r1/equity.parquet", timedelta(minutes=1)))
    container, _, name = url.path.removeprefix("/devstorage/").partition("/")
    query = {key: value[0] for key, value in parse_qs(url.query).items()}
    stream, info = read_signed(container, unquote(name), query["se"], query["sig"])
    with stream:
        assert stream.read() == b"PAR1"
    assert info.content_type == "application/vnd.apache.parquet"
    with pytest.raises(Forbidden):
        read_signed(container, "runs/r1/other.parquet", query["se"], query["sig"])
    with pytest.raises(Forbidden):
        read_signed(container, unquote(name), str(int(query["se"]) + 1), query["sig"])
