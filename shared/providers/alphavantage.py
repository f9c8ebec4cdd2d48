"""Alpha Vantage: daily (adjusted where the key allows), intraday, global quote, crypto daily."""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import httpx

from shared.market.models import Bar, Quote
from shared.market.symbols import Symbol
from shared.providers.base import ClientHooks, after_first, day_start, first_granted
from shared.providers.errors import (
    AuthRejected,
    BadResponse,
    DailyCapReached,
    InvalidSymbol,
    ProviderError,
    ProviderNotice,
    Throttled,
)
from shared.providers.http import get_json, make_client

PROVIDER = "alphavantage"
INTRADAY_INTERVALS = {"1m": "1min", "5m": "5min", "15m": "15min", "30m": "30min", "60m": "60min"}
_FIELD = re.compile(r"^\d+[a-z]?\. ([a-z ]+?)(?: \(([A-Z]{3})\))?$")


class PremiumRequired(ProviderError):
    """The endpoint needs a premium key (Alpha Vantage answers 200 + `Information`)."""

    status = 402
    title = "Premium endpoint"


class InvalidCall(InvalidSymbol):
    """Alpha Vantage's `Error Message`: an unknown symbol or a malformed call."""

    title = "Invalid Alpha Vantage call"


MessageKind = Literal["throttle", "daily_cap", "premium", "invalid_call", "bad_key", "unknown"]
LIMIT_KEYS = ("Note", "Information", "Error Message")
"""The keys under which Alpha Vantage answers (HTTP 200) instead of data."""
THROTTLE_SECONDS = 60.0
"""How long a per-minute throttle lasts (Alpha Vantage does not send Retry-After)."""

_PREMIUM = re.compile(r"\bis a premium (?:endpoint|function|feature)|\bpremium[- ]only\b")
_THROTTLE = re.compile(
    r"per minute|per second|call frequency|higher api call volume|sparingly|burst"
)
_DAILY = re.compile(r"per day|daily (?:rate )?limit|requests? (?:a|each) day")
_BAD_KEY = re.compile(r"apikey is invalid|api key is invalid|demo\W+api key|invalid api key")
_INVALID = re.compile(r"invalid api call|invalid (?:symbol|parameter)|does not exist")


def classify_message(key: str, text: str) -> MessageKind:
    """What an Alpha Vantage message means, by its wording (never by a URL in it: every one
    of them links the premium page). See the README's provider section for the wordings."""
    lowered = " ".join(text.lower().split())
    if _PREMIUM.search(lowered):
        return "premium"
    if _THROTTLE.search(lowered):
        return "throttle"
    if _DAILY.search(lowered):
        return "daily_cap"
    if _BAD_KEY.search(lowered):
        return "bad_key"
    if _INVALID.search(lowered) or key == "Error Message":
        return "invalid_call"
    return "unknown"


def seconds_to_utc_midnight(now: datetime | None = None) -> float:
    """Seconds until the next 00:00 UTC (when a daily allowance is taken to reset)."""
    now = now or datetime.now(UTC)
    tomorrow = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    return max((tomorrow - now).total_seconds(), 1.0)


def check_payload(payload: Any, what: str) -> dict[str, Any]:
    """Alpha Vantage signals quota and errors with HTTP 200: classify them, never as data."""
    if not isinstance(payload, dict):
        raise BadResponse(PROVIDER, f"{what}: expected a JSON object, got {type(payload).__name__}")
    for key in LIMIT_KEYS:
        if key not in payload:
            continue
        text = str(payload[key])
        kind = classify_message(key, text)
        detail = f"{what}: {text}"
        if kind == "throttle":
            raise Throttled(PROVIDER, detail, THROTTLE_SECONDS)
        if kind == "daily_cap":
            raise DailyCapReached(PROVIDER, detail, seconds_to_utc_midnight())
        if kind == "premium":
            raise PremiumRequired(PROVIDER, detail)
        if kind == "bad_key":
            raise AuthRejected(PROVIDER, detail)
        if kind == "invalid_call":
            raise InvalidCall(PROVIDER, detail)
        raise ProviderNotice(PROVIDER, f"{what}: unrecognised {key!r} message: {text}", text)
    return payload


@functools.lru_cache(maxsize=256)
def _field(key: str) -> tuple[str, str | None] | None:
    match = _FIELD.match(key)
    return (match.group(1), match.group(2)) if match else None


def _fields(row: dict[str, str], market: str | None) -> dict[str, float]:
    """Map '1. open' / '1a. open (USD)' style keys to plain names, preferring `market`."""
    out: dict[str, float] = {}
    for key, value in row.items():
        parsed = _field(key)
        if parsed is None:
            continue
        name, currency = parsed
        if currency is not None and currency != market:
            continue
        try:
            out[name] = float(value)
        except (TypeError, ValueError):
            raise BadResponse(PROVIDER, f"non-numeric {key!r}: {value!r}") from None
    return out


def _series(payload: dict[str, Any], what: str) -> tuple[dict[str, Any], dict[str, Any]]:
    if not payload:
        return {}, {}
    meta = payload.get("Meta Data") or payload.get("MetaData") or {}
    series_keys = [key for key in payload if key.startswith("Time Series")]
    if not series_keys or not isinstance(payload[series_keys[0]], dict):
        raise BadResponse(PROVIDER, f"{what}: no 'Time Series' in keys {sorted(payload)}")
    return meta, payload[series_keys[0]]


def parse_daily(payload: Any, symbol: Symbol, *, adjusted: bool) -> list[Bar]:
    """Bars from TIME_SERIES_DAILY(_ADJUSTED) or DIGITAL_CURRENCY_DAILY."""
    what = f"daily {symbol}"
    _, series = _series(check_payload(payload, what), what)
    market = symbol.quote if symbol.kind == "crypto" else None
    bars = []
    for day_text, row in series.items():
        values = _fields(row, market)
        try:
            day = date.fromisoformat(day_text[:10])
            bars.append(
                Bar(
                    symbol=symbol.text,
                    interval="1d",
                    ts=day_start(day),
                    open=values["open"],
                    high=values["high"],
                    low=values["low"],
                    close=values["close"],
                    volume=values.get("volume"),
                    adj_close=values.get("adjusted close") if adjusted else None,
                    source=PROVIDER,
                    adjustment="none",
                )
            )
        except (KeyError, ValueError) as error:
            raise BadResponse(PROVIDER, f"{what}: bad row {day_text!r}: {error}") from None
    return sorted(bars, key=lambda bar: bar.ts)


def parse_intraday(payload: Any, symbol: Symbol, interval: str) -> list[Bar]:
    what = f"intraday {interval} {symbol}"
    meta, series = _series(check_payload(payload, what), what)
    zone_name = next((v for k, v in meta.items() if "Time Zone" in k), "US/Eastern")
    zone = ZoneInfo(zone_name)
    bars = []
    for stamp, row in series.items():
        values = _fields(row, None)
        try:
            local = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone)
            bars.append(
                Bar(
                    symbol=symbol.text,
                    interval=interval,
                    ts=local.astimezone(UTC),
                    open=values["open"],
                    high=values["high"],
                    low=values["low"],
                    close=values["close"],
                    volume=values.get("volume"),
                    source=PROVIDER,
                    adjustment="none",
                )
            )
        except (KeyError, ValueError) as error:
            raise BadResponse(PROVIDER, f"{what}: bad row {stamp!r}: {error}") from None
    return sorted(bars, key=lambda bar: bar.ts)


def parse_global_quote(payload: Any, symbol: Symbol) -> Quote | None:
    what = f"quote {symbol}"
    body = check_payload(payload, what)
    quote = body.get("Global Quote")
    if quote is None:
        raise BadResponse(PROVIDER, f"{what}: no 'Global Quote' in keys {sorted(body)}")
    if not quote:
        return None
    try:
        day = date.fromisoformat(quote["07. latest trading day"])
        percent = quote.get("10. change percent", "").rstrip("%")
        return Quote(
            symbol=symbol.text,
            price=float(quote["05. price"]),
            change=float(quote["09. change"]) if quote.get("09. change") else None,
            change_percent=float(percent) if percent else None,
            volume=float(quote["06. volume"]) if quote.get("06. volume") else None,
            ts=day_start(day),
            source=PROVIDER,
        )
    except (KeyError, ValueError) as error:
        raise BadResponse(PROVIDER, f"{what}: bad quote: {error}") from None


class AlphaVantageClient:
    """Alpha Vantage over httpx; keys rotate, each guarded by its own quota bucket."""

    provider = PROVIDER

    def __init__(
        self,
        *,
        keys: list[str],
        base_url: str,
        timeout: float,
        hooks: ClientHooks,
        premium: bool = False,
        http: httpx.Client | None = None,
    ) -> None:
        if not keys:
            raise ValueError("AlphaVantageClient needs at least one key (ALPHAVANTAGE_API_KEYS)")
        self.keys = list(keys)
        self.hooks = hooks
        self.premium = premium
        self._next = 0
        self._http = http or make_client(base_url=base_url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def _query(self, params: dict[str, str], what: str) -> Any:
        index = first_granted(PROVIDER, self.keys, self.hooks.limiter_for, self._next)
        self._next = index + 1
        key = self.keys[index]
        return get_json(
            self._http,
            PROVIDER,
            "/query",
            {**params, "datatype": "json", "apikey": key},
            what=what,
            policy=self.hooks.policy,
            limiter=after_first(self.hooks.limiter_for(key)),
            raw_sink=self.hooks.raw_sink,
            redact=("apikey",),
        )

    def daily(self, symbol: Symbol, *, full: bool = False) -> list[Bar]:
        """Daily bars; the adjusted series when the key is premium, else the raw one."""
        if symbol.kind == "crypto":
            return self.digital_daily(symbol)
        if symbol.kind == "fx":
            return self.fx_daily(symbol, full=full)
        if symbol.alphavantage is None:
            raise InvalidSymbol(PROVIDER, f"{symbol} is not served by Alpha Vantage")
        size = "full" if full else "compact"
        if self.premium:
            try:
                payload = self._query(
                    {
                        "function": "TIME_SERIES_DAILY_ADJUSTED",
                        "symbol": symbol.alphavantage,
                        "outputsize": size,
                    },
                    "daily_adjusted",
                )
                return parse_daily(payload, symbol, adjusted=True)
            except PremiumRequired:
                self.premium = False
        try:
            payload = self._query(
                {
                    "function": "TIME_SERIES_DAILY",
                    "symbol": symbol.alphavantage,
                    "outputsize": size,
                },
                "daily",
            )
            return parse_daily(payload, symbol, adjusted=False)
        except PremiumRequired:
            if not full:
                raise
            return self.daily(symbol, full=False)

    def digital_daily(self, symbol: Symbol) -> list[Bar]:
        payload = self._query(
            {"function": "DIGITAL_CURRENCY_DAILY", "symbol": symbol.base, "market": symbol.quote},
            "digital_daily",
        )
        return parse_daily(payload, symbol, adjusted=False)

    def fx_daily(self, symbol: Symbol, *, full: bool = False) -> list[Bar]:
        """FX_DAILY (free): OHLC of the pair, no volume."""
        payload = self._query(
            {
                "function": "FX_DAILY",
                "from_symbol": symbol.base,
                "to_symbol": symbol.quote,
                "outputsize": "full" if full else "compact",
            },
            "fx_daily",
        )
        return parse_daily(payload, symbol, adjusted=False)

    def intraday(self, symbol: Symbol, interval: str, *, full: bool = False) -> list[Bar]:
        if (
            interval not in INTRADAY_INTERVALS
            or symbol.alphavantage is None
            or symbol.kind in ("crypto", "fx")
        ):
            raise InvalidSymbol(PROVIDER, f"no intraday {interval} for {symbol}")
        payload = self._query(
            {
                "function": "TIME_SERIES_INTRADAY",
                "symbol": symbol.alphavantage,
                "interval": INTRADAY_INTERVALS[interval],
                "outputsize": "full" if full else "compact",
            },
            "intraday",
        )
        return parse_intraday(payload, symbol, interval)

    def global_quote(self, symbol: Symbol) -> Quote | None:
        if symbol.alphavantage is None or symbol.kind in ("crypto", "fx"):
            raise InvalidSymbol(PROVIDER, f"no global quote for {symbol}")
        payload = self._query(
            {"function": "GLOBAL_QUOTE", "symbol": symbol.alphavantage}, "global_quote"
        )
        return parse_global_quote(payload, symbol)
