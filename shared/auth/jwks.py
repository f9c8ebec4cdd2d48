"""Signing keys of OIDC issuers: discovery → jwks_uri → keys, cached with a TTL."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from jwt import PyJWK
from jwt.exceptions import PyJWKError

from shared.errors import Unavailable

log = logging.getLogger("shared.auth.jwks")

SUPPORTED_KEY_TYPES = {"RSA", "EC"}


@dataclass
class _IssuerKeys:
    keys: dict[str, PyJWK] = field(default_factory=dict)
    fetched_at: float = float("-inf")


class JwksCache:
    """Keys per issuer. Fetched on first use, refetched after `ttl_seconds`, and refetched
    early when a token names an unknown kid, at most once per `refetch_seconds`."""

    def __init__(
        self,
        *,
        ttl_seconds: float = 3600,
        refetch_seconds: float = 30,
        timeout_seconds: float = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.refetch_seconds = refetch_seconds
        self.timeout_seconds = timeout_seconds
        self.clock = clock
        self.fetches = 0
        self._issuers: dict[str, _IssuerKeys] = {}
        self._locks: dict[tuple[int, str], asyncio.Lock] = {}

    async def key(self, issuer: str, kid: str | None) -> PyJWK | None:
        """The issuer's key named `kid` (or its only key when `kid` is None), else None."""
        entry = self._issuers.get(issuer)
        now = self.clock()
        if entry is None or now - entry.fetched_at >= self.ttl_seconds:
            entry = await self._refresh(issuer)
        found = self._pick(entry, kid)
        if found is None and now - entry.fetched_at >= self.refetch_seconds:
            entry = await self._refresh(issuer)
            found = self._pick(entry, kid)
        return found

    @staticmethod
    def _pick(entry: _IssuerKeys, kid: str | None) -> PyJWK | None:
        if kid is None:
            return next(iter(entry.keys.values())) if len(entry.keys) == 1 else None
        return entry.keys.get(kid)

    async def _refresh(self, issuer: str) -> _IssuerKeys:
        """Fetch the issuer's keys; concurrent callers share one fetch (per event loop)."""
        asked_at = self.clock()
        lock = self._locks.setdefault((id(asyncio.get_running_loop()), issuer), asyncio.Lock())
        async with lock:
            current = self._issuers.get(issuer)
            if current is not None and current.fetched_at >= asked_at:
                return current
            return await self._fetch_and_store(issuer)

    async def _fetch_and_store(self, issuer: str) -> _IssuerKeys:
        self.fetches += 1
        try:
            keys = await self._fetch(issuer)
        except (httpx.HTTPError, ValueError) as error:
            stale = self._issuers.get(issuer)
            if stale is not None and stale.keys:
                log.warning("JWKS refresh of %s failed (%s); keeping cached keys", issuer, error)
                stale.fetched_at = self.clock()
                return stale
            raise Unavailable(f"cannot fetch signing keys of issuer {issuer}: {error}") from None
        entry = _IssuerKeys(keys=keys, fetched_at=self.clock())
        self._issuers[issuer] = entry
        return entry

    async def _fetch(self, issuer: str) -> dict[str, PyJWK]:
        async with httpx.AsyncClient(timeout=self.timeout_seconds) as client:
            response = await client.get(issuer.rstrip("/") + "/.well-known/openid-configuration")
            response.raise_for_status()
            config: dict[str, Any] = response.json()
            if str(config.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
                raise ValueError(f"discovery document names issuer {config.get('issuer')!r}")
            jwks_uri = config.get("jwks_uri")
            if not isinstance(jwks_uri, str):
                raise ValueError("discovery document has no jwks_uri")
            response = await client.get(jwks_uri)
            response.raise_for_status()
            document: dict[str, Any] = response.json()
        keys: dict[str, PyJWK] = {}
        for index, jwk in enumerate(document.get("keys", [])):
            if jwk.get("kty") not in SUPPORTED_KEY_TYPES or jwk.get("use", "sig") != "sig":
                continue
            try:
                keys[str(jwk.get("kid", f"#{index}"))] = PyJWK(jwk)
            except PyJWKError as error:
                log.warning(
                    "issuer %s: skipping unusable key %s: %s", issuer, jwk.get("kid"), error
                )
        return keys
