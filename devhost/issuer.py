"""The dev OIDC issuer as a host plugin: discovery and JWKS under {PUBLIC_BASE_URL}/dev-issuer.

Only served when dev auth is on (ENVIRONMENT local/ci). In-process validation reads the key
file directly; these routes let other tools (and other OIDC clients) fetch the keys.
"""

from __future__ import annotations

from aiohttp import web

from devhost.plugins import Plugin, PluginHost
from shared.auth import dev_issuer
from shared.config import get_settings


class DevIssuerPlugin(Plugin):
    name = "dev-issuer"

    def setup(self, host: PluginHost, app: web.Application) -> None:
        settings = get_settings()
        if not settings.dev_auth:
            return
        dev_issuer.dev_key(settings)

        async def discovery(request: web.Request) -> web.Response:
            jwks_uri = f"{host.base_url}/dev-issuer/jwks"
            return web.json_response(dev_issuer.discovery(get_settings(), jwks_uri))

        async def jwks(request: web.Request) -> web.Response:
            return web.json_response(
                dev_issuer.jwks(get_settings()), headers={"Cache-Control": "max-age=300"}
            )

        app.router.add_get("/dev-issuer/.well-known/openid-configuration", discovery)
        app.router.add_get("/dev-issuer/jwks", jwks)


def create_plugin() -> Plugin:
    return DevIssuerPlugin()
