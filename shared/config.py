"""Typed settings for the whole suite, read from app settings / the environment.

Every setting is an environment variable of the same name (upper case). Locally the
embedded defaults need none of them; in Azure `bicep/` provisions each one. A missing or
malformed value raises `SettingsError` whose message is one line naming the setting and
where to set it.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

WHERE = (
    "set it in the environment, local.settings.json 'Values', or the Function App's app settings"
)


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message is one line naming it."""


def _split_commas(value: Any) -> Any:
    """A comma-separated (or JSON list) environment value as a list."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


CommaList = Annotated[list[str], NoDecode, BeforeValidator(_split_commas)]

Environment = Literal["local", "ci", "dev", "prod"]
DEV_AUTH_ENVIRONMENTS = ("local", "ci")

# Variables the Azure platform itself sets in every process it runs (an app cannot unset them):
# App Service / Functions, "Environment variables and app settings reference" (WEBSITE_SITE_NAME,
# WEBSITE_INSTANCE_ID, WEBSITE_OWNER_NAME: read-only, set by the platform); Container Apps,
# "Manage environment variables" > built-in variables (CONTAINER_APP_NAME). Not
# FUNCTIONS_WORKER_RUNTIME: local.settings.json sets it on every developer machine too.
AZURE_PLATFORM_VARIABLES = (
    "WEBSITE_SITE_NAME",
    "WEBSITE_INSTANCE_ID",
    "WEBSITE_OWNER_NAME",
    "CONTAINER_APP_NAME",
)


def azure_platform_variable() -> str | None:
    """The first Azure platform variable set in this process (None off Azure)."""
    return next((name for name in AZURE_PLATFORM_VARIABLES if os.environ.get(name)), None)


def _default_environment() -> Environment:
    """'local' on a developer machine; 'prod' (never 'local') when Azure runs this process."""
    return "prod" if azure_platform_variable() else "local"


class Settings(BaseSettings):
    """All settings of the suite. Field names are the environment variable names."""

    # env_ignore_empty: an empty app setting means "use the default" (Bicep cannot unset one).
    model_config = SettingsConfigDict(
        case_sensitive=False, extra="ignore", frozen=True, env_ignore_empty=True
    )

    # --- identity of the deployment -------------------------------------------------------
    app_version: str = Field("0.1.0", description="Version reported by /api/health.")
    environment: Environment = Field(
        default_factory=_default_environment,
        description="Deployment stage; local/ci allow the dev auth issuer. Unset: 'local', but "
        "'prod' when an Azure platform variable (WEBSITE_SITE_NAME, ...) is set.",
    )

    # --- storage: blobs -------------------------------------------------------------------
    blob_backend: Literal["local", "azure"] = Field(
        "local", description="'local' keeps blobs under LOCAL_DATA_DIR; 'azure' uses Blob Storage."
    )
    local_data_dir: Path = Field(
        Path(".data"), description="Root folder of the embedded blob store and SQLite file."
    )
    azure_storage_connection_string: str | None = Field(
        None, description="Blob connection string (Azurite or a key); prefer the account URL."
    )
    azure_storage_account_url: str | None = Field(
        None, description="https://<account>.blob.core.windows.net, used with managed identity."
    )
    lake_container: str = Field("lake", description="Container holding the Parquet lake.")
    raw_container: str = Field("raw", description="Container holding raw provider responses.")
    results_container: str = Field("results", description="Container holding backtest results.")
    audit_container: str = Field(
        "audit", description="Container holding the append-only audit log."
    )
    local_signing_key: str | None = Field(
        None,
        description="HMAC key for signed read URLs of the local blob store; unset: a random "
        "key generated on first run in LOCAL_DATA_DIR/local-signing.key.",
    )
    public_base_url: str = Field(
        "http://127.0.0.1:7071",
        description="Base URL of this app, used in signed local blob URLs and status links.",
    )

    # --- storage: documents ---------------------------------------------------------------
    document_backend: Literal["sqlite", "cosmos"] = Field(
        "sqlite", description="'sqlite' is the embedded store; 'cosmos' uses Azure Cosmos DB."
    )
    sqlite_path: Path | None = Field(
        None, description="SQLite file; defaults to LOCAL_DATA_DIR/documents.sqlite3."
    )
    cosmos_endpoint: str | None = Field(None, description="Cosmos DB account endpoint URL.")
    cosmos_key: str | None = Field(
        None, description="Cosmos key (emulator only); without it managed identity is used."
    )
    cosmos_database: str = Field("tradingjournal", description="Cosmos DB database name.")
    cosmos_endpoint_discovery: bool = Field(
        True, description="Set false for emulators that advertise unreachable endpoints."
    )

    # --- market data ----------------------------------------------------------------------
    default_symbols: CommaList = Field(
        default_factory=lambda: ["AAPL", "MSFT", "SPY", "BTC-USD"],
        description="Symbols always ingested and relayed, besides every watchlist's.",
    )
    alphavantage_api_keys: CommaList = Field(
        default_factory=list, description="Alpha Vantage keys, comma-separated; rotated."
    )
    alphavantage_base_url: str = Field(
        "https://www.alphavantage.co", description="Alpha Vantage API origin."
    )
    alphavantage_calls_per_minute: int = Field(5, ge=1, description="Per-key minute quota.")
    alphavantage_calls_per_day: int = Field(25, ge=1, description="Per-key daily quota.")
    alphavantage_premium: bool = Field(
        False, description="True if the keys allow TIME_SERIES_DAILY_ADJUSTED."
    )
    yahoo_enabled: bool = Field(True, description="Pull Yahoo Finance through yfinance.")
    yahoo_calls_per_minute: int = Field(30, ge=1, description="Self-imposed Yahoo request rate.")
    coingecko_api_key: str | None = Field(None, description="CoinGecko key (demo or pro).")
    coingecko_key_kind: Literal["demo", "pro"] = Field(
        "demo", description="Which CoinGecko header and origin the key belongs to."
    )
    coingecko_base_url: str | None = Field(
        None, description="CoinGecko origin; defaults from COINGECKO_KEY_KIND."
    )
    coingecko_calls_per_minute: int = Field(30, ge=1, description="CoinGecko minute quota.")
    sample_data_enabled: bool = Field(
        True, description="Ingest the bundled real daily prices when no provider key is set."
    )
    relay_enabled: bool = Field(
        True,
        description="False when the deployment runs no Finnhub relay (no Finnhub keys); "
        "provider health then shows finnhub as disabled and says why.",
    )
    http_timeout_seconds: float = Field(20.0, gt=0, description="Provider HTTP timeout.")
    yahoo_base_url: str | None = Field(
        None, description="Redirect yfinance's Yahoo origins here (tests, proxies); unset = Yahoo."
    )
    provider_retry_attempts: int = Field(4, ge=1, description="Tries per provider request.")
    provider_retry_wait_initial: float = Field(
        0.5, ge=0, description="First backoff (s) on 5xx/timeouts; doubles, with jitter."
    )
    provider_retry_wait_max: float = Field(8.0, ge=0, description="Largest backoff (s).")
    provider_retry_after_max: float = Field(
        30.0, ge=0, description="Longest Retry-After (s) honoured in-call; longer = give up."
    )
    ingest_daily_refresh_hours: float = Field(
        12.0, gt=0, description="A symbol's daily bars synced this recently are not re-fetched."
    )
    ingest_history_days: int = Field(
        120, ge=1, description="Days of daily bars fetched for a symbol with no sync state yet."
    )
    bars_max_rows: int = Field(
        100_000,
        ge=1,
        description="Most bars GET /api/bars returns at once; a larger range is refused (422) "
        "with the start/end that fit.",
    )

    # --- schedules (six-field NCRONTAB) -----------------------------------------------------
    schedule_alphavantage: str = Field("0 */5 * * * *", description="Alpha Vantage sync.")
    schedule_yahoo: str = Field("0 7 * * * *", description="Yahoo Finance sync.")
    schedule_coingecko: str = Field("0 */3 * * * *", description="CoinGecko sync.")
    schedule_coingecko_ping: str = Field("30 */5 * * * *", description="CoinGecko heartbeat.")
    schedule_sample: str = Field("0 0 */6 * * *", description="Offline sample-data sync.")
    schedule_paper_matching: str = Field("*/15 * * * * *", description="Paper order matching.")

    # --- paper trading ----------------------------------------------------------------------
    paper_slippage_bps: float = Field(
        5.0, ge=0, le=1000, description="Market/stop fills: last price worse by this (bps)."
    )
    paper_default_starting_cash: float = Field(
        100_000.0, gt=0, description="Starting cash of a paper account created without one."
    )
    paper_max_quote_age_seconds: float = Field(
        900.0,
        gt=0,
        description="Quotes older than this (s) neither fill nor trigger paper orders; a market "
        "order with none fresher is refused (422).",
    )
    idempotency_ttl_seconds: int = Field(
        86_400, ge=60, description="How long an Idempotency-Key's first result is replayed."
    )
    audit_denials_per_minute: int = Field(
        120, ge=1, description="Sign-in denials written to the audit log per minute and process."
    )

    # --- fair share of watchlists (per account) and of the shared symbol capacity ----------
    watchlists_per_account: int = Field(
        20, ge=1, le=1000, description="Most watchlists one account may keep (more: 422)."
    )
    watchlist_symbols_per_account: int = Field(
        100,
        ge=1,
        le=10_000,
        description="Most distinct symbols across all of one account's watchlists (more: 422).",
    )
    ingest_max_symbols: int = Field(
        200,
        ge=1,
        le=100_000,
        description="Most watched symbols the ingestion timers consider per run, chosen fairly "
        "across accounts (defaults first, then by accounts watching, then round-robin); the "
        "rest is listed under `watched` in GET /api/health/providers.",
    )

    # --- live feed ------------------------------------------------------------------------
    webpubsub_connection_string: str | None = Field(
        None, description="Web PubSub connection string (local stand-in or a key)."
    )
    webpubsub_endpoint: str | None = Field(
        None, description="https://<name>.webpubsub.azure.com, used with managed identity."
    )
    webpubsub_hub: str = Field("ticks", description="Web PubSub hub of the live feed.")
    feed_token_minutes: int = Field(10, ge=1, le=1440, description="Client URL lifetime.")

    # --- auth -----------------------------------------------------------------------------
    auth_issuers: CommaList = Field(
        default_factory=list,
        description="Trusted OIDC issuer URLs (comma-separated); JWKS from their discovery.",
    )
    auth_audience: str = Field("api://tradingjournal", description="Expected 'aud' claim.")
    auth_role_claim: str = Field("roles", description="Claim holding viewer/trader/admin.")
    auth_account_claim: str = Field("sub", description="Claim naming the account.")
    auth_clock_skew_seconds: int = Field(60, ge=0, le=600, description="Allowed clock skew.")
    dev_auth_enabled: bool | None = Field(
        None,
        description="Trust the local dev issuer; defaults to true when ENVIRONMENT is local/ci; "
        "true anywhere else stops start-up.",
    )
    dev_issuer: str | None = Field(
        None,
        description="The dev issuer's exact 'iss' (scheme, host, port, path); defaults to "
        "PUBLIC_BASE_URL/dev-issuer.",
    )
    dev_issuer_key_file: Path | None = Field(
        None, description="Dev issuer RSA key (PEM); defaults to LOCAL_DATA_DIR/dev-issuer-key.pem."
    )
    auth_jwks_ttl_seconds: int = Field(
        3600, ge=1, description="How long an issuer's fetched JWKS is trusted before refetching."
    )
    auth_jwks_refetch_seconds: int = Field(
        30, ge=0, description="Minimum gap between JWKS refetches triggered by an unknown kid."
    )

    # --- backtests ------------------------------------------------------------------------
    backtest_max_combinations: int = Field(
        50_000,
        ge=1,
        description="Most valid combinations (after relations such as fast < slow) times "
        "symbols a run may sweep.",
    )
    backtest_max_axis_values: int = Field(
        10_000,
        ge=1,
        description="Most values one grid axis may have (a range is sized before it is expanded).",
    )
    backtest_max_grid_size: int = Field(
        200_000,
        ge=1,
        description="Most combinations a grid may have before relations remove any: the "
        "product of its axes' sizes, computed without expanding them.",
    )
    backtest_chunk_target_seconds: float = Field(3.0, gt=0, description="Target chunk duration.")
    backtest_max_chunks_per_orchestration: int = Field(
        64, ge=1, description="Above this a sweep fans out through sub-orchestrations."
    )
    backtest_lazy_files: bool = Field(
        True,
        description="A sweep completes on its summary (leaderboards, digests) and writes the "
        "files behind its result URLs (leaderboard.json, metrics, equity, trades, heatmap, "
        "chart) when its results are first asked for; false: the aggregate writes them "
        "before the run completes.",
    )
    backtest_files_lease_seconds: float = Field(
        30.0,
        ge=5,
        le=600,
        description="How long a results request's lease on writing a run's lazy result files "
        "(BACKTEST_LAZY_FILES) lasts; its holder renews it every third of that while it "
        "writes, so one that died blocks the files at most this long.",
    )
    backtest_files_wait_seconds: float = Field(
        5.0,
        ge=0,
        le=30,
        description="How long a results request waits for another process writing the "
        "run's lazy result files before it answers 503 with Retry-After.",
    )
    backtest_inline_small_sweeps: bool = Field(
        True,
        description="A sweep of one chunk (no walk-forward) runs its chunk and its fan-in "
        "inside the plan activity: one activity instead of three.",
    )
    backtest_workers: int | None = Field(
        None, description="Local host activity processes; defaults to one per core."
    )
    backtest_fault_injection: str | None = Field(
        None,
        description="Test only, honoured when ENVIRONMENT is local/ci: 'once:N' / 'always:N' "
        "make chunk N fail its first / every attempt, 'delay:S' slows every chunk by S s.",
    )

    # --- execution drift ------------------------------------------------------------------
    drift_sync_max_bars: int = Field(
        20_000,
        ge=0,
        description="A drift report whose scope can hold more bars than this (symbols x days "
        "x bars per day) runs fanned out per symbol (202 + status URL); smaller ones answer "
        "at once (200).",
    )
    drift_active_runs_per_account: int = Field(
        2,
        ge=1,
        description="Most fanned-out drift runs one journal may have Pending or Running (started "
        "in the last hour) at once; another is refused (422, the limit named).",
    )
    broker_account_terms_per_account: int = Field(
        100,
        ge=1,
        le=10_000,
        description="Most broker accounts one journal may state execution terms for; terms for "
        "another are refused (422, the limit named).",
    )

    # --- observability --------------------------------------------------------------------
    applicationinsights_connection_string: str | None = Field(
        None, description="Turns on OpenTelemetry export to Application Insights."
    )
    applicationinsights_authentication_string: str | None = Field(
        None,
        description="'ClientId=<identity client id>;Authorization=AAD' when Application Insights "
        "accepts Entra ID tokens only (local auth off).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level."
    )

    @model_validator(mode="after")
    def _check_backends(self) -> Settings:
        if self.blob_backend == "azure" and not (
            self.azure_storage_connection_string or self.azure_storage_account_url
        ):
            raise ValueError(
                "BLOB_BACKEND=azure needs AZURE_STORAGE_CONNECTION_STRING or "
                "AZURE_STORAGE_ACCOUNT_URL"
            )
        if self.document_backend == "cosmos" and not self.cosmos_endpoint:
            raise ValueError("DOCUMENT_BACKEND=cosmos needs COSMOS_ENDPOINT")
        if self.dev_auth_enabled and self.environment not in DEV_AUTH_ENVIRONMENTS:
            raise ValueError(
                f"DEV_AUTH_ENABLED=true is refused with ENVIRONMENT={self.environment}: the dev "
                "token issuer is for local/ci only (unset DEV_AUTH_ENABLED)"
            )
        return self

    @property
    def documents_path(self) -> Path:
        return self.sqlite_path or self.local_data_dir / "documents.sqlite3"

    @property
    def blob_signing_key(self) -> str:
        """LOCAL_SIGNING_KEY, else this install's own key (generated on first use)."""
        if self.local_signing_key:
            return self.local_signing_key
        from shared.local_secrets import install_secret

        return install_secret(self.local_data_dir / "local-signing.key")

    @property
    def webpubsub_local_key(self) -> str:
        """The AccessKey of the local Web PubSub stand-in: this install's own, generated on
        first use (the stand-in and every local sender read the same file)."""
        from shared.local_secrets import install_secret

        return install_secret(self.local_data_dir / "webpubsub-access.key")

    @property
    def dev_issuer_key_path(self) -> Path:
        return self.dev_issuer_key_file or self.local_data_dir / "dev-issuer-key.pem"

    @property
    def dev_issuer_url(self) -> str:
        """The dev issuer's 'iss', matched exactly by the token validator."""
        return self.dev_issuer or self.public_base_url.rstrip("/") + "/dev-issuer"

    @property
    def dev_auth(self) -> bool:
        if self.dev_auth_enabled is None:
            return self.environment in ("local", "ci")
        return self.dev_auth_enabled

    @property
    def coingecko_origin(self) -> str:
        if self.coingecko_base_url:
            return self.coingecko_base_url
        if self.coingecko_key_kind == "pro":
            return "https://pro-api.coingecko.com/api/v3"
        return "https://api.coingecko.com/api/v3"


def one_line_error(error: ValidationError, kind: str = "setting") -> str:
    """A settings validation error as one line naming each bad setting and where to set it."""
    problems = []
    for item in error.errors():
        name = ".".join(str(p) for p in item["loc"]).upper() or "settings"
        message = item["msg"].removeprefix("Value error, ")
        value = item.get("input")
        shown = f" (got {value!r})" if isinstance(value, str | int | float) and name else ""
        problems.append(f"{name}: {message}{shown}" if item["loc"] else message)
    return f"invalid {kind} " + "; ".join(problems) + f" — {WHERE}"


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment, raising `SettingsError` with a one-line message."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise SettingsError(one_line_error(error)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call `get_settings.cache_clear()`)."""
    return load_settings()


def setting_names() -> list[str]:
    """Every environment variable name the suite reads (for the Bicep coverage test)."""
    return sorted(name.upper() for name in Settings.model_fields)
