"""Where the live feed's Web PubSub is: the configured service or the local host's stand-in."""

from __future__ import annotations

from shared.config import Settings


def local_connection_string(base_url: str, access_key: str) -> str:
    """The connection string of the local host's Web PubSub stand-in at `base_url`; its key
    is this install's own (`Settings.webpubsub_local_key`)."""
    return f"Endpoint={base_url.rstrip('/')};AccessKey={access_key};Version=1.0;"


def webpubsub_connection_string(settings: Settings) -> str | None:
    """WEBPUBSUB_CONNECTION_STRING, else the stand-in's when running locally, else None
    (then WEBPUBSUB_ENDPOINT with managed identity is used)."""
    if settings.webpubsub_connection_string:
        return settings.webpubsub_connection_string
    if settings.webpubsub_endpoint:
        return None
    if settings.environment in ("local", "ci"):
        return local_connection_string(settings.public_base_url, settings.webpubsub_local_key)
    return None


def parse_connection_string(connection_string: str) -> dict[str, str]:
    """`Endpoint=...;AccessKey=...` as a dict with lower-case keys."""
    parts: dict[str, str] = {}
    for segment in connection_string.split(";"):
        if segment.strip():
            key, _, value = segment.partition("=")
            parts[key.strip().lower()] = value.strip()
    return parts
