"""Storage health: which adapters are active and whether each answers, within a deadline."""

from __future__ import annotations

import concurrent.futures
import importlib
import time
from collections.abc import Callable
from typing import Any

from shared.config import Settings, get_settings
from shared.errors import DomainError

DEADLINE_SECONDS = 5.0
ADAPTER_MODULES = {
    "azure": "shared.storage.blob_azure",
    "cosmos": "shared.storage.documents_cosmos",
}

_pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="health")


def _blob_check(settings: Settings) -> tuple[str, str]:
    from shared.storage.factory import blob_store

    store = blob_store(settings.lake_container, settings)
    store.ping()
    if settings.blob_backend == "local":
        return "local", f"folder {settings.local_data_dir / 'blobs'}"
    return "azure", f"container {settings.lake_container!r} answered"


def _documents_check(settings: Settings) -> tuple[str, str]:
    from shared.storage.factory import document_store

    store = document_store(settings)
    store.ping()
    if settings.document_backend == "sqlite":
        return "sqlite", f"file {settings.documents_path}"
    return "cosmos", f"database {settings.cosmos_database!r} answered"


def _describe(error: BaseException) -> str:
    text = error.detail if isinstance(error, DomainError) else f"{type(error).__name__}: {error}"
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return first[:300]


def _timed(check: Callable[[Settings], tuple[str, str]], settings: Settings) -> tuple[str, float]:
    started = time.monotonic()
    _, detail = check(settings)
    return detail, (time.monotonic() - started) * 1000


def _result(
    adapter: str, future: concurrent.futures.Future[tuple[str, float]], deadline: float
) -> dict[str, Any]:
    latency: float | None = None
    try:
        detail, latency = future.result(timeout=max(0.0, deadline - time.monotonic()))
        reachable = True
    except concurrent.futures.TimeoutError:
        reachable, detail = False, f"no answer within {DEADLINE_SECONDS:g} s"
    except Exception as error:
        reachable, detail = False, _describe(error)
    body: dict[str, Any] = {"adapter": adapter, "reachable": reachable, "detail": detail}
    if latency is not None:
        body["latencyMs"] = round(latency, 1)
    return body


def health_report(settings: Settings | None = None) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): 200 when every store answers, 503 otherwise; never raises."""
    settings = settings or get_settings()
    for backend in (settings.blob_backend, settings.document_backend):
        if backend in ADAPTER_MODULES:
            importlib.import_module(ADAPTER_MODULES[backend])
    deadline = time.monotonic() + DEADLINE_SECONDS
    blob_future = _pool.submit(_timed, _blob_check, settings)
    documents_future = _pool.submit(_timed, _documents_check, settings)
    blob = _result(settings.blob_backend, blob_future, deadline)
    documents = _result(settings.document_backend, documents_future, deadline)
    healthy = blob["reachable"] and documents["reachable"]
    body = {
        "status": "ok" if healthy else "unavailable",
        "version": settings.app_version,
        "environment": settings.environment,
        "storage": {"blob": blob, "documents": documents},
    }
    return (200 if healthy else 503), body
