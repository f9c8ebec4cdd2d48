"""A real OIDC issuer on 127.0.0.1 for tests: discovery, JWKS, key rotation and minting."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


@dataclass
class IssuerKey:
    kid: str
    alg: str
    private_key: Any
    published: bool = True

    def jwk(self) -> dict[str, Any]:
        public = self.private_key.public_key()
        algo = RSAAlgorithm if self.alg == "RS256" else ECAlgorithm
        data: dict[str, Any] = algo.to_jwk(public, as_dict=True)
        data.update(kid=self.kid, use="sig", alg=self.alg)
        return data


@dataclass
class LocalIssuer:
    """An issuer served by aiohttp; `jwks_hits` counts JWKS downloads."""

    audience: str
    keys: list[IssuerKey] = field(default_factory=list)
    url: str = ""
    jwks_hits: int = 0
    discovery_hits: int = 0
    _runner: web.AppRunner | None = None

    def add_key(self, kid: str, alg: str = "RS256", *, published: bool = True) -> IssuerKey:
        private: Any = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if alg == "RS256"
            else ec.generate_private_key(ec.SECP256R1())
        )
        key = IssuerKey(kid=kid, alg=alg, private_key=private, published=published)
        self.keys.append(key)
        return key

    def key(self, kid: str) -> IssuerKey:
        return next(k for k in self.keys if k.kid == kid)

    def mint(
        self,
        kid: str,
        *,
        sub: str = "carol",
        roles: Any = ("trader",),
        iss: str | None = None,
        aud: str | None = None,
        exp_in: float = 600,
        nbf_in: float = 0,
        extra: dict[str, Any] | None = None,
        headers: dict[str, Any] | None = None,
    ) -> str:
        key = self.key(kid)
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": iss or self.url,
            "aud": aud or self.audience,
            "sub": sub,
            "roles": list(roles) if isinstance(roles, tuple | list) else roles,
            "iat": now,
            "nbf": now + int(nbf_in),
            "exp": now + int(exp_in),
            **(extra or {}),
        }
        return jwt.encode(
            claims, key.private_key, algorithm=key.alg, headers={"kid": kid, **(headers or {})}
        )

    async def _discovery(self, request: web.Request) -> web.Response:
        self.discovery_hits += 1
        return web.json_response({"issuer": self.url, "jwks_uri": f"{self.url}/keys"})

    async def _jwks(self, request: web.Request) -> web.Response:
        self.jwks_hits += 1
        return web.json_response({"keys": [k.jwk() for k in self.keys if k.published]})

    async def start(self) -> LocalIssuer:
        app = web.Application()
        app.router.add_get("/tenant/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/tenant/keys", self._jwks)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/tenant"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
