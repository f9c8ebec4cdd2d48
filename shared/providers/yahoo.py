"""Yahoo Finance through yfinance: daily/intraday history and quotes, normalized to UTC.

yfinance talks to Yahoo through a session object; `YahooSession` is that seam. It is a
curl_cffi session (what yfinance prefers) that (a) optionally sends Yahoo's origins to another
base URL (tests, proxies), (b) applies the quota limiter and archives raw chart bodies, and
(c) classifies chart answers (429, 5xx, 404, timeouts, malformed JSON) into the suite's
provider errors before yfinance can turn them into an empty frame.
"""

from __future__ import annotations

import json
import tempfile
import threading
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import yfinance as yf
from curl_cffi import requests as curl_requests
from yfinance.config import YfConfig
from yfinance.data import YfData
from yfinance.exceptions import (
    YFException,
    YFPricesMissingError,
    YFRateLimitError,
    YFTzMissingError,
)

from shared.market.models import INTRADAY, Bar, Quote
from shared.market.symbols import Symbol
from shared.providers.base import ClientHooks, day_start
from shared.providers.errors import (
    BadResponse,
    InvalidSymbol,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from shared.providers.http import RawResponse, retry_after_seconds

PROVIDER = "yahoo"
YAHOO_INTERVALS = {"1m": "1m", "5m": "5m", "15m": "15m", "30m": "30m", "60m": "60m", "1d": "1d"}
QUOTE_KEYS = ("regularMarketPrice", "regularMarketTime", "regularMarketVolume", "previousClose")
_LOCK = threading.Lock()
_CONFIGURED = False


def _configure_yfinance() -> None:
    """Raise instead of logging-and-returning-empty; keep yfinance's caches in a temp dir."""
    global _CONFIGURED
    if _CONFIGURED:
        return
    YfConfig.debug.hide_exceptions = False
    YfConfig.network.retries = 0
    yf.set_tz_cache_location(str(Path(tempfile.gettempdir()) / "tradingjournal-yfinance"))
    _CONFIGURED = True


class YahooSession(curl_requests.Session):
    """The session yfinance uses; see the module docstring."""

    def __init__(self, base_url: str | None = None) -> None:
        super().__init__(impersonate="chrome")
        self.base_url = base_url.rstrip("/") if base_url else None
        self.hooks: ClientHooks | None = None
        self.what = "chart"

    def _target(self, url: str) -> str:
        if not self.base_url:
            return url
        parts = urlsplit(url)
        if not parts.hostname or not parts.hostname.endswith("yahoo.com"):
            return url
        return self.base_url + (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        is_chart = "/v8/finance/chart/" in url
        if is_chart and self.hooks is not None:
            self.hooks.limiter_for("")()
        try:
            response = super().request(method, self._target(url), *args, **kwargs)  # type: ignore[arg-type]
        except curl_requests.exceptions.Timeout as error:
            if is_chart:
                raise ProviderUnavailable(PROVIDER, f"timed out: {error}") from None
            raise
        except curl_requests.exceptions.RequestException as error:
            if is_chart:
                raise ProviderUnavailable(PROVIDER, f"connection failed: {error}") from None
            raise
        if is_chart:
            self._check_chart(url, kwargs.get("params") or {}, response)
        return response

    def _check_chart(self, url: str, params: dict[str, Any], response: Any) -> None:
        status = int(response.status_code)
        if self.hooks is not None and self.hooks.raw_sink is not None:
            shown = {k: str(v) for k, v in params.items() if k != "crumb"}
            shown["ticker"] = url.rsplit("/", 1)[-1]
            self.hooks.raw_sink(RawResponse(PROVIDER, self.what, shown, status, response.content))
        if status == 429:
            raise RateLimited(
                PROVIDER,
                "HTTP 429 from chart",
                retry_after_seconds(response.headers.get("Retry-After")),
            )
        if status >= 500:
            raise ProviderUnavailable(PROVIDER, f"HTTP {status} from chart")
        if status in (400, 404, 422):
            raise InvalidSymbol(PROVIDER, f"HTTP {status}: {response.text[:200]}")
        if status >= 400:
            raise ProviderError(PROVIDER, f"HTTP {status} from chart")
        try:
            json.loads(response.content)
        except ValueError as error:
            raise BadResponse(PROVIDER, f"malformed JSON from chart: {error}") from None


_SESSIONS: dict[str | None, YahooSession] = {}


def _session_for(base_url: str | None) -> YahooSession:
    with _LOCK:
        if base_url not in _SESSIONS:
            _SESSIONS[base_url] = YahooSession(base_url)
        return _SESSIONS[base_url]


def frame_to_bars(frame: pd.DataFrame, symbol: Symbol, interval: str) -> list[Bar]:
    """Bars from a yfinance history frame (auto_adjust=False): UTC stamps, rows without a
    close dropped. Daily rows are stamped 00:00 UTC of the exchange-local session date."""
    bars = []
    for stamp, row in frame.iterrows():
        close = row.get("Close")
        if close is None or pd.isna(close):
            continue
        ts = pd.Timestamp(stamp)
        if interval == "1d":
            when = day_start(ts.date())
        else:
            when = (
                ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
            ).to_pydatetime()
        volume = row.get("Volume")
        adj = row.get("Adj Close")
        bars.append(
            Bar(
                symbol=symbol.text,
                interval=interval,
                ts=when,
                open=float(row["Open"]),
                high=float(row["High"]),
                low=float(row["Low"]),
                close=float(close),
                volume=None if volume is None or pd.isna(volume) else float(volume),
                adj_close=None if adj is None or pd.isna(adj) else float(adj),
                source=PROVIDER,
                adjustment="split",
            )
        )
    return bars


def quote_from_meta(meta: dict[str, Any], symbol: Symbol, bars: list[Bar]) -> Quote | None:
    """The latest quote from the chart's metadata; change against the previous session."""
    price = meta.get("regularMarketPrice")
    if price is None:
        return None
    when = meta.get("regularMarketTime")
    if isinstance(when, int | float):
        ts = datetime.fromtimestamp(when, tz=UTC)
    elif isinstance(when, datetime):
        ts = pd.Timestamp(when).tz_convert("UTC").to_pydatetime()
    else:
        return None
    session_day: date = pd.Timestamp(when).date() if isinstance(when, datetime) else ts.date()
    previous = [bar for bar in bars if bar.interval == "1d" and bar.ts.date() < session_day]
    prev_close = previous[-1].close if previous else meta.get("previousClose")
    change = float(price) - float(prev_close) if prev_close else None
    return Quote(
        symbol=symbol.text,
        price=float(price),
        change=change,
        change_percent=change / float(prev_close) * 100
        if change is not None and prev_close
        else None,
        volume=float(meta["regularMarketVolume"]) if meta.get("regularMarketVolume") else None,
        ts=ts,
        source=PROVIDER,
    )


class YahooClient:
    """yfinance with a classified, quota-guarded, archived session."""

    provider = PROVIDER

    def __init__(self, *, hooks: ClientHooks, timeout: float, base_url: str | None = None) -> None:
        _configure_yfinance()
        self.hooks = hooks
        self.timeout = timeout
        self.session = _session_for(base_url)
        self.last_meta: dict[str, Any] = {}

    def close(self) -> None:
        """Sessions are shared per base URL for the process; nothing to close per client."""

    def history(
        self,
        symbol: Symbol,
        interval: str = "1d",
        *,
        start: date | None = None,
        end: date | None = None,
        period: str | None = None,
    ) -> list[Bar]:
        """Bars for [start, end) (or `period`); an empty list means Yahoo had no rows."""
        if interval not in YAHOO_INTERVALS:
            raise InvalidSymbol(PROVIDER, f"unsupported interval {interval}")
        for attempt in self.hooks.policy.attempts_of():
            with attempt:
                frame, meta = self._fetch(symbol, interval, start, end, period)
        self.last_meta = meta
        if frame.empty:
            return []
        return frame_to_bars(frame, symbol, interval)

    def quote(self, symbol: Symbol, bars: list[Bar]) -> Quote | None:
        """The quote carried by the last history call's chart metadata."""
        return quote_from_meta(self.last_meta, symbol, bars)

    def _fetch(
        self,
        symbol: Symbol,
        interval: str,
        start: date | None,
        end: date | None,
        period: str | None,
    ) -> tuple[pd.DataFrame, dict[str, Any]]:
        with _LOCK:
            self.session.hooks = self.hooks
            self.session.what = "chart_" + interval
            YfData.cache_get.cache_clear()
            try:
                ticker = yf.Ticker(symbol.yahoo, session=self.session)
                kwargs: dict[str, Any] = {
                    "interval": YAHOO_INTERVALS[interval],
                    "auto_adjust": False,
                    "actions": False,
                    "timeout": self.timeout,
                }
                if start or end:
                    kwargs.update(start=start, end=end)
                else:
                    kwargs["period"] = period or ("5d" if interval in INTRADAY else "1mo")
                frame = ticker.history(**kwargs)
                lazy = ticker.get_history_metadata() or {}
                meta = {key: lazy.get(key) for key in QUOTE_KEYS}
            except ProviderError:
                raise
            except YFRateLimitError:
                raise RateLimited(PROVIDER, "Yahoo rate limit (YFRateLimitError)") from None
            except YFPricesMissingError:
                return pd.DataFrame(), {}
            except YFTzMissingError as error:
                raise InvalidSymbol(PROVIDER, str(error)) from None
            except YFException as error:
                raise ProviderError(PROVIDER, str(error)) from None
            except (KeyError, TypeError, ValueError) as error:
                raise BadResponse(PROVIDER, f"unexpected chart shape: {error!r}") from None
            finally:
                self.session.hooks = None
        return frame, meta
