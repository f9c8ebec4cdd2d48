"""Local fake provider servers (127.0.0.1) speaking Alpha Vantage, CoinGecko and Yahoo's chart API.

The prices are test fixtures (a seeded random walk per symbol), not market data. Responses
follow each provider's documented shapes, including their error shapes; faults are scripted
per route with `FakeMarket.fail(...)` and every request is logged for counting.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import numpy as np

# Alpha Vantage answers its limits and errors with HTTP 200 and one of `Note`, `Information`
# or `Error Message`. The wordings below are the ones it has used over the years; where each
# was seen is in the README's provider section (issue threads and client libraries' tests).
AV_NOTE = (
    "Thank you for using Alpha Vantage! Our standard API call frequency is 5 calls per minute "
    "and 500 calls per day. Please visit https://www.alphavantage.co/premium/ if you would like "
    "to target a higher API call frequency."
)
AV_INFORMATION = (
    "Thank you for using Alpha Vantage! Our standard API rate limit is 25 requests per day. "
    "Please subscribe to any of the premium plans at https://www.alphavantage.co/premium/ to "
    "instantly remove all daily rate limits."
)
AV_PREMIUM = (
    "Thank you for using Alpha Vantage! This is a premium endpoint. You may subscribe to any of "
    "the premium plans at https://www.alphavantage.co/premium/ to instantly unlock all premium "
    "endpoints"
)
AV_ERROR = (
    "Invalid API call. Please retry or visit the documentation "
    "(https://www.alphavantage.co/documentation/) for TIME_SERIES_DAILY."
)
AV_MESSAGES: dict[str, tuple[str, str, str]] = {
    # fault: (key, text, what it means)
    "note": ("Note", AV_NOTE, "throttle"),
    "throttle_info": ("Information", AV_NOTE, "throttle"),
    "throttle_2018": (
        "Information",
        "Thank you for using Alpha Vantage! Please visit https://www.alphavantage.co/premium/ "
        "if you would like to have a higher API call volume.",
        "throttle",
    ),
    "throttle_support": (
        "Note",
        "Thank you for using Alpha Vantage! Please kindly contact support@alphavantage.co if "
        "you would like to have a higher API call volume.",
        "throttle",
    ),
    "burst": (
        "Information",
        "Thank you for using Alpha Vantage! Please consider spreading out your free API "
        "requests more sparingly (1 request per second). You may subscribe to any of the "
        "premium plans at https://www.alphavantage.co/premium/ to lift the free key rate limit "
        "(25 requests per day), raise the per-second burst limit, and instantly unlock all "
        "premium endpoints",
        "throttle",
    ),
    "information": ("Information", AV_INFORMATION, "daily_cap"),
    "premium": ("Information", AV_PREMIUM, "premium"),
    "premium_avc": (
        "Information",
        "Thank you for using Alpha Vantage! This is a premium endpoint and there are multiple "
        "ways to unlock premium endpoints: (1) become a holder of Alpha Vantage Coin (AVC), an "
        "Ethereum-based cryptocurrency that provides various utility & governance functions "
        "within the Alpha Vantage ecosystem (AVC mining guide: "
        "https://www.alphatournament.com/avc_mining_guide/) to unlock all premium endpoints, "
        "(2) subscribe to any of the premium plans at https://www.alphavantage.co/premium/ to "
        "instantly unlock all premium endpoints",
        "premium",
    ),
    "premium_full": (
        "Information",
        "Thank you for using Alpha Vantage! The outputsize=full parameter value is a premium "
        "feature for the TIME_SERIES_DAILY endpoint. You may subscribe to any of the premium "
        "plans at https://www.alphavantage.co/premium/ to instantly unlock all premium features",
        "premium",
    ),
    "error_message": ("Error Message", AV_ERROR, "invalid_call"),
    "bad_key": (
        "Error Message",
        "the parameter apikey is invalid or missing. Please claim your free API key on "
        "(https://www.alphavantage.co/support/#api-key). It should take less than 20 seconds.",
        "bad_key",
    ),
    "demo_key": (
        "Information",
        "The **demo** API key is for demo purposes only. Please claim your free API key at "
        "(https://www.alphavantage.co/support/#api-key) to explore our full API offerings. It "
        "takes fewer than 20 seconds.",
        "bad_key",
    ),
    "unknown_info": (
        "Information",
        "Thank you for using Alpha Vantage! Our systems are being upgraded tonight; some "
        "answers may arrive later than usual.",
        "unknown",
    ),
}
CG_429 = {
    "status": {
        "error_code": 429,
        "error_message": "You've exceeded the Rate Limit. Please visit "
        "https://www.coingecko.com/en/api/pricing to subscribe to our API plans for higher "
        "rate limits.",
    }
}
COIN_SYMBOLS = {"bitcoin": "BTC", "ethereum": "ETH", "solana": "SOL"}
_CRYPTO_PAIR = re.compile(r"^[A-Z0-9]{2,10}-(USD|EUR|GBP|JPY|CNY|USDT|BTC)$")
AV_CRYPTO_NAMES = {"BTC": "Bitcoin", "ETH": "Ethereum", "SOL": "Solana"}
CURRENCY_NAMES = {"USD": "United States Dollar", "EUR": "Euro", "CNY": "Chinese Yuan"}
CNY_PER_USD = 7.1
FAULTS = (
    *AV_MESSAGES,
    "partial",
    "csv",
    "unauthorized",
    "error_200",
    "422",
    "429",
    "500",
    "timeout",
    "malformed",
    "empty",
    "not_found",
)


@dataclass
class Fault:
    route: str
    kind: str
    symbol: str | None = None
    retry_after: float | None = None


@dataclass
class Request:
    route: str
    path: str
    params: dict[str, str]
    at: float
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeMarket:
    """State behind the fake servers: data, scripted faults and the request log."""

    first_day: date = date(2024, 1, 2)
    last_day: date = date(2024, 6, 28)
    timeout_sleep: float = 2.0
    faults: deque[Fault] = field(default_factory=deque)
    requests: list[Request] = field(default_factory=list)
    unknown: set[str] = field(default_factory=set)
    av_crypto_legacy: bool = False
    """Alpha Vantage's DIGITAL_CURRENCY_DAILY as it was until 2024: `1a. open (CNY)`,
    `1b. open (USD)` ... `5. volume`, `6. market cap (USD)`; else its current `1. open`."""
    dividends: dict[date, float] = field(default_factory=lambda: {date(2024, 5, 10): 0.25})
    splits: dict[date, tuple[int, int]] = field(default_factory=lambda: {date(2024, 6, 10): (4, 1)})
    lock: threading.Lock = field(default_factory=threading.Lock)
    _cache: dict[tuple[str, date, date], list[tuple[date, float, float, float, float, float]]] = (
        field(default_factory=dict)
    )

    # --- scripting ------------------------------------------------------------------------------
    def fail(
        self,
        route: str,
        kind: str,
        *,
        times: int = 1,
        symbol: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        assert kind in FAULTS, kind
        for _ in range(times):
            self.faults.append(Fault(route, kind, symbol, retry_after))

    def _take_fault(
        self, route: str, symbol: str | None, *, kind: str | None = None
    ) -> Fault | None:
        """The next scripted fault for `route` (and `symbol`); `kind` picks one kind only
        ("partial" faults shape an answer, so only the data path takes them)."""
        with self.lock:
            for fault in list(self.faults):
                if (fault.kind == "partial") != (kind == "partial"):
                    continue
                if kind is not None and fault.kind != kind:
                    continue
                if fault.route == route and (fault.symbol is None or fault.symbol == symbol):
                    self.faults.remove(fault)
                    return fault
        return None

    def count(self, route: str | None = None, path_contains: str = "") -> int:
        with self.lock:
            return sum(
                1
                for r in self.requests
                if (route is None or r.route == route) and path_contains in r.path
            )

    # --- data -----------------------------------------------------------------------------------
    def days(self, every_day: bool = False) -> list[date]:
        """Trading days: weekdays, or (crypto trades every day) every calendar day."""
        out, day = [], self.first_day
        while day <= self.last_day:
            if every_day or day.weekday() < 5:
                out.append(day)
            day += timedelta(days=1)
        return out

    def daily(self, symbol: str) -> list[tuple[date, float, float, float, float, float]]:
        """(day, open, high, low, close, volume) rows, deterministic per symbol and range."""
        key = (symbol, self.first_day, self.last_day)
        if key in self._cache:
            return self._cache[key]
        seed = int.from_bytes(hashlib.sha256(symbol.encode()).digest()[:4], "big")
        crypto = bool(_CRYPTO_PAIR.match(symbol))
        days = self.days(every_day=crypto)
        # The walk starts at a fixed origin so extending last_day keeps earlier rows equal.
        origin = date(2000, 1, 3)
        offset = (
            (self.first_day - origin).days if crypto else (self.first_day - origin).days // 7 * 5
        )
        rng = np.random.default_rng(seed)
        steps = rng.normal(0.0003, 0.015, size=offset + len(days) + 1)
        closes = 100.0 * np.exp(np.cumsum(steps))[offset + 1 :]
        rows = []
        digits = 8 if crypto else 4
        for i, day in enumerate(days):
            close = round(float(closes[i]), digits)
            open_ = round(float(closes[i - 1]) if i else close * 0.995, digits)
            high = round(max(open_, close) * 1.01, digits)
            low = round(min(open_, close) * 0.99, digits)
            volume = float(1_000_000 + (seed + i * 7919) % 500_000)
            rows.append((day, open_, high, low, close, volume))
        self._cache[key] = rows
        return rows

    @property
    def now(self) -> datetime:
        """The fake market's clock: 00:00 UTC after `last_day`."""
        return datetime.combine(self.last_day + timedelta(days=1), datetime.min.time(), UTC)


EXCHANGE_ZONES: dict[str, tuple[str, str, int, int]] = {
    # Yahoo suffix: (exchangeTimezoneName, timezone, local open hour, minute)
    "AX": ("Australia/Sydney", "AEST", 10, 0),
    "NZ": ("Pacific/Auckland", "NZST", 10, 0),
    "T": ("Asia/Tokyo", "JST", 9, 0),
    "SS": ("Asia/Shanghai", "CST", 9, 30),
}
"""Listings whose daily bars Yahoo stamps at the local open: for NZX that is 22:00 UTC of the
previous day, so only the exchange-local date is the session date."""


def _local_epoch(day: date, zone: str, hour: int, minute: int) -> int:
    return int(
        datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(zone)).timestamp()
    )


def _epoch(day: date, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC).timestamp())


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        market = self.server.market
        path = parts.path
        if path == "/_control/last_day":
            market.last_day = date.fromisoformat(params["value"])
            self._send(200, b"{}", {})
            return
        if path == "/query":
            route = "alphavantage"
        elif path.startswith("/api/v3/"):
            route = "coingecko"
        else:
            route = "yahoo"
        record = Request(route, path, params, time.time(), headers=dict(self.headers.items()))
        if not (route == "yahoo" and "/v8/finance/chart/" not in path):
            with market.lock:
                market.requests.append(record)
        try:
            status, body, headers = getattr(self, f"_{route}")(market, path, params)
        except Exception as error:
            status, body, headers = 500, json.dumps({"error": repr(error)}).encode(), {}
        record.status = status
        self._send(status, body, headers)

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            if "Content-Type" not in headers:
                self.send_header("Content-Type", "application/json")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    @staticmethod
    def _json(value: Any, status: int = 200, **headers: str) -> tuple[int, bytes, dict[str, str]]:
        return status, json.dumps(value).encode(), dict(headers)

    def _fault(
        self, market: FakeMarket, route: str, symbol: str | None
    ) -> tuple[int, bytes, dict[str, str]] | None:
        fault = market._take_fault(route, symbol)
        if fault is None:
            return None
        return self._fault_answer(market, route, fault, symbol)

    def _fault_answer(
        self, market: FakeMarket, route: str, fault: Fault, symbol: str | None
    ) -> tuple[int, bytes, dict[str, str]] | None:
        kind = fault.kind
        if kind == "timeout":
            time.sleep(market.timeout_sleep)
            return self._json({"late": True})
        if kind == "500" and route == "coingecko":
            # CoinGecko's 5xx bodies are JSON (its documented `status` object), not HTML.
            return self._json(
                {"status": {"error_code": 500, "error_message": "Internal Server Error"}}, 500
            )
        if kind == "500":
            return (
                500,
                b"<html><body>Internal Server Error</body></html>",
                {"Content-Type": "text/html"},
            )
        if kind == "csv":
            # What Alpha Vantage sends for datatype=csv: the suite never asks for it.
            return (
                200,
                b"timestamp,open,high,low,close,volume\r\n2024-06-28,1.0,2.0,0.5,1.5,100\r\n",
                {"Content-Type": "application/x-download"}
                if route == "alphavantage"
                else {"Content-Type": "text/csv"},
            )
        if kind == "malformed":
            return 200, b'{"Meta Data": {"1. Information": "Daily Prices"', {}
        if kind == "429" and route == "alphavantage":
            # Alpha Vantage never answers 429: its throttle is HTTP 200 + `Note`.
            return self._json({"Note": AV_NOTE})
        if kind == "429":
            headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
            if route == "coingecko":
                return self._json(CG_429, 429, **headers)
            return (
                429,
                b"Too Many Requests\r\n",
                {"Content-Type": "text/html; charset=utf-8", **headers},
            )
        if route == "alphavantage":
            if kind in AV_MESSAGES:
                key, text, _ = AV_MESSAGES[kind]
                return self._json({key: text})
            if kind == "not_found":
                return self._json({"Error Message": AV_ERROR})
            return self._json({})
        if route == "coingecko":
            if kind == "not_found":
                return self._json({"error": "coin not found"}, 404)
            if kind == "unauthorized":
                return self._json(
                    {
                        "status": {
                            "error_code": 10002,
                            "error_message": "API Key Missing",
                        }
                    },
                    401,
                )
            if kind == "422":
                return self._json({"error": "invalid vs_currency"}, 422)
            if kind == "error_200":
                # CoinGecko's error object (code 10005, plan restricted) with HTTP 200.
                return self._json(
                    {
                        "status": {
                            "error_code": 10005,
                            "error_message": "You may not have access to this endpoint.",
                        }
                    }
                )
            return self._json([] if kind == "empty" else {"status": {"error_code": 400}}, 200)
        if kind == "empty":
            meta = {
                "currency": "USD",
                "symbol": symbol,
                "instrumentType": "EQUITY",
                "exchangeTimezoneName": "America/New_York",
                "validRanges": ["1d", "5d"],
            }
            return self._json(
                {
                    "chart": {
                        "result": [{"meta": meta, "indicators": {"quote": [{}]}}],
                        "error": None,
                    }
                }
            )
        if kind == "not_found":
            return self._fault_not_found()
        return None

    # --- Alpha Vantage ------------------------------------------------------------------------
    def _alphavantage(
        self, market: FakeMarket, path: str, p: dict[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        if not p.get("apikey"):
            return self._json(
                {
                    "Error Message": "the parameter apikey is invalid or missing. Please claim "
                    "your free API key on (https://www.alphavantage.co/support/#api-key)."
                }
            )
        function = p.get("function", "")
        symbol = p.get("symbol", "")
        if p.get("datatype", "json") != "json":
            csv = self._fault_answer(market, "alphavantage", Fault("alphavantage", "csv"), symbol)
            assert csv is not None
            return csv
        partial = market._take_fault("alphavantage", symbol, kind="partial") is not None
        fault = self._fault(market, "alphavantage", symbol)
        if fault is not None:
            return fault
        if symbol in market.unknown:
            return self._json({"Error Message": AV_ERROR})
        if function in ("TIME_SERIES_DAILY", "TIME_SERIES_DAILY_ADJUSTED"):
            rows = market.daily(symbol)
            if p.get("outputsize", "compact") == "compact":
                rows = rows[-100:]
            if partial:
                rows = rows[-3:]
            adjusted = function.endswith("ADJUSTED")
            series = {}
            for day, o, h, low, c, v in reversed(rows):
                entry = {
                    "1. open": f"{o:.4f}",
                    "2. high": f"{h:.4f}",
                    "3. low": f"{low:.4f}",
                    "4. close": f"{c:.4f}",
                }
                if adjusted:
                    entry.update(
                        {
                            "5. adjusted close": f"{c * 0.98:.4f}",
                            "6. volume": f"{v:.0f}",
                            "7. dividend amount": "0.0000",
                            "8. split coefficient": "1.0",
                        }
                    )
                else:
                    entry["5. volume"] = f"{v:.0f}"
                series[day.isoformat()] = entry
            meta = {
                "1. Information": "Daily Prices (open, high, low, close) and Volumes",
                "2. Symbol": symbol,
                "3. Last Refreshed": market.last_day.isoformat(),
                "4. Output Size": "Compact" if p.get("outputsize") != "full" else "Full size",
                "5. Time Zone": "US/Eastern",
            }
            return self._json({"Meta Data": meta, "Time Series (Daily)": series})
        if function == "FX_DAILY":
            pair = f"{p.get('from_symbol', '')}{p.get('to_symbol', '')}=X"
            rows = market.daily(pair)
            if p.get("outputsize", "compact") == "compact":
                rows = rows[-100:]
            fx_series = {
                day.isoformat(): {
                    "1. open": f"{o:.5f}",
                    "2. high": f"{h:.5f}",
                    "3. low": f"{low:.5f}",
                    "4. close": f"{c:.5f}",
                }
                for day, o, h, low, c, _ in reversed(rows)
            }
            fx_meta = {
                "1. Information": "Forex Daily Prices (open, high, low, close)",
                "2. From Symbol": p.get("from_symbol", ""),
                "3. To Symbol": p.get("to_symbol", ""),
                "4. Output Size": "Compact" if p.get("outputsize") != "full" else "Full size",
                "5. Last Refreshed": f"{market.last_day.isoformat()} 21:55:00",
                "6. Time Zone": "UTC",
            }
            return self._json({"Meta Data": fx_meta, "Time Series FX (Daily)": fx_series})
        if function == "DIGITAL_CURRENCY_DAILY":
            market_code = p.get("market", "USD")
            rows = market.daily(f"{symbol}-{market_code}")
            usd = {r[0]: r for r in market.daily(f"{symbol}-USD")}
            series = {}
            for day, o, h, low, c, v in reversed(rows[-3:] if partial else rows):
                if market.av_crypto_legacy:
                    # Until 2024: each price in the market's currency (a) and in USD (b).
                    u = usd[day]
                    entry = {}
                    for n, name, value, in_usd in (
                        (1, "open", o, u[1]),
                        (2, "high", h, u[2]),
                        (3, "low", low, u[3]),
                        (4, "close", c, u[4]),
                    ):
                        entry[f"{n}a. {name} ({market_code})"] = f"{value:.8f}"
                        entry[f"{n}b. {name} (USD)"] = f"{in_usd:.8f}"
                    entry["5. volume"] = f"{v / 1000:.8f}"
                    entry["6. market cap (USD)"] = f"{u[4] * v / 1000:.8f}"
                else:
                    entry = {
                        "1. open": f"{o:.8f}",
                        "2. high": f"{h:.8f}",
                        "3. low": f"{low:.8f}",
                        "4. close": f"{c:.8f}",
                        "5. volume": f"{v / 1000:.8f}",
                    }
                series[day.isoformat()] = entry
            meta = {
                "1. Information": "Daily Prices and Volumes for Digital Currency",
                "2. Digital Currency Code": symbol,
                "3. Digital Currency Name": AV_CRYPTO_NAMES.get(symbol, symbol),
                "4. Market Code": market_code,
                "5. Market Name": CURRENCY_NAMES.get(market_code, market_code),
                "6. Last Refreshed": f"{market.last_day.isoformat()} 00:00:00",
                "7. Time Zone": "UTC",
            }
            return self._json({"Meta Data": meta, "Time Series (Digital Currency Daily)": series})
        if function == "TIME_SERIES_INTRADAY":
            interval = p.get("interval", "5min")
            minutes = int(interval.removesuffix("min"))
            day = market.last_day
            series = {}
            _, o, _, _, c, v = market.daily(symbol)[-1]
            # Extended hours (the default, extended_hours=true): 04:00 to 20:00 US/Eastern.
            count = 960 // minutes
            for i in range(count):
                stamp = datetime(day.year, day.month, day.day, 4, 0) + timedelta(
                    minutes=minutes * i
                )
                price = round(o + (c - o) * i / max(count - 1, 1), 4)
                series[stamp.strftime("%Y-%m-%d %H:%M:%S")] = {
                    "1. open": f"{price:.4f}",
                    "2. high": f"{price * 1.001:.4f}",
                    "3. low": f"{price * 0.999:.4f}",
                    "4. close": f"{price:.4f}",
                    "5. volume": f"{int(v / count)}",
                }
            if p.get("outputsize", "compact") == "compact":
                series = dict(sorted(series.items())[-100:])
            meta = {
                "1. Information": f"Intraday ({interval}) open, high, low, close prices and volume",
                "2. Symbol": symbol,
                "3. Last Refreshed": max(series),
                "4. Interval": interval,
                "5. Output Size": "Compact",
                "6. Time Zone": "US/Eastern",
            }
            return self._json(
                {
                    "Meta Data": meta,
                    f"Time Series ({interval})": dict(sorted(series.items(), reverse=True)),
                }
            )
        if function == "GLOBAL_QUOTE":
            rows = market.daily(symbol)
            day, o, h, low, c, v = rows[-1]
            prev = rows[-2][4]
            return self._json(
                {
                    "Global Quote": {
                        "01. symbol": symbol,
                        "02. open": f"{o:.4f}",
                        "03. high": f"{h:.4f}",
                        "04. low": f"{low:.4f}",
                        "05. price": f"{c:.4f}",
                        "06. volume": f"{v:.0f}",
                        "07. latest trading day": day.isoformat(),
                        "08. previous close": f"{prev:.4f}",
                        "09. change": f"{c - prev:.4f}",
                        "10. change percent": f"{(c - prev) / prev * 100:.4f}%",
                    }
                }
            )
        return self._json({"Error Message": AV_ERROR})

    # --- CoinGecko ----------------------------------------------------------------------------
    def _coingecko(
        self, market: FakeMarket, path: str, p: dict[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        tail = path.removeprefix("/api/v3")
        coin = tail.split("/")[2] if tail.startswith("/coins/") else None
        fault = self._fault(market, "coingecko", coin)
        if fault is not None:
            return fault
        if tail == "/ping":
            return self._json({"gecko_says": "(V3) To the Moon!"})
        if tail == "/simple/price":
            out: dict[str, Any] = {}
            for cid in p.get("ids", "").split(","):
                if cid not in COIN_SYMBOLS:
                    continue
                rows = market.daily(f"{COIN_SYMBOLS[cid]}-USD")
                price, prev = rows[-1][4], rows[-2][4]
                out[cid] = {}
                for cur in p.get("vs_currencies", "usd").split(","):
                    # Bitcoin's price comes as a JSON integer (`"usd": 67187`).
                    out[cid][cur] = round(price) if cid == "bitcoin" else price
                    if p.get("include_24hr_vol") == "true":
                        out[cid][f"{cur}_24h_vol"] = rows[-1][5] * 10
                    if p.get("include_24hr_change") == "true":
                        out[cid][f"{cur}_24h_change"] = (price - prev) / prev * 100
                if p.get("include_last_updated_at") == "true":
                    out[cid]["last_updated_at"] = int(market.now.timestamp()) - 60
            return self._json(out)
        if coin is None or coin not in COIN_SYMBOLS:
            return self._json({"error": "coin not found"}, 404)
        by_day = {row[0]: row for row in market.daily(f"{COIN_SYMBOLS[coin]}-USD")}
        days = int(p.get("days", "30"))
        start = market.now - timedelta(days=days)
        if tail.endswith("/ohlc"):
            candles = []
            stamp = start + timedelta(hours=4)
            while stamp <= market.now:
                opened = stamp - timedelta(hours=4)
                row = by_day.get(opened.date())
                if row is not None:
                    _, o, h, low, c, _ = row
                    k = opened.hour // 4
                    step = (c - o) / 6
                    co, cc = o + step * k, o + step * (k + 1)
                    candles.append(
                        [
                            int(stamp.timestamp() * 1000),
                            round(co, 4),
                            round(h if k == 2 else max(co, cc), 4),
                            round(low if k == 3 else min(co, cc), 4),
                            round(cc, 4),
                        ]
                    )
                stamp += timedelta(hours=4)
            return self._json(candles)
        if tail.endswith("/market_chart"):
            prices, volumes, caps = [], [], []
            for day, row in sorted(by_day.items()):
                when = datetime.combine(day, datetime.min.time(), UTC)
                if when >= start:
                    ms = int(when.timestamp() * 1000)
                    prices.append([ms, row[4]])
                    volumes.append([ms, round(row[5])])
                    caps.append([ms, round(row[4] * 19_000_000)])
            # The last point is "now", off the daily grid (CoinGecko appends the live price).
            live = int((market.now - timedelta(minutes=3, seconds=17)).timestamp() * 1000) + 418
            last = market.daily(f"{COIN_SYMBOLS[coin]}-USD")[-1]
            prices.append([live, last[4]])
            volumes.append([live, round(last[5] * 1.01)])
            caps.append([live, round(last[4] * 19_000_000)])
            return self._json({"prices": prices, "market_caps": caps, "total_volumes": volumes})
        return self._json({"error": "Not Found"}, 404)

    # --- Yahoo --------------------------------------------------------------------------------
    def _yahoo(
        self, market: FakeMarket, path: str, p: dict[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        if path == "/":
            return (
                200,
                b"",
                {"Set-Cookie": "A3=d=fake; Path=/; Domain=127.0.0.1", "Content-Type": "text/html"},
            )
        if path == "/v1/test/getcrumb":
            return 200, b"fakecrumb", {"Content-Type": "text/plain"}
        if not path.startswith("/v8/finance/chart/"):
            return self._json({"error": "not found"}, 404)
        ticker = path.rsplit("/", 1)[-1]
        fault = self._fault(market, "yahoo", ticker)
        if fault is not None:
            return fault
        if ticker in market.unknown:
            return self._fault_not_found()
        crypto = bool(_CRYPTO_PAIR.match(ticker))
        listing = EXCHANGE_ZONES.get(ticker.rsplit(".", 1)[-1]) if "." in ticker else None

        def stamp(day: date) -> int:
            if listing is not None:
                return _local_epoch(day, listing[0], listing[2], listing[3])
            return _epoch(day, 0, 0) if crypto else _epoch(day, 14, 30)

        rows = market.daily(ticker)
        if "period1" in p:
            lo, hi = int(p["period1"]), int(p.get("period2", 2**40))
            rows = [r for r in rows if lo <= stamp(r[0]) < hi]
        else:
            rows = rows[-1:] if p.get("range") == "1d" else rows[-22:]
        last = market.daily(ticker)[-1]
        meta: dict[str, Any] = {
            "currency": "USD",
            "symbol": ticker,
            "exchangeName": "CCC" if crypto else "NMS",
            "instrumentType": "CRYPTOCURRENCY" if crypto else "EQUITY",
            "firstTradeDate": _epoch(market.first_day),
            "regularMarketTime": _epoch(last[0], 20, 0),
            "gmtoffset": 0 if crypto else -14400,
            "timezone": "UTC" if crypto else "EDT",
            "exchangeTimezoneName": "UTC" if crypto else "America/New_York",
            **(
                {}
                if listing is None
                else {
                    "exchangeTimezoneName": listing[0],
                    "timezone": listing[1],
                    "gmtoffset": int(
                        ZoneInfo(listing[0]).utcoffset(datetime(last[0].year, 6, 1)).total_seconds()  # type: ignore[union-attr]
                    ),
                }
            ),
            "regularMarketPrice": last[4],
            "regularMarketVolume": last[5],
            "chartPreviousClose": market.daily(ticker)[-2][4],
            "priceHint": 2,
            "dataGranularity": p.get("interval", "1d"),
            "range": p.get("range", ""),
            "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"],
            "fullExchangeName": "CCC" if crypto else "NasdaqGS",
            "hasPrePostMarketData": not crypto,
            "fiftyTwoWeekHigh": max(r[2] for r in market.daily(ticker)),
            "fiftyTwoWeekLow": min(r[3] for r in market.daily(ticker)),
            "regularMarketDayHigh": last[2],
            "regularMarketDayLow": last[3],
            "longName": f"{ticker} Test Corporation",
            "shortName": f"{ticker} Test",
            "currentTradingPeriod": {
                name: {
                    "timezone": "UTC" if crypto else "EDT",
                    "start": _epoch(last[0], a, 0) if crypto else _epoch(last[0], a, b),
                    "end": _epoch(last[0], c, d),
                    "gmtoffset": 0 if crypto else -14400,
                }
                for name, a, b, c, d in (
                    ("pre", 8, 0, 13, 30),
                    ("regular", 13, 30, 20, 0),
                    ("post", 20, 0, 23, 59),
                )
            },
        }
        result: dict[str, Any] = {"meta": meta}
        interval = p.get("interval", "1d")
        if interval.endswith("m") and not crypto:
            rows, stamps = self._intraday(rows, int(interval.removesuffix("m")))
            meta["tradingPeriods"] = [
                [
                    {
                        "timezone": "EDT",
                        "start": _epoch(day, 13, 30),
                        "end": _epoch(day, 20, 0),
                        "gmtoffset": -14400,
                    }
                ]
                for day in sorted({datetime.fromtimestamp(t, UTC).date() for t in stamps})
            ]
        else:
            stamps = [stamp(r[0]) for r in rows]
        if rows:
            quote: dict[str, list[Any]] = {
                "open": [r[1] for r in rows],
                "high": [r[2] for r in rows],
                "low": [r[3] for r in rows],
                "close": [r[4] for r in rows],
                "volume": [int(r[5]) for r in rows],
            }
            adjclose: list[Any] = [round(r[4] * 0.98, 4) for r in rows]
            if not crypto and len(stamps) > 2:
                # Yahoo's null bar: a stamp with no trade (every field null), mid-series.
                k = len(stamps) // 2
                stamps = [*stamps[:k], (stamps[k - 1] + stamps[k]) // 2, *stamps[k:]]
                for values in quote.values():
                    values.insert(k, None)
                adjclose.insert(k, None)
            result["timestamp"] = stamps
            result["indicators"] = {"quote": [quote], "adjclose": [{"adjclose": adjclose}]}
            if not crypto and interval == "1d":
                result["events"] = self._events(market, stamps[0], stamps[-1])
        else:
            result["indicators"] = {"quote": [{}], "adjclose": [{}]}
        return self._json({"chart": {"result": [result], "error": None}})

    @staticmethod
    def _events(market: FakeMarket, first: int, last: int) -> dict[str, Any]:
        """Yahoo's `events` block: dividends and splits inside the chart's range."""
        events: dict[str, Any] = {}
        for day, amount in market.dividends.items():
            when = _epoch(day, 13, 30)
            if first <= when <= last:
                events.setdefault("dividends", {})[str(when)] = {"amount": amount, "date": when}
        for day, (num, den) in market.splits.items():
            when = _epoch(day, 13, 30)
            if first <= when <= last:
                events.setdefault("splits", {})[str(when)] = {
                    "date": when,
                    "numerator": num,
                    "denominator": den,
                    "splitRatio": f"{num}:{den}",
                }
        return events

    @staticmethod
    def _intraday(
        days: list[tuple[date, float, float, float, float, float]], minutes: int
    ) -> tuple[list[tuple[date, float, float, float, float, float]], list[int]]:
        """Bars of `minutes` through each regular session (13:30-20:00 UTC in summer)."""
        rows, stamps = [], []
        count = 390 // minutes
        for day, o, _, _, c, v in days:
            for k in range(count):
                a = round(o + (c - o) * k / count, 4)
                b = round(o + (c - o) * (k + 1) / count, 4)
                rows.append((day, a, max(a, b), min(a, b), b, float(int(v / count))))
                stamps.append(_epoch(day, 13, 30) + k * minutes * 60)
        return rows, stamps

    def _fault_not_found(self) -> tuple[int, bytes, dict[str, str]]:
        return self._json(
            {
                "chart": {
                    "result": None,
                    "error": {
                        "code": "Not Found",
                        "description": "No data found, symbol may be delisted",
                    },
                }
            },
            404,
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    market: FakeMarket


@dataclass
class FakeProviders:
    """A running fake server: `url` is its origin; the base URLs are what the settings take."""

    market: FakeMarket
    url: str

    @property
    def alphavantage_base_url(self) -> str:
        return self.url

    @property
    def coingecko_base_url(self) -> str:
        return f"{self.url}/api/v3"

    @property
    def yahoo_base_url(self) -> str:
        return self.url

    def env(self) -> dict[str, str]:
        """Settings that point every provider at this server."""
        return {
            "ALPHAVANTAGE_BASE_URL": self.alphavantage_base_url,
            "COINGECKO_BASE_URL": self.coingecko_base_url,
            "YAHOO_BASE_URL": self.yahoo_base_url,
        }


@contextmanager
def serve_fake_providers(market: FakeMarket | None = None) -> Iterator[FakeProviders]:
    """Run the fake providers on 127.0.0.1 (a free port) for the duration of the block."""
    market = market or FakeMarket()
    server = _Server(("127.0.0.1", 0), _Handler)
    server.market = market
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield FakeProviders(market, f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
