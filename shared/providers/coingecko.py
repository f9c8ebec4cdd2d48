"""CoinGecko: simple price, market chart, OHLC (aggregated to complete UTC days) and /ping."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from shared.market.models import Bar, Quote
from shared.market.symbols import Symbol
from shared.providers.base import ClientHooks
from shared.providers.errors import AuthRejected, BadResponse, InvalidSymbol, RateLimited
from shared.providers.http import get_json, make_client

PROVIDER = "coingecko"
CANDLES_PER_DAY = 6
"""With days=3..30 CoinGecko's /ohlc answers 4-hour candles stamped at their close."""


AUTH_CODES = frozenset({401, 10002, 10010, 10011})
"""CoinGecko's error codes for a missing or wrong key (docs: "Errors & Rate Limits")."""


def check_body(body: Any, what: str) -> Any:
    """A JSON error object (`{"status": {"error_code", "error_message"}}` or `{"error": ...}`)
    is never data, whatever the HTTP status it came with."""
    if not isinstance(body, dict):
        return body
    status = body.get("status")
    if isinstance(status, dict) and "error_code" in status:
        code = status.get("error_code")
        message = f"{what}: error {code}: {status.get('error_message') or ''}".rstrip(": ")
        if code == 429:
            raise RateLimited(PROVIDER, message)
        if code in AUTH_CODES:
            raise AuthRejected(PROVIDER, message)
        raise BadResponse(PROVIDER, message)
    if "error" in body and len(body) <= 2:
        raise BadResponse(PROVIDER, f"{what}: error: {str(body['error'])[:200]}")
    return body


def _ms(value: Any) -> datetime:
    return datetime.fromtimestamp(float(value) / 1000.0, tz=UTC)


def parse_simple_price(payload: Any, symbols: list[Symbol]) -> list[Quote]:
    """Quotes from /simple/price (with 24h change, 24h volume and last_updated_at)."""
    if not isinstance(payload, dict):
        raise BadResponse(
            PROVIDER, f"simple/price: expected an object, got {type(payload).__name__}"
        )
    quotes = []
    for symbol in symbols:
        coin = payload.get(symbol.coingecko or "")
        if not isinstance(coin, dict) or symbol.vs_currency not in coin:
            continue
        cur = symbol.vs_currency
        try:
            price = float(coin[cur])
            percent = coin.get(f"{cur}_24h_change")
            change = price - price / (1 + float(percent) / 100) if percent is not None else None
            updated = coin.get("last_updated_at")
            quotes.append(
                Quote(
                    symbol=symbol.text,
                    price=price,
                    change=change,
                    change_percent=float(percent) if percent is not None else None,
                    volume=float(coin[f"{cur}_24h_vol"]) if f"{cur}_24h_vol" in coin else None,
                    ts=datetime.fromtimestamp(int(updated), tz=UTC)
                    if updated
                    else datetime.now(UTC),
                    source=PROVIDER,
                )
            )
        except (TypeError, ValueError, ZeroDivisionError) as error:
            raise BadResponse(PROVIDER, f"simple/price {symbol}: {error}") from None
    return quotes


def parse_ohlc_daily(payload: Any, symbol: Symbol) -> list[Bar]:
    """Complete UTC days from 4-hour candles `[[ms_close, o, h, l, c], ...]`; partial days are
    left out (the next run completes them). CoinGecko's OHLC has no volume."""
    if not isinstance(payload, list):
        raise BadResponse(PROVIDER, f"ohlc {symbol}: expected a list, got {type(payload).__name__}")
    days: dict[datetime, list[tuple[datetime, float, float, float, float]]] = defaultdict(list)
    for row in payload:
        if not isinstance(row, list) or len(row) < 5:
            raise BadResponse(PROVIDER, f"ohlc {symbol}: bad candle {row!r}")
        try:
            closed = _ms(row[0])
            o, h, low, c = (float(v) for v in row[1:5])
        except (TypeError, ValueError) as error:
            raise BadResponse(PROVIDER, f"ohlc {symbol}: {error}") from None
        start = closed - timedelta(hours=4)
        day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        days[day].append((start, o, h, low, c))
    bars = []
    for day, candles in sorted(days.items()):
        starts = {candle[0] for candle in candles}
        if len(starts) < CANDLES_PER_DAY:
            continue
        candles.sort()
        bars.append(
            Bar(
                symbol=symbol.text,
                interval="1d",
                ts=day,
                open=candles[0][1],
                high=max(candle[2] for candle in candles),
                low=min(candle[3] for candle in candles),
                close=candles[-1][4],
                volume=None,
                source=PROVIDER,
                adjustment="none",
            )
        )
    return bars


def parse_market_chart(payload: Any, symbol: Symbol) -> list[tuple[datetime, float, float | None]]:
    """(time, price, total volume) points from /market_chart."""
    if not isinstance(payload, dict) or not isinstance(payload.get("prices"), list):
        raise BadResponse(PROVIDER, f"market_chart {symbol}: no 'prices' list")
    volumes = {int(row[0]): float(row[1]) for row in payload.get("total_volumes") or []}
    try:
        return [(_ms(row[0]), float(row[1]), volumes.get(int(row[0]))) for row in payload["prices"]]
    except (TypeError, ValueError, IndexError) as error:
        raise BadResponse(PROVIDER, f"market_chart {symbol}: {error}") from None


class CoinGeckoClient:
    """CoinGecko v3 over httpx with the demo or pro key header."""

    provider = PROVIDER

    def __init__(
        self,
        *,
        base_url: str,
        timeout: float,
        hooks: ClientHooks,
        api_key: str | None = None,
        key_kind: str = "demo",
        http: httpx.Client | None = None,
    ) -> None:
        headers = {f"x-cg-{key_kind}-api-key": api_key} if api_key else {}
        self.hooks = hooks
        self.key = api_key or ""
        self._http = http or make_client(base_url=base_url, timeout=timeout, headers=headers)

    def close(self) -> None:
        self._http.close()

    def _get(self, path: str, params: dict[str, str], what: str) -> Any:
        return check_body(self._fetch(path, params, what), what)

    def _fetch(self, path: str, params: dict[str, str], what: str) -> Any:
        return get_json(
            self._http,
            PROVIDER,
            path,
            params,
            what=what,
            policy=self.hooks.policy,
            limiter=self.hooks.limiter_for(self.key),
            raw_sink=self.hooks.raw_sink,
        )

    def ping(self) -> str:
        body = self._get("/ping", {}, "ping")
        if not isinstance(body, dict) or "gecko_says" not in body:
            raise BadResponse(PROVIDER, f"ping: unexpected answer {str(body)[:100]}")
        return str(body["gecko_says"])

    def simple_price(self, symbols: list[Symbol]) -> list[Quote]:
        coins = [s for s in symbols if s.coingecko]
        if not coins:
            return []
        payload = self._get(
            "/simple/price",
            {
                "ids": ",".join(sorted({s.coingecko or "" for s in coins})),
                "vs_currencies": ",".join(sorted({s.vs_currency for s in coins})),
                "include_24hr_vol": "true",
                "include_24hr_change": "true",
                "include_last_updated_at": "true",
            },
            "simple_price",
        )
        return parse_simple_price(payload, coins)

    def daily_ohlc(self, symbol: Symbol, days: int = 30) -> list[Bar]:
        coin = self._coin(symbol)
        payload = self._get(
            f"/coins/{coin}/ohlc", {"vs_currency": symbol.vs_currency, "days": str(days)}, "ohlc"
        )
        return parse_ohlc_daily(payload, symbol)

    def market_chart(
        self, symbol: Symbol, days: int = 30
    ) -> list[tuple[datetime, float, float | None]]:
        coin = self._coin(symbol)
        payload = self._get(
            f"/coins/{coin}/market_chart",
            {"vs_currency": symbol.vs_currency, "days": str(days)},
            "market_chart",
        )
        return parse_market_chart(payload, symbol)

    def _coin(self, symbol: Symbol) -> str:
        if not symbol.coingecko:
            raise InvalidSymbol(PROVIDER, f"{symbol} has no CoinGecko coin id")
        return symbol.coingecko
