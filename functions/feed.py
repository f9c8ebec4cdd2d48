"""Live feed routes: GET /api/feed/negotiate (a Web PubSub client URL) and /api/feed/page."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import azure.functions as func
from pydantic import Field, field_validator

from functions.http import QueryModel, endpoint, json_response, parse_query
from shared.api_model import ApiModel
from shared.auth.caller import Caller
from shared.config import Settings, get_settings
from shared.errors import InvalidInput, Unavailable
from shared.feed.connection import webpubsub_connection_string
from shared.feed.groups import ALL_TICKS_GROUP, group_for, join_role
from shared.market.symbols import parse_symbols
from shared.storage.factory import document_store
from shared.watchlists import WatchlistStore, watched_by

bp = func.Blueprint()
TAGS = ("feed",)
MAX_SYMBOLS = 100
SUBPROTOCOL = "json.webpubsub.azure.v1"
PAGE = (Path(__file__).parent / "feed_page.html").read_text(encoding="utf-8")


class NegotiateQuery(QueryModel):
    """Which groups the client may join: one watchlist, listed symbols, or (neither) the
    caller's watchlists plus DEFAULT_SYMBOLS."""

    watchlist: str | None = Field(None, max_length=64, description="A watchlist id of mine.")
    symbols: str | None = Field(None, max_length=2000, description="Comma-separated symbols.")
    all: bool = Field(False, description="Also allow the all-ticks group `ticks._all`.")

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_symbols(value)
            except InvalidInput as error:
                raise ValueError(error.detail) from None
        return value


class FeedNegotiation(ApiModel):
    """Where and how to connect: open `url` with the `protocol` subprotocol, then send
    `joinGroup` for each of `groups` (the token allows exactly those)."""

    url: str = Field(description="wss://.../client/hubs/<hub>?access_token=...")
    base_url: str
    hub: str
    protocol: str = SUBPROTOCOL
    symbols: list[str]
    groups: list[str]
    expires_at: datetime


def _symbols_for(caller: Caller, query: NegotiateQuery, settings: Settings) -> list[str]:
    if query.watchlist:
        return WatchlistStore(document_store()).get(caller, query.watchlist).symbols
    if query.symbols:
        return [symbol.text for symbol in parse_symbols(query.symbols)]
    watched = watched_by(document_store(), caller.account_id)
    return list(dict.fromkeys([*settings.default_symbols, *watched]))


async def client_access(
    settings: Settings, user_id: str, roles: list[str], minutes: int
) -> dict[str, str]:
    """`{baseUrl, token, url}` from the service SDK (key: signed locally; else via Entra ID)."""
    from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient

    connection_string = webpubsub_connection_string(settings)
    if connection_string:
        client = WebPubSubServiceClient.from_connection_string(
            connection_string, hub=settings.webpubsub_hub
        )
        credential = None
    elif settings.webpubsub_endpoint:
        from azure.identity.aio import DefaultAzureCredential

        credential = DefaultAzureCredential()
        client = WebPubSubServiceClient(
            settings.webpubsub_endpoint, settings.webpubsub_hub, credential
        )
    else:
        raise Unavailable("the live feed is not configured: set WEBPUBSUB_ENDPOINT")
    try:
        token = await client.get_client_access_token(
            user_id=user_id or None, roles=roles, minutes_to_expire=minutes
        )
    finally:
        await client.close()
        if credential is not None:
            await credential.close()
    return {key: str(value) for key, value in token.items()}


@bp.function_name("feed_negotiate")
@bp.route(route="feed/negotiate", methods=["GET"])
@endpoint(
    role="viewer",
    summary="A short-lived Web PubSub client URL that may join only ticks.<SYMBOL> groups",
    query=NegotiateQuery,
    response=FeedNegotiation,
    errors=(404, 422, 503),
    tags=TAGS,
)
async def feed_negotiate(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    query = parse_query(req, NegotiateQuery)
    settings = get_settings()
    symbols = await asyncio.to_thread(_symbols_for, caller, query, settings)
    if len(symbols) > MAX_SYMBOLS:
        raise InvalidInput(f"{len(symbols)} symbols; the feed allows at most {MAX_SYMBOLS}")
    try:
        groups = [group_for(symbol) for symbol in symbols]
    except ValueError as error:  # a stored watchlist symbol today's rules refuse
        raise InvalidInput(str(error)) from None
    if query.all:
        groups.append(ALL_TICKS_GROUP)
    minutes = settings.feed_token_minutes
    roles = [join_role(group) for group in groups]
    token = await client_access(settings, caller.account_id, roles, minutes)
    body = FeedNegotiation(
        url=token["url"],
        base_url=token["baseUrl"],
        hub=settings.webpubsub_hub,
        symbols=symbols,
        groups=groups,
        expires_at=datetime.now(UTC) + timedelta(minutes=minutes),
    )
    return json_response(body, headers={"Cache-Control": "no-store"})


@bp.function_name("feed_page")
@bp.route(route="feed/page", methods=["GET"])
@endpoint(role=None, summary="A demo page showing live trades with a sparkline", tags=TAGS)
async def feed_page(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    return func.HttpResponse(PAGE, status_code=200, mimetype="text/html", charset="utf-8")
