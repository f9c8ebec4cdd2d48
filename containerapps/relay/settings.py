"""Settings of the Finnhub relay container (environment variables, pydantic-settings).

Storage, Web PubSub and DEFAULT_SYMBOLS come from the suite's `shared.config.Settings`;
these are the relay's own. Each field's environment variable is its name in upper case.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.config import CommaList, SettingsError, one_line_error

FINNHUB_WS_URL = "wss://ws.finnhub.io"


class RelaySettings(BaseSettings):
    """What the relay reads besides the suite's settings."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    finnhub_api_keys: CommaList = Field(
        default_factory=list,
        description="Finnhub keys, comma-separated; one websocket per key, symbols partitioned "
        "across them. Empty: the relay does not start (the local host then runs it against "
        "its replay server).",
    )
    finnhub_ws_url: str = Field(
        FINNHUB_WS_URL, description="Finnhub trade stream URL; the key goes in `?token=`."
    )
    relay_id: str = Field(
        default_factory=socket.gethostname,
        description="Name of this relay in logs and archive segment names (default: hostname).",
    )
    relay_symbols_per_connection: int = Field(
        50, ge=1, le=10_000, description="Most symbols one connection subscribes (Finnhub: 50)."
    )
    relay_extra_symbols: CommaList = Field(
        default_factory=list,
        description="Symbols relayed besides DEFAULT_SYMBOLS and every watchlist's.",
    )
    relay_watchlist_refresh_seconds: float = Field(
        60.0, gt=0, description="How often the union of all watchlists is re-read."
    )
    relay_heartbeat_seconds: float = Field(
        30.0, gt=0, description="Reconnect when nothing (not even a ping) arrives this long."
    )
    relay_backoff_initial_seconds: float = Field(
        1.0, gt=0, description="First reconnect delay cap; doubles per failed attempt."
    )
    relay_backoff_max_seconds: float = Field(
        60.0, gt=0, description="Largest reconnect delay (full jitter: uniform in [0, cap])."
    )
    relay_auth_backoff_seconds: float = Field(
        3600.0,
        gt=0,
        description="Wait after Finnhub refuses the API key (HTTP 401/403 at the handshake, "
        "or an 'invalid API key' message) before trying that key again; reported once per wait.",
    )
    relay_connect_timeout_seconds: float = Field(
        10.0, gt=0, description="Websocket handshake timeout."
    )
    relay_batch_ms: int = Field(
        100, ge=1, le=5000, description="Window in which a symbol's trades become one message."
    )
    relay_batching: bool = Field(
        True, description="False sends one message per trade (only for comparison benchmarks)."
    )
    relay_webpubsub_client: Literal["rest", "sdk"] = Field(
        "rest",
        description="How the relay calls Web PubSub: `rest`, its lean keep-alive REST client "
        "(about an eighth of the CPU per message), or `sdk`, azure-messaging-webpubsubservice's "
        "pipeline. Both use the AccessKey or managed identity.",
    )
    relay_max_batch_trades: int = Field(
        1000,
        ge=1,
        description="Pending trades of one symbol beyond which the live feed conflates to "
        "the latest trade (while Web PubSub is slow).",
    )
    relay_max_delay_ms: int = Field(
        500,
        ge=1,
        description="While Web PubSub is slow, pending trades older than this conflate to "
        "each symbol's latest trade (bounds the live feed's lag).",
    )
    relay_all_ticks_group: bool = Field(
        True, description="Also publish every window to the all-ticks group `ticks._all`."
    )
    relay_archive_flush_seconds: float = Field(
        10.0, gt=0, description="Interval at which spooled trades are merged into the lake."
    )
    relay_stop_merge_seconds: float = Field(
        20.0,
        gt=0,
        description="On SIGTERM, how long the final merge into the lake may take; what is "
        "left stays in the spool for the next start. With the other steps of a stop (socket "
        "close 2 s, live-feed drain 3 s, quotes 3 s) keep it under the container's "
        "termination grace period (30 s by default).",
    )
    relay_spool_dir: Path | None = Field(
        None,
        description="Write-ahead spool of received trades (default LOCAL_DATA_DIR/relay-spool); "
        "mount a volume here so a crash loses nothing.",
    )
    relay_quote_seconds: float = Field(
        5.0, gt=0, description="Least interval between two `quotes` upserts of one symbol."
    )
    relay_metrics_seconds: float = Field(
        60.0, gt=0, description="Interval of the one-line metrics log."
    )
    relay_http_host: str = Field(
        "127.0.0.1", description="Bind address of /healthz, /readyz (container: 0.0.0.0)."
    )
    relay_http_port: int = Field(8080, ge=0, le=65535, description="Port of /healthz, /readyz.")
    relay_write_quotes: bool = Field(
        True, description="Upsert each symbol's latest trade into the `quotes` container."
    )
    relay_in_devhost: bool = Field(
        True,
        description="Local host only: run the relay inside `make run` (against the local "
        "replay server when FINNHUB_API_KEYS is empty).",
    )
    relay_replay_rate: float = Field(
        4.0, gt=0, description="Local replay server: trades per second per subscribed symbol."
    )


def load_relay_settings(**overrides: Any) -> RelaySettings:
    """Read the relay settings, raising `SettingsError` with a one-line message."""
    try:
        return RelaySettings(**overrides)
    except ValidationError as error:
        raise SettingsError(one_line_error(error, "relay setting")) from None


def relay_setting_names() -> list[str]:
    """Every environment variable the relay reads itself (README, Bicep)."""
    return sorted(name.upper() for name in RelaySettings.model_fields)
