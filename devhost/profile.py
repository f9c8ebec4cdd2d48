"""What `python -m devhost` tells a newcomer at start: which storage profile it runs (and that
the emulator profile's health fails without the emulators), and the offline default symbols.

- A `local.settings.json` (say, copied from `local.settings.example.json`) that selects Blob
  Storage or Cosmos DB switches the host from embedded storage to Azurite / the Cosmos
  emulator. The host says so in a banner on stderr, naming the file and the endpoints, and
  whether each endpoint answers a TCP connect right now (without them `/api/health` is 503).
- Offline (the sample provider on: SAMPLE_DATA_ENABLED and no ALPHAVANTAGE_API_KEYS) and
  DEFAULT_SYMBOLS not set, the default symbols are the bundled daily series, so the README's
  quote, bars, feed and backtest examples find data; one line says so.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

from shared.config import Settings

BUNDLED_HINT = "the bundled daily series"


def offline(settings: Settings) -> bool:
    """The sample provider serves the defaults (the rule `shared.ingest.sync` applies)."""
    return settings.sample_data_enabled and not settings.alphavantage_api_keys


def bundled_symbols() -> list[str]:
    """The symbols of `shared.providers.sample.DATASETS` (one dataset per symbol)."""
    from shared.providers.sample import DATASETS

    return [dataset.symbol for dataset in DATASETS]


def apply_offline_defaults(settings: Settings) -> str | None:
    """Set DEFAULT_SYMBOLS to the bundled symbols when offline and unset; the line to print."""
    if "DEFAULT_SYMBOLS" in os.environ or not offline(settings):
        return None
    symbols = ",".join(bundled_symbols())
    os.environ["DEFAULT_SYMBOLS"] = symbols
    return (
        f"offline data: DEFAULT_SYMBOLS={symbols} ({BUNDLED_HINT}; no ALPHAVANTAGE_API_KEYS). "
        "Set DEFAULT_SYMBOLS to choose others."
    )


def _reachable(url: str | None, default_port: int, timeout: float = 0.5) -> bool | None:
    if not url:
        return None
    split = urlsplit(url if "://" in url else f"http://{url}")
    if not split.hostname:
        return None
    try:
        with socket.create_connection((split.hostname, split.port or default_port), timeout):
            return True
    except OSError:
        return False


def _blob_endpoint(settings: Settings) -> str | None:
    text = settings.azure_storage_connection_string or ""
    if "UseDevelopmentStorage=true" in text:
        return "http://127.0.0.1:10000"
    for part in text.split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() == "blobendpoint":
            return value.strip()
    return settings.azure_storage_account_url


def profile_banner(settings: Settings, settings_file: Path | None) -> list[str]:
    """Lines for stderr when storage is not embedded; [] for the embedded profile."""
    uses_blob = settings.blob_backend == "azure"
    uses_cosmos = settings.document_backend == "cosmos"
    if not (uses_blob or uses_cosmos):
        return []
    source = f"{settings_file} selects" if settings_file else "the environment selects"
    lines = [f"PROFILE: {source} external storage, not embedded .data/ storage:"]
    checks: list[tuple[str, str | None, int]] = []
    if uses_blob:
        checks.append(("BLOB_BACKEND=azure (Azurite)", _blob_endpoint(settings), 443))
    if uses_cosmos:
        checks.append(("DOCUMENT_BACKEND=cosmos", settings.cosmos_endpoint, 443))
    down = False
    for label, endpoint, port in checks:
        state = _reachable(endpoint, port)
        answer = {True: "answers", False: "NOT REACHABLE", None: "managed identity"}[state]
        down = down or state is False
        lines.append(f"  {label} at {endpoint or '(account URL)'}: {answer}")
    if down:
        lines.append(
            "  /api/health will answer 503 and the feed and ingestion fail until the emulators "
            "run (README: 'Running against Azurite and the Cosmos emulator instead')"
        )
    if settings_file:
        lines.append(f"  for embedded storage instead: remove or rename {settings_file}")
    return lines
