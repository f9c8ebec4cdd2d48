"""The one place that builds storage adapters from settings (BLOB_BACKEND, DOCUMENT_BACKEND).

    from shared.storage.factory import blob_store, document_store, lake
    raw = blob_store(settings.raw_container)      # BlobStore
    docs = document_store()                       # DocumentStore
    bars = lake().read("bars", [("symbol", "=", "AAPL")])

Adapters are cached per storage-relevant settings, so repeated calls share clients and
SQLite connections; tests that change the environment get fresh adapters automatically.
"""

from __future__ import annotations

import threading
from typing import Any

from shared.config import Settings, get_settings
from shared.storage.blob import BlobStore
from shared.storage.documents import DocumentStore
from shared.storage.lake import ParquetLake

_cache: dict[tuple[Any, ...], Any] = {}
_lock = threading.Lock()


def _blob_key(settings: Settings) -> tuple[Any, ...]:
    if settings.blob_backend == "local":
        return (
            "local",
            str(settings.local_data_dir.resolve()),
            settings.blob_signing_key,
            settings.public_base_url,
        )
    return (
        "azure",
        settings.azure_storage_connection_string,
        settings.azure_storage_account_url,
    )


def _document_key(settings: Settings) -> tuple[Any, ...]:
    if settings.document_backend == "sqlite":
        return ("sqlite", str(settings.documents_path.resolve()))
    return (
        "cosmos",
        settings.cosmos_endpoint,
        settings.cosmos_key,
        settings.cosmos_database,
        settings.cosmos_endpoint_discovery,
    )


def _build_blob_store(container: str, settings: Settings) -> BlobStore:
    if settings.blob_backend == "local":
        from shared.storage.blob_local import LocalBlobStore

        return LocalBlobStore(
            settings.local_data_dir / "blobs",
            container,
            signing_key=settings.blob_signing_key,
            public_base_url=settings.public_base_url,
        )
    from shared.storage.blob_azure import AzureBlobStore

    return AzureBlobStore.from_settings(container, settings)


def _build_document_store(settings: Settings) -> DocumentStore:
    if settings.document_backend == "sqlite":
        from shared.storage.documents_sqlite import SqliteDocumentStore

        return SqliteDocumentStore(settings.documents_path)
    from shared.storage.documents_cosmos import CosmosDocumentStore

    return CosmosDocumentStore.from_settings(settings)


def blob_store(container: str, settings: Settings | None = None) -> BlobStore:
    """The `BlobStore` of `container` on the configured backend."""
    settings = settings or get_settings()
    key = ("blob", container, *_blob_key(settings))
    with _lock:
        if key not in _cache:
            _cache[key] = _build_blob_store(container, settings)
        store: BlobStore = _cache[key]
    return store


def document_store(settings: Settings | None = None) -> DocumentStore:
    """The `DocumentStore` on the configured backend."""
    settings = settings or get_settings()
    key = ("documents", *_document_key(settings))
    with _lock:
        if key not in _cache:
            _cache[key] = _build_document_store(settings)
        store: DocumentStore = _cache[key]
    return store


def lake(settings: Settings | None = None) -> ParquetLake:
    """The Parquet lake in `LAKE_CONTAINER`."""
    settings = settings or get_settings()
    return ParquetLake(blob_store(settings.lake_container, settings))


def clear_cache() -> None:
    """Forget every cached adapter (tests; after changing credentials)."""
    with _lock:
        _cache.clear()
