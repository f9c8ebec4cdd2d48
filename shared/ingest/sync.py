"""Ingestion runs: one per provider (timers), the CoinGecko heartbeat, the sample, backfill.

Every run follows one path per symbol: fetch (quota-guarded, retried, raw bodies archived) →
merge bars into the lake → upsert the quote → record the sync state. A provider failure is
recorded and never deletes anything; quota exhaustion stops the run and leaves the rest for
the next one. `as_of` is the timer occurrence: rows get it as `ingested_at`, states as their
attempt time, so the same occurrence run twice leaves byte-identical partitions and equal
documents.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any, Literal

from croniter import croniter

from shared.config import Settings
from shared.errors import InvalidInput
from shared.ingest.bars import BarLake, MergeSummary, day_range
from shared.ingest.planner import run_allowance, runs_left_today, stalest_first
from shared.ingest.raw import RawArchive
from shared.ingest.state import PING, SYNC, ProviderPauses, QuoteBook, SeriesLocks, SyncStates
from shared.market.models import INTERVALS, MARKET_PROVIDERS, Bar, Quote
from shared.market.symbols import Symbol, parse_symbol, require
from shared.providers.alphavantage import AlphaVantageClient, PremiumRequired
from shared.providers.base import ClientHooks
from shared.providers.coingecko import CoinGeckoClient
from shared.providers.errors import (
    AuthRejected,
    DailyCapReached,
    InvalidSymbol,
    ProviderError,
    ProviderNotice,
    RateLimited,
    Throttled,
)
from shared.providers.http import RetryPolicy
from shared.providers.sample import DATASETS, SampleClient
from shared.providers.yahoo import YahooClient
from shared.quota import QuotaBook, QuotaExhausted, limits_from_settings
from shared.storage.documents import DocumentStore, Filter
from shared.watchlists.selection import select_watched

log = logging.getLogger("shared.ingest")

INTRADAY_PROVIDERS: tuple[str, ...] = ("alphavantage", "yahoo")
Status = Literal["ok", "no_data", "failed", "deferred"]
ERROR_KINDS: dict[type[ProviderError], str] = {
    QuotaExhausted: "quota",
    Throttled: "throttled",
    DailyCapReached: "daily_cap",
    RateLimited: "rate_limited",
    AuthRejected: "auth_rejected",
    PremiumRequired: "premium_required",
    ProviderNotice: "notice",
    InvalidSymbol: "invalid_symbol",
}
"""The first class an error is an instance of names its kind (subclasses come first)."""


def error_kind(error: ProviderError) -> str:
    for kind, name in ERROR_KINDS.items():
        if isinstance(error, kind):
            return name
    return type(error).__name__.lower()


def timer_as_of(schedule: str, now: datetime | None = None) -> datetime:
    """The occurrence of `schedule` (six-field NCRONTAB) a run at `now` belongs to."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    prev: datetime = croniter(
        schedule, now + timedelta(microseconds=1), second_at_beginning=True
    ).get_prev(datetime)
    return prev.astimezone(UTC)


@dataclass
class Outcome:
    symbol: str
    interval: str
    status: Status
    rows_in: int = 0
    rows_written: int = 0
    error: str | None = None
    retry_at: datetime | None = None
    refused: int = 0
    """Bars of this series whose merge was refused (raw over adjusted, a null adj_close)."""


@dataclass
class RunReport:
    """What one run did; `as_dict` is what timers log and the backfill endpoint returns."""

    provider: str
    as_of: datetime
    outcomes: list[Outcome] = field(default_factory=list)
    merge: MergeSummary = field(default_factory=MergeSummary)
    quotes_written: int = 0
    note: str | None = None
    retry_at: datetime | None = None

    def count(self, status: Status) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "asOf": self.as_of.isoformat(),
            "ok": self.count("ok"),
            "noData": self.count("no_data"),
            "failed": self.count("failed"),
            "deferred": self.count("deferred"),
            "rowsIn": self.merge.rows_in,
            "rowsWritten": self.merge.rows_written,
            "partitionsChanged": self.merge.partitions_changed,
            "bytesWritten": self.merge.bytes_written,
            "quotesWritten": self.quotes_written,
            "refused": self.merge.refused,
            "note": self.note,
            "retryAt": self.retry_at.isoformat() if self.retry_at else None,
            "outcomes": [
                {
                    "symbol": o.symbol,
                    "interval": o.interval,
                    "status": o.status,
                    "rowsIn": o.rows_in,
                    "rowsWritten": o.rows_written,
                    "error": o.error,
                    "retryAt": o.retry_at.isoformat() if o.retry_at else None,
                    "refused": o.refused,
                }
                for o in self.outcomes
            ],
        }


class _StopRun(Exception):
    """The provider (or our quota) refuses further calls in this run."""

    def __init__(self, reason: str, retry_at: datetime | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_at = retry_at


def _defer(
    report: RunReport, symbols: list[Symbol], interval: str, reason: str, retry_at: datetime | None
) -> None:
    """Record `symbols` as deferred (not tried in this run), with when to retry."""
    for symbol in symbols:
        report.outcomes.append(
            Outcome(symbol.text, interval, "deferred", error=reason, retry_at=retry_at)
        )


ProgressCallback = Callable[[Outcome], None]


class Ingestor:
    """Runs ingestion against the configured stores and providers."""

    def __init__(
        self,
        settings: Settings,
        *,
        bars: BarLake,
        raw: RawArchive,
        documents: DocumentStore,
        quota: QuotaBook | None = None,
    ) -> None:
        self.settings = settings
        self.bars = bars
        self.raw = raw
        self.documents = documents
        self.states = SyncStates(documents)
        self.quotes = QuoteBook(documents)
        self.locks = SeriesLocks(documents)
        self.pauses = ProviderPauses(documents)
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        """Wall-clock time for provider pauses (a provider's Retry-After is real time)."""
        self.quota = quota or QuotaBook(documents, limits_from_settings(settings))
        self.policy = RetryPolicy.from_settings(settings)

    @classmethod
    def from_settings(cls, settings: Settings) -> Ingestor:
        from shared.storage.factory import blob_store, document_store, lake

        return cls(
            settings,
            bars=BarLake(lake(settings)),
            raw=RawArchive(blob_store(settings.raw_container, settings)),
            documents=document_store(settings),
        )

    # --- clients ------------------------------------------------------------------------------
    def hooks(self, provider: str, *, max_wait: float = 0.0) -> ClientHooks:
        return ClientHooks(
            policy=self.policy,
            limiter_for=self.quota.limiter_for(provider, max_wait=max_wait),
            raw_sink=self.raw,
        )

    def alphavantage_client(self, *, max_wait: float = 0.0) -> AlphaVantageClient:
        return AlphaVantageClient(
            keys=self.settings.alphavantage_api_keys,
            base_url=self.settings.alphavantage_base_url,
            timeout=self.settings.http_timeout_seconds,
            hooks=self.hooks("alphavantage", max_wait=max_wait),
            premium=self.settings.alphavantage_premium,
        )

    def yahoo_client(self, *, max_wait: float = 0.0) -> YahooClient:
        return YahooClient(
            hooks=self.hooks("yahoo", max_wait=max_wait),
            timeout=self.settings.http_timeout_seconds,
            base_url=self.settings.yahoo_base_url,
        )

    def coingecko_client(self, *, max_wait: float = 0.0) -> CoinGeckoClient:
        return CoinGeckoClient(
            base_url=self.settings.coingecko_origin,
            timeout=self.settings.http_timeout_seconds,
            hooks=self.hooks("coingecko", max_wait=max_wait),
            api_key=self.settings.coingecko_api_key,
            key_kind=self.settings.coingecko_key_kind,
        )

    # --- symbols --------------------------------------------------------------------------------
    def tracked_symbols(self) -> list[Symbol]:
        """The watched symbols a run serves: DEFAULT_SYMBOLS, then every account's watchlists,
        chosen fairly up to INGEST_MAX_SYMBOLS (see `shared.watchlists.selection`), in that
        priority order."""
        selection = select_watched(
            self.documents, self.settings.default_symbols, self.settings.ingest_max_symbols
        )
        if selection.left_out:
            log.warning(
                "%d watched symbols over INGEST_MAX_SYMBOLS=%d are not synced this run",
                len(selection.left_out),
                self.settings.ingest_max_symbols,
            )
        return [parse_symbol(text) for text in selection.selected]

    def _states(self, provider: str, interval: str) -> dict[str, dict[str, Any]]:
        docs = self.documents.query_all(SYNC, provider, [Filter("interval", "=", interval)])
        return {str(doc["symbol"]): doc for doc in docs}

    # --- the per-symbol path ------------------------------------------------------------------
    def _sync_one(
        self,
        report: RunReport,
        provider: str,
        symbol: Symbol,
        interval: str,
        fetch: Callable[[], list[Bar]],
        *,
        quote: Callable[[list[Bar]], Quote | None] | None = None,
        window: tuple[datetime, datetime] | None = None,
    ) -> Outcome:
        as_of = report.as_of
        try:
            bars = fetch()
            fresh_quote = quote(bars) if quote is not None else None
        except QuotaExhausted as error:
            # Our own budget: no pause is recorded (the quota book knows when tokens return).
            retry_at = (
                self.clock() + timedelta(seconds=error.retry_after)
                if error.retry_after is not None
                else None
            )
            outcome = Outcome(
                symbol.text, interval, "deferred", error=error.detail, retry_at=retry_at
            )
            report.outcomes.append(outcome)
            raise _StopRun(error.detail, retry_at) from None
        except RateLimited as error:
            retry_at = self._pause_for(provider, error)
            self.states.deferred(
                provider,
                symbol.text,
                interval,
                as_of=as_of,
                reason=error.detail,
                kind=error_kind(error),
                retry_at=retry_at,
            )
            report.outcomes.append(
                Outcome(symbol.text, interval, "deferred", error=error.detail, retry_at=retry_at)
            )
            log.warning("%s asks us to wait (%s): %s", provider, error_kind(error), error.detail)
            raise _StopRun(error.detail, retry_at) from None
        except ProviderError as error:
            kind = error_kind(error)
            notice = error.notice if isinstance(error, ProviderNotice) else None
            self.states.failure(
                provider,
                symbol.text,
                interval,
                as_of=as_of,
                error=error.detail,
                kind=kind,
                notice=notice,
            )
            outcome = Outcome(symbol.text, interval, "failed", error=error.detail)
            report.outcomes.append(outcome)
            log.warning("%s %s %s failed: %s", provider, symbol, interval, error.detail)
            if isinstance(error, ProviderNotice | AuthRejected):
                raise _StopRun(error.detail) from None
            return outcome
        if window is not None:
            bars = [bar for bar in bars if window[0] <= bar.ts < window[1]]
        with self.locks.hold(symbol.text, interval):
            summary = self.bars.merge(bars, ingested_at=as_of)
        if summary.refused:
            log.warning(
                "%s %s %s: %d bar merges refused, first: %s",
                provider,
                symbol,
                interval,
                summary.refused,
                summary.refusals[0],
            )
        report.merge.add(summary)
        if fresh_quote is not None and self.quotes.upsert(fresh_quote):
            report.quotes_written += 1
        self.states.success(
            provider,
            symbol.text,
            interval,
            as_of=as_of,
            last_bar=summary.last_ts.get((symbol.text, interval)),
            refusal=summary.refusals[0] if summary.refusals else None,
        )
        outcome = Outcome(
            symbol.text,
            interval,
            "ok" if bars else "no_data",
            len(bars),
            summary.rows_written,
            refused=summary.refused,
        )
        report.outcomes.append(outcome)
        return outcome

    # --- provider pauses ----------------------------------------------------------------------
    def _pause_for(self, provider: str, error: RateLimited) -> datetime | None:
        """Pause `provider` for the time it named (Retry-After, a throttle's minute, a daily
        cap's reset); the time to retry, or None when it named none."""
        if error.retry_after is None:
            return None
        now = self.clock()
        until = now + timedelta(seconds=error.retry_after)
        self.pauses.pause(provider, until, error.detail, now=now)
        return until

    def paused(self, provider: str) -> tuple[datetime, str] | None:
        """(until, reason) while `provider` is paused."""
        return self.pauses.until(provider, self.clock())

    def _skip_paused(
        self, report: RunReport, provider: str, symbols: list[Symbol], interval: str = "1d"
    ) -> bool:
        """True (and every symbol recorded deferred) when `provider` is paused."""
        paused = self.paused(provider)
        if paused is None:
            return False
        until, reason = paused
        report.note = f"{provider} paused until {until.isoformat()}: {reason}"
        report.retry_at = until
        _defer(report, symbols, interval, report.note, until)
        return True

    @staticmethod
    def _stopped(
        report: RunReport, stop: _StopRun, rest: list[Symbol], interval: str = "1d"
    ) -> None:
        """The run stopped on `stop`: the symbols not tried yet are deferred, not failed."""
        tried = {o.symbol for o in report.outcomes}
        _defer(
            report, [s for s in rest if s.text not in tried], interval, stop.reason, stop.retry_at
        )
        report.retry_at = stop.retry_at

    # --- timers -------------------------------------------------------------------------------
    def sync_alphavantage(self, as_of: datetime, symbols: list[Symbol] | None = None) -> RunReport:
        """Daily bars for the stalest symbols, as many as today's budget allows this run."""
        report = RunReport("alphavantage", as_of)
        keys = self.settings.alphavantage_api_keys
        if not keys:
            report.note = "no ALPHAVANTAGE_API_KEYS set"
            return report
        candidates = [s for s in (symbols or self.tracked_symbols()) if s.alphavantage]
        buckets = [self.quota.state("alphavantage", key) for key in keys]
        runs_left = runs_left_today(self.settings.schedule_alphavantage, as_of)
        allowance = sum(run_allowance(b.day_left or 0, b.minute_left, runs_left) for b in buckets)
        states = self._states("alphavantage", "1d")
        plan = stalest_first(
            candidates,
            states,
            as_of,
            refresh=timedelta(hours=self.settings.ingest_daily_refresh_hours),
            limit=allowance,
        )
        if self._skip_paused(report, "alphavantage", plan):
            return report
        report.note = f"planned {len(plan)} of {len(candidates)} (allowance {allowance})"
        client = self.alphavantage_client()
        try:
            for symbol in plan:
                last_bar = states.get(symbol.text, {}).get("lastBar")
                full = not last_bar or as_of - datetime.fromisoformat(last_bar) > timedelta(
                    days=100
                )
                self._sync_one(
                    report,
                    "alphavantage",
                    symbol,
                    "1d",
                    partial(client.daily, symbol, full=full),
                )
        except _StopRun as stop:
            report.note = f"{report.note}; stopped: {stop}"
            self._stopped(report, stop, plan)
        finally:
            client.close()
        return report

    def sync_yahoo(self, as_of: datetime, symbols: list[Symbol] | None = None) -> RunReport:
        """Recent daily bars and the latest quote of every tracked symbol."""
        report = RunReport("yahoo", as_of)
        if not self.settings.yahoo_enabled:
            report.note = "YAHOO_ENABLED is false"
            return report
        tracked = symbols or self.tracked_symbols()
        if self._skip_paused(report, "yahoo", tracked):
            return report
        client = self.yahoo_client()
        states = self._states("yahoo", "1d")
        default_start = as_of.date() - timedelta(days=self.settings.ingest_history_days)
        try:
            for symbol in tracked:
                last_bar = states.get(symbol.text, {}).get("lastBar")
                start = (
                    datetime.fromisoformat(last_bar).date() - timedelta(days=5)
                    if last_bar
                    else default_start
                )
                end = as_of.date() + timedelta(days=1)
                self._sync_one(
                    report,
                    "yahoo",
                    symbol,
                    "1d",
                    partial(client.history, symbol, "1d", start=start, end=end),
                    quote=partial(client.quote, symbol),
                )
        except _StopRun as stop:
            report.note = f"stopped: {stop}"
            self._stopped(report, stop, tracked)
        return report

    def sync_coingecko(self, as_of: datetime, symbols: list[Symbol] | None = None) -> RunReport:
        """Quotes of every tracked coin in one call, then each coin's complete recent days."""
        report = RunReport("coingecko", as_of)
        coins = [s for s in (symbols or self.tracked_symbols()) if s.coingecko]
        if not coins:
            report.note = "no tracked crypto symbols with a CoinGecko id"
            return report
        if self._skip_paused(report, "coingecko", coins):
            return report
        client = self.coingecko_client()
        try:
            try:
                quotes = client.simple_price(coins)
            except QuotaExhausted as error:
                report.note = f"stopped: {error.detail}"
                return report
            except RateLimited as error:
                retry_at = self._pause_for("coingecko", error)
                report.note = f"stopped: simple/price: {error.detail}"
                self._stopped(report, _StopRun(error.detail, retry_at), coins)
                return report
            except ProviderError as error:
                report.note = f"simple/price failed: {error.detail}"
                quotes = []
            for quote in quotes:
                if self.quotes.upsert(quote):
                    report.quotes_written += 1
            for symbol in coins:
                self._sync_one(
                    report, "coingecko", symbol, "1d", partial(client.daily_ohlc, symbol, 30)
                )
        except _StopRun as stop:
            report.note = f"stopped: {stop}"
            self._stopped(report, stop, coins)
        finally:
            client.close()
        return report

    def ping_coingecko(self, as_of: datetime) -> RunReport:
        """The CoinGecko heartbeat, recorded as the sync state of the pseudo-symbol `_ping`."""
        report = RunReport("coingecko", as_of)
        paused = self.paused("coingecko")
        if paused is not None:
            report.note = f"coingecko paused until {paused[0].isoformat()}: {paused[1]}"
            report.retry_at = paused[0]
            return report
        client = self.coingecko_client()
        try:
            answer = client.ping()
        except RateLimited as error:
            report.retry_at = self._pause_for("coingecko", error)
            report.outcomes.append(
                Outcome(PING, "-", "deferred", error=error.detail, retry_at=report.retry_at)
            )
            return report
        except ProviderError as error:
            self.states.failure(
                "coingecko", PING, "-", as_of=as_of, error=error.detail, kind=error_kind(error)
            )
            report.outcomes.append(Outcome(PING, "-", "failed", error=error.detail))
            return report
        finally:
            client.close()
        self.states.success("coingecko", PING, "-", as_of=as_of, last_bar=None)
        report.outcomes.append(Outcome(PING, "-", "ok"))
        report.note = answer
        return report

    def sample_enabled(self) -> bool:
        return self.settings.sample_data_enabled and not self.settings.alphavantage_api_keys

    def sync_sample(self, as_of: datetime, *, force: bool = False) -> RunReport:
        """The bundled real datasets through the same merge path (see shared.providers.sample)."""
        report = RunReport("sample", as_of)
        if not (force or self.sample_enabled()):
            report.note = "sample data is off (SAMPLE_DATA_ENABLED=false or provider keys set)"
            return report
        client = SampleClient()
        for dataset in DATASETS:
            symbol = parse_symbol(dataset.symbol)
            try:
                client.daily(symbol, end=date(1900, 1, 1))
            except (ImportError, OSError) as error:
                report.outcomes.append(Outcome(symbol.text, "1d", "failed", error=str(error)))
                continue
            self._sync_one(
                report,
                "sample",
                symbol,
                "1d",
                partial(client.daily, symbol),
                quote=partial(client.quote, symbol),
            )
        return report

    # --- backfill -----------------------------------------------------------------------------
    def default_provider(self, symbol: Symbol) -> str:
        if symbol.text in {d.symbol for d in DATASETS} and self.sample_enabled():
            return "sample"
        if self.settings.alphavantage_api_keys and symbol.alphavantage:
            return "alphavantage"
        if self.settings.yahoo_enabled:
            return "yahoo"
        if symbol.coingecko:
            return "coingecko"
        return "alphavantage"

    def intraday_provider(self, symbol: Symbol) -> str:
        if (
            self.settings.alphavantage_api_keys
            and symbol.alphavantage
            and symbol.kind not in ("crypto", "fx")
        ):
            return "alphavantage"
        return "yahoo"

    def backfill(
        self,
        symbols: list[Symbol],
        start: date,
        end: date,
        *,
        interval: str = "1d",
        provider: str | None = None,
        as_of: datetime | None = None,
        max_wait: float = 0.0,
        progress: ProgressCallback | None = None,
    ) -> RunReport:
        """History of `interval` bars for [start, end] (inclusive) through the same merge path
        as the timers. Intraday bars come from Alpha Vantage or Yahoo, as far back as each
        serves them (Yahoo: about 60 days, 1m only 7; Alpha Vantage: its latest month).

        `max_wait` is how long a call may wait for a quota token (the CLI waits; the HTTP
        endpoint does not, and reports the rest as deferred)."""
        as_of = as_of or datetime.now(UTC).replace(microsecond=0)
        start, end = backfill_window(start, end)
        if interval not in INTERVALS:
            raise InvalidInput(f"interval {interval!r} is not one of {', '.join(INTERVALS)}")
        if interval != "1d" and provider not in (None, *INTRADAY_PROVIDERS):
            raise InvalidInput(
                f"{provider} has no {interval} bars; use {' or '.join(INTRADAY_PROVIDERS)}"
            )
        if provider in MARKET_PROVIDERS:
            for symbol in symbols:
                require(symbol, provider)
        report = RunReport(provider or "auto", as_of)
        window = day_range(start, end)
        clients: dict[str, Any] = {}

        def client(name: str) -> Any:
            if name not in clients:
                clients[name] = {
                    "alphavantage": lambda: self.alphavantage_client(max_wait=max_wait),
                    "yahoo": lambda: self.yahoo_client(max_wait=max_wait),
                    "coingecko": lambda: self.coingecko_client(max_wait=max_wait),
                    "sample": SampleClient,
                }[name]()
            return clients[name]

        def fetcher(name: str, symbol: Symbol) -> Callable[[], list[Bar]]:
            if interval != "1d" and name == "alphavantage":
                return lambda: client(name).intraday(symbol, interval, full=True)
            if interval != "1d":
                return lambda: client(name).history(
                    symbol, interval, start=start, end=end + timedelta(days=1)
                )
            if name == "alphavantage":
                return lambda: client(name).daily(symbol, full=True)
            if name == "yahoo":
                return lambda: client(name).history(
                    symbol, "1d", start=start, end=end + timedelta(days=1)
                )
            if name == "coingecko":
                days = min(max((date.today() - start).days + 1, 1), 30)
                return lambda: client(name).daily_ohlc(symbol, days)
            return lambda: client(name).daily(symbol, start=start, end=end + timedelta(days=1))

        stopped: dict[str, _StopRun] = {}
        try:
            for symbol in symbols:
                name = provider or (
                    self.default_provider(symbol)
                    if interval == "1d"
                    else self.intraday_provider(symbol)
                )
                paused = self.paused(name) if name != "sample" else None
                if name in stopped:
                    outcome = Outcome(
                        symbol.text,
                        interval,
                        "deferred",
                        error=stopped[name].reason,
                        retry_at=stopped[name].retry_at,
                    )
                    report.outcomes.append(outcome)
                elif paused is not None:
                    outcome = Outcome(
                        symbol.text,
                        interval,
                        "deferred",
                        error=f"{name} paused until {paused[0].isoformat()}: {paused[1]}",
                        retry_at=paused[0],
                    )
                    report.outcomes.append(outcome)
                else:
                    try:
                        outcome = self._sync_one(
                            report, name, symbol, interval, fetcher(name, symbol), window=window
                        )
                    except _StopRun as stop:
                        stopped[name] = stop
                        outcome = report.outcomes[-1]
                if progress is not None:
                    progress(outcome)
        finally:
            for value in clients.values():
                if hasattr(value, "close"):
                    value.close()
        return report


EARLIEST_BACKFILL = date(1900, 1, 1)


def backfill_window(start: date, end: date, today: date | None = None) -> tuple[date, date]:
    """A backfill's [start, end] with `end` clamped to today (UTC); `InvalidInput` if
    start is after that or before 1900."""
    end = min(end, today or datetime.now(UTC).date())
    if start > end:
        raise InvalidInput(f"start {start} must not be after end {end} (end is at most today)")
    if start < EARLIEST_BACKFILL:
        raise InvalidInput(f"start {start} is before {EARLIEST_BACKFILL}; no market has data")
    return start, end


def backfill_request_symbols(texts: str | list[str], limit: int = 100) -> list[Symbol]:
    """Parse the symbols of a backfill request (at most `limit`)."""
    from shared.market.symbols import parse_symbols

    symbols = parse_symbols(texts)
    if not symbols:
        raise InvalidInput("give at least one symbol, e.g. AAPL,MSFT")
    if len(symbols) > limit:
        raise InvalidInput(f"at most {limit} symbols per backfill; got {len(symbols)}")
    return symbols


def backfill_report(
    symbols: list[Symbol], start: date, end: date, interval: str, provider: str | None
) -> dict[str, Any]:
    """`Ingestor.backfill` with this process's settings, as the report's JSON: what
    `POST /api/ops/backfill` runs in the request worker process (`shared.offload`), since
    parsing and merging years of bars is CPU work that would hold the host's event loop.
    Series leases and quotas live in the document store, so they hold across processes."""
    from shared.config import get_settings

    ingestor = Ingestor.from_settings(get_settings())
    report = ingestor.backfill(symbols, start, end, interval=interval, provider=provider)
    return report.as_dict()
