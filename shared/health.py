"""Storage health: which adapters are active and whether each answers, within a deadline.

The report is public, so it shows states only: an adapter's name, whether it answered, how
fast, and a fixed phrase. Paths, account names and error texts go to the log.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from shared.config import Settings, SettingsError, get_settings, setting_names
from shared.errors import DomainError

log = logging.getLogger("shared.health")

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
    return settings.blob_backend, "answered"


def _documents_check(settings: Settings) -> tuple[str, str]:
    from shared.storage.factory import document_store

    store = document_store(settings)
    store.ping()
    return settings.document_backend, "answered"


def _describe(error: BaseException) -> str:
    """The log line of a failed check (not shown to callers)."""
    text = error.detail if isinstance(error, DomainError) else f"{type(error).__name__}: {error}"
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return first[:300]


def misconfigured_report(error: SettingsError) -> dict[str, Any]:
    """The public body of a host whose settings do not load: the names of the settings at
    fault (never their values); the full message goes to the log."""
    log.error("health: %s", error)
    known = set(setting_names())
    named = [name for name in dict.fromkeys(re.findall(r"\b[A-Z][A-Z0-9_]+\b", str(error)))]
    names = [name for name in named if name in known]
    return {
        "status": "misconfigured",
        "detail": "settings do not load: " + (", ".join(names) or "see the log"),
    }


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
        log.warning("health: the %s store failed its check: %s", adapter, _describe(error))
        reachable, detail = False, f"failed ({type(error).__name__}); see the log"
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
