"""Provider health from the sync state: ok / degraded / down per provider, freshness per symbol."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.config import Settings
from shared.ingest.state import AUTH, PAUSE, PING, PSEUDO_SYMBOLS
from shared.market.models import INGEST_PROVIDERS
from shared.storage.documents import Document

PROVIDER_NAMES = (*INGEST_PROVIDERS, "finnhub")


def _enabled(settings: Settings, provider: str) -> bool:
    if provider == "alphavantage":
        return bool(settings.alphavantage_api_keys)
    if provider == "yahoo":
        return settings.yahoo_enabled
    if provider == "sample":
        return settings.sample_data_enabled and not settings.alphavantage_api_keys
    if provider == "finnhub":
        return settings.relay_enabled
    return True


DISABLED_BECAUSE = {
    "alphavantage": "no Alpha Vantage key (ALPHAVANTAGE_API_KEYS)",
    "yahoo": "YAHOO_ENABLED is false",
    "sample": "SAMPLE_DATA_ENABLED is false, or an Alpha Vantage key is set",
    "finnhub": "no Finnhub key: the relay is deployed with zero replicas (RELAY_ENABLED false); "
    "azd env set FINNHUB_API_KEYS <key>, then azd provision",
}


def _pseudo(states: list[Document], provider: str, symbol: str) -> Document | None:
    return next(
        (d for d in states if d.get("provider") == provider and d.get("symbol") == symbol), None
    )


def _age(now: datetime, stamp: object) -> float | None:
    if not isinstance(stamp, str):
        return None
    return round((now - datetime.fromisoformat(stamp)).total_seconds(), 3)


def provider_health(settings: Settings, states: list[Document], now: datetime) -> dict[str, Any]:
    """The body of GET /api/health/providers."""
    providers = []
    for name in PROVIDER_NAMES:
        docs = [
            d for d in states if d.get("provider") == name and d.get("symbol") not in PSEUDO_SYMBOLS
        ]
        ping = _pseudo(states, name, PING)
        pause = _pseudo(states, name, PAUSE)
        refused = [
            d
            for d in states
            if d.get("provider") == name
            and d.get("symbol") == AUTH
            and int(d.get("consecutiveFailures") or 0) > 0
        ]
        paused_until = pause.get("until") if pause is not None else None
        if paused_until and datetime.fromisoformat(str(paused_until)) <= now:
            paused_until = None
        auth_rejected = bool(refused)
        failing = [d for d in docs if int(d.get("consecutiveFailures") or 0) > 0]
        ping_down = ping is not None and int(ping.get("consecutiveFailures") or 0) > 0
        if not _enabled(settings, name):
            status = "disabled"
        elif auth_rejected:
            status = "down"
        elif not docs and ping is None and not paused_until:
            status = "unknown"
        elif ping_down or (docs and len(failing) == len(docs)):
            status = "down"
        elif failing or paused_until:
            status = "degraded"
        else:
            status = "ok"
        successes = [
            str(d["lastSuccess"])
            for d in [*docs, *([ping] if ping else [])]
            if d.get("lastSuccess")
        ]
        errors = sorted(
            (d for d in [*docs, *([ping] if ping else [])] if d.get("lastErrorAt")),
            key=lambda d: str(d["lastErrorAt"]),
        )
        last_error = errors[-1] if errors else None
        notices = sorted({str(d["lastNotice"]) for d in docs if d.get("lastNotice")})
        providers.append(
            {
                "provider": name,
                "status": status,
                "disabledReason": DISABLED_BECAUSE.get(name) if status == "disabled" else None,
                "pausedUntil": paused_until,
                "pauseReason": pause.get("reason") if paused_until and pause else None,
                "authRejected": auth_rejected,
                "authError": refused[0].get("lastError") if refused else None,
                "notices": notices,
                "lastSuccess": max(successes) if successes else None,
                "lastError": last_error.get("lastError") if last_error else None,
                "lastErrorAt": last_error.get("lastErrorAt") if last_error else None,
                "ping": None
                if ping is None
                else {
                    "lastSuccess": ping.get("lastSuccess"),
                    "consecutiveFailures": ping.get("consecutiveFailures", 0),
                },
                "symbols": [
                    {
                        "symbol": d.get("symbol"),
                        "interval": d.get("interval"),
                        "lastBar": d.get("lastBar"),
                        "lastSuccess": d.get("lastSuccess"),
                        "consecutiveFailures": d.get("consecutiveFailures", 0),
                        "lastError": d.get("lastError"),
                        "lastErrorKind": d.get("lastErrorKind"),
                        "retryAt": d.get("retryAt"),
                        "lastMergeRefusal": d.get("lastMergeRefusal"),
                        "secondsSinceSuccess": _age(now, d.get("lastSuccess")),
                        "secondsSinceLastBar": _age(now, d.get("lastBar")),
                    }
                    for d in sorted(
                        docs, key=lambda d: (str(d.get("symbol")), str(d.get("interval")))
                    )
                ],
            }
        )
    overall = "ok"
    active = [p for p in providers if p["status"] not in ("disabled", "unknown")]
    if any(p["status"] != "ok" for p in active):
        overall = "degraded"
    if active and all(p["status"] == "down" for p in active):
        overall = "down"
    return {"status": overall, "checkedAt": now.isoformat(), "providers": providers}
