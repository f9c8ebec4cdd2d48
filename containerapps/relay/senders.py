"""Senders of one JSON message to one Web PubSub group: the lean REST sender and the SDK's.

`RestSender` is the relay's default: the REST call `POST /api/hubs/{hub}/groups/{group}/:send`
over `KeepAlivePool`, authorized either with an AccessKey (an HS256 JWT per request URL, the
token the SDK's JwtCredentialPolicy mints) or with Entra ID (a bearer token for
`https://webpubsub.azure.com/.default` from an azure-identity credential, as the SDK's
BearerTokenCredentialPolicy gets it). `WebPubSubSender` sends through
azure-messaging-webpubsubservice's own pipeline (RELAY_WEBPUBSUB_CLIENT=sdk): the same call
at about eight times the CPU per message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol
from urllib.parse import quote, urlsplit

import jwt
import stamina
from azure.core.credentials_async import AsyncTokenCredential

from containerapps.relay.http_pool import KeepAlivePool
from shared.feed.connection import parse_connection_string

log = logging.getLogger("containerapps.relay.senders")

API_VERSION = "2024-12-01"
ENTRA_SCOPE = "https://webpubsub.azure.com/.default"


class GroupSender(Protocol):
    """Sends one JSON text message to one Web PubSub group."""

    async def send_to_group(self, group: str, payload: str) -> None: ...

    async def close(self) -> None: ...


class WebPubSubSendError(Exception):
    """Web PubSub answered a group send with something other than 202."""


class _RetryableStatusError(WebPubSubSendError):
    pass


def _status_error(status: int, text: str) -> WebPubSubSendError:
    kind = _RetryableStatusError if status == 429 or status >= 500 else WebPubSubSendError
    return kind(f"Web PubSub answered HTTP {status}: {text}")


def _retryable(error: Exception) -> bool:
    return isinstance(error, (_RetryableStatusError, ConnectionError))


class Authorizer(Protocol):
    """The `Authorization` header value for a request to `url`."""

    async def header(self, url: str) -> str: ...

    async def close(self) -> None: ...


class AccessKeyTokens:
    """HS256 JWTs signed with the AccessKey, `aud` = the request URL; one cached per URL."""

    TOKEN_SECONDS = 600
    RENEW_BEFORE_SECONDS = 120

    def __init__(self, access_key: str) -> None:
        self.access_key = access_key
        self.tokens: dict[str, tuple[float, str]] = {}

    def token_for(self, url: str) -> str:
        now = time.time()
        cached = self.tokens.get(url)
        if cached is not None and cached[0] - now > self.RENEW_BEFORE_SECONDS:
            return cached[1]
        expires = now + self.TOKEN_SECONDS
        token = jwt.encode({"aud": url, "exp": int(expires)}, self.access_key, algorithm="HS256")
        self.tokens[url] = (expires, token)
        return token

    async def header(self, url: str) -> str:
        return f"Bearer {self.token_for(url)}"

    async def close(self) -> None:
        return None


class EntraTokens:
    """One Entra ID bearer token for every URL, renewed five minutes before it expires.

    One renewal at a time, however many sends wait for it; if a renewal fails while the
    current token is still good for a while, sends keep using it (and the next one retries)."""

    RENEW_BEFORE_SECONDS = 300
    STILL_GOOD_SECONDS = 30

    def __init__(self, credential: AsyncTokenCredential) -> None:
        self.credential = credential
        self._token = ""
        self._expires = 0.0
        self._renewing = asyncio.Lock()

    async def header(self, url: str) -> str:
        if self._expires - time.time() > self.RENEW_BEFORE_SECONDS:
            return f"Bearer {self._token}"
        async with self._renewing:
            left = self._expires - time.time()
            if left > self.RENEW_BEFORE_SECONDS:
                return f"Bearer {self._token}"
            try:
                access = await self.credential.get_token(ENTRA_SCOPE)
            except Exception as error:
                if left <= self.STILL_GOOD_SECONDS:
                    raise
                log.warning(
                    "renewing the Web PubSub token failed (%s); %.0f s left on it", error, left
                )
                return f"Bearer {self._token}"
            self._token, self._expires = access.token, float(access.expires_on)
        return f"Bearer {self._token}"

    async def close(self) -> None:
        await self.credential.close()


class RestSender:
    """`GroupSender` over Web PubSub's REST API with `KeepAlivePool`.

    Connection errors and 429/5xx answers are retried (stamina), like the SDK's retry policy;
    a timeout is not (the message may have gone out)."""

    def __init__(
        self,
        endpoint: str,
        hub: str,
        auth: Authorizer,
        *,
        attempts: int = 3,
        request_timeout: float = 5.0,
        connections: int = 64,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.hub = hub
        self.auth = auth
        self.attempts = attempts
        self.pool = KeepAlivePool(self.endpoint, limit=connections, request_timeout=request_timeout)
        split = urlsplit(self.endpoint)
        self._origin = f"{split.scheme}://{split.netloc}"
        self._base_path = f"{split.path}/api/hubs/{quote(hub, safe='')}"

    @classmethod
    def from_connection_string(cls, connection_string: str, hub: str) -> RestSender:
        parts = parse_connection_string(connection_string)
        endpoint, key = parts.get("endpoint", ""), parts.get("accesskey", "")
        if not endpoint or not key:
            raise ValueError("a Web PubSub connection string needs Endpoint= and AccessKey=")
        if parts.get("port"):
            split = urlsplit(endpoint)
            endpoint = f"{split.scheme}://{split.hostname}:{parts['port']}{split.path}"
        return cls(endpoint, hub, AccessKeyTokens(key))

    @classmethod
    def from_endpoint(cls, endpoint: str, hub: str) -> RestSender:
        """Managed identity (DefaultAzureCredential) against a Web PubSub endpoint."""
        from azure.identity.aio import DefaultAzureCredential

        return cls(endpoint, hub, EntraTokens(DefaultAzureCredential()))

    async def send_to_group(self, group: str, payload: str) -> None:
        target = f"{self._base_path}/groups/{quote(group, safe='')}/:send?api-version={API_VERSION}"
        body = payload.encode()
        try:
            await self._post(target, body)
        except Exception as error:
            if not _retryable(error) or self.attempts <= 1:
                raise
            async for attempt in stamina.retry_context(
                on=_retryable, attempts=self.attempts - 1, wait_initial=0.05, wait_max=1.0
            ):
                with attempt:
                    await self._post(target, body)

    async def _post(self, target: str, body: bytes) -> None:
        headers = {
            "Authorization": await self.auth.header(self._origin + target),
            "Content-Type": "application/json",
        }
        reply = await self.pool.post(target, headers, body)
        if reply.status != 202:
            raise _status_error(reply.status, reply.body[:200].decode("utf-8", "replace"))

    async def close(self) -> None:
        await self.pool.close()
        await self.auth.close()


class WebPubSubSender:
    """`GroupSender` over azure-messaging-webpubsubservice's async client.

    It sends the pre-encoded JSON through the client's own pipeline (`send_request`: the
    same URL, api-version, JWT or Entra ID auth, retries) as one in-memory body. The typed
    `send_to_group` would either re-encode a dict or stream a file-like body, and a streamed
    body costs a TCP round trip stall per call (about 3x fewer calls per second here).
    """

    API_VERSION = API_VERSION

    def __init__(self, client: object, hub: str) -> None:
        self.client = client
        self.hub = hub

    @classmethod
    def from_connection_string(cls, connection_string: str, hub: str) -> WebPubSubSender:
        from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient

        client = WebPubSubServiceClient.from_connection_string(connection_string, hub=hub)
        return cls(client, hub)

    @classmethod
    def from_endpoint(cls, endpoint: str, hub: str) -> WebPubSubSender:
        """Managed identity (DefaultAzureCredential) against a Web PubSub endpoint."""
        from azure.identity.aio import DefaultAzureCredential
        from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient

        return cls(WebPubSubServiceClient(endpoint, hub, DefaultAzureCredential()), hub)

    async def send_to_group(self, group: str, payload: str) -> None:
        from azure.core.exceptions import HttpResponseError
        from azure.core.rest import HttpRequest

        path = f"/api/hubs/{quote(self.hub, safe='')}/groups/{quote(group, safe='')}/:send"
        request = HttpRequest(
            "POST",
            f"{path}?api-version={self.API_VERSION}",
            content=payload.encode(),
            headers={"Content-Type": "application/json"},
        )
        response = await self.client.send_request(request)  # type: ignore[attr-defined]
        if response.status_code != 202:
            raise HttpResponseError(response=response)

    async def close(self) -> None:
        await self.client.close()  # type: ignore[attr-defined]
