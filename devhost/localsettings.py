"""local.settings.json: read its `Values` into the environment, rejecting unknown names."""

from __future__ import annotations

import difflib
import importlib
import json
import os
import re
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from shared.config import setting_names

AZURE_SETTINGS = frozenset(
    {
        "AzureWebJobsStorage",
        "AzureWebJobsDashboard",
        "AzureWebJobsFeatureFlags",
        "AzureWebJobsSecretStorageType",
        "AzureWebJobsScriptRoot",
        "FUNCTIONS_WORKER_RUNTIME",
        "FUNCTIONS_EXTENSION_VERSION",
        "FUNCTIONS_WORKER_PROCESS_COUNT",
        "FUNCTIONS_INPROC_NET8_ENABLED",
        "AZURE_FUNCTIONS_ENVIRONMENT",
        "APPINSIGHTS_INSTRUMENTATIONKEY",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
        "PYTHON_ISOLATE_WORKER_DEPENDENCIES",
        "PYTHON_ENABLE_WORKER_EXTENSIONS",
        "PYTHON_THREADPOOL_THREAD_COUNT",
        "PYTHON_ENABLE_DEBUG_LOGGING",
        "PYTHON_ENABLE_INIT_INDEXING",
        "PYTHON_ENABLE_OPENTELEMETRY",
        "WEBSITE_TIME_ZONE",
        "WEBSITE_RUN_FROM_PACKAGE",
        "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
        "WEBSITE_CONTENTSHARE",
        "SCM_DO_BUILD_DURING_DEPLOYMENT",
        "ENABLE_ORYX_BUILD",
        "AZURE_CLIENT_ID",
        "AZURE_TENANT_ID",
        # trigger connections of function_app.py (the paper_matching_quotes change feed)
        "COSMOS",
        "AZURE_CLIENT_SECRET",
        "AzureFunctionsJobHost",
        "DURABLE_TASK_SCHEDULER_CONNECTION_STRING",
        "NUMBA_CACHE_DIR",
    }
)
"""Settings the Functions host, the Python worker, azure-identity or numba read (not
shared/config): `AzureFunctionsJobHost__<path>` overrides a host.json value, and host.json's
durableTask.storageProvider names DURABLE_TASK_SCHEDULER_CONNECTION_STRING."""

_DISABLED = re.compile(r"AzureWebJobs\.[\w-]+\.Disabled", re.IGNORECASE)


class LocalSettingsError(ValueError):
    """local.settings.json is unreadable or names an unknown setting (one-line message)."""


SETTINGS_CLASSES = ("containerapps.relay.settings:RelaySettings",)
"""Other pydantic-settings classes whose fields the local host's processes read."""


def _fields(reference: str) -> list[str]:
    module_name, _, attribute = reference.partition(":")
    try:
        settings_class = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError):
        return []
    return [name.upper() for name in getattr(settings_class, "model_fields", {})]


def known_names() -> dict[str, str]:
    """Every accepted setting name, keyed by its upper-case form."""
    names = {name.upper(): name for name in AZURE_SETTINGS}
    for reference in SETTINGS_CLASSES:
        names.update({name: name for name in _fields(reference)})
    names.update({name.upper(): name for name in setting_names()})
    return names


def check_name(name: str, known: dict[str, str] | None = None) -> None:
    """Raise `LocalSettingsError` for a name no part of the suite reads, suggesting the closest."""
    known = known if known is not None else known_names()
    base = name.split("__", 1)[0]
    if base.upper() in known or _DISABLED.fullmatch(name):
        return
    close = difflib.get_close_matches(base.upper(), list(known), n=1, cutoff=0.6)
    hint = f"; did you mean {known[close[0]]}?" if close else ""
    raise LocalSettingsError(f"unknown setting {name}{hint}")


def _document(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
        document = json.loads(text) if text.strip() else {}
    except (OSError, json.JSONDecodeError) as error:
        raise LocalSettingsError(f"{path}: cannot read it: {error}") from None
    if not isinstance(document, dict):
        raise LocalSettingsError(f"{path}: must hold a JSON object")
    return document


def read_port(path: Path) -> int | None:
    """`Host.LocalHttpPort` of a local.settings.json file, if it sets one."""
    port = _document(path).get("Host", {}).get("LocalHttpPort")
    if port is None:
        return None
    if not isinstance(port, int) or not 0 <= port < 65536:
        raise LocalSettingsError(f"{path}: Host.LocalHttpPort must be a port number")
    return port


def read_values(path: Path) -> dict[str, str]:
    """The `Values` of a local.settings.json file, every name checked."""
    values = _document(path).get("Values", {})
    if not isinstance(values, dict):
        raise LocalSettingsError(f"{path}: 'Values' must be an object of strings")
    known = known_names()
    for name in values:
        try:
            check_name(name, known)
        except LocalSettingsError as error:
            raise LocalSettingsError(f"{path}: {error}") from None
    return {name: "" if value is None else str(value) for name, value in values.items()}


def apply_values(
    values: dict[str, str], environ: MutableMapping[str, str] | None = None
) -> list[str]:
    """Set each value unless the environment already has it (as Core Tools does).

    Returns the names skipped because the environment already set them."""
    target = os.environ if environ is None else environ
    skipped = []
    for name, value in values.items():
        if name in target:
            skipped.append(name)
        else:
            target[name] = value
    return skipped
