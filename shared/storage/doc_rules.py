"""Rules every `DocumentStore` adapter enforces alike: names, keys, field paths, TTL."""

from __future__ import annotations

import re
from typing import Any

from shared.errors import InvalidInput
from shared.storage.documents import CONTAINERS, Document, Filter

FIELD_SEGMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CONTAINER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
SYSTEM_FIELDS = ("_etag", "_ts")
FILTER_OPS = ("=", "!=", "<", "<=", ">", ">=", "in", "contains")


def check_container(container: str) -> str:
    if not CONTAINER_NAME.match(container):
        raise InvalidInput(f"container name {container!r} must be 1-63 letters, digits, '_' or '-'")
    return container


def field_segments(field: str) -> list[str]:
    """`a.b.c` as segments; each must be an identifier (keeps SQL text injection-free)."""
    parts = field.split(".")
    if not all(FIELD_SEGMENT.match(part) for part in parts):
        raise InvalidInput(f"field {field!r} must be dotted identifiers like 'a' or 'a.b'")
    return parts


def check_key(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"document {what} must be a non-empty string")
    if any(ch in value for ch in "/\\?#") or len(value) > 255:
        raise InvalidInput(f"document {what} {value!r} must be <=255 chars without / \\ ? #")
    return value


def check_item(item: Document) -> Document:
    """A copy of `item` without system fields, after checking `id`, `pk` and `ttl`."""
    if not isinstance(item, dict):
        raise InvalidInput("a document must be a JSON object")
    check_key(item.get("id"), "id")
    check_key(item.get("pk"), "pk")
    ttl = item.get("ttl")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl == 0):
        raise InvalidInput("document ttl must be a positive integer (seconds) or -1")
    if isinstance(ttl, int) and ttl < -1:
        raise InvalidInput("document ttl must be a positive integer (seconds) or -1")
    return {key: value for key, value in item.items() if key not in SYSTEM_FIELDS}


def check_query(filters: list[Filter] | None, limit: int | None) -> list[Filter]:
    """The filters and page size of a query, checked alike by every adapter."""
    if limit is not None and limit < 1:
        raise InvalidInput("limit must be at least 1")
    return check_filters(filters)


def check_filters(filters: list[Filter] | None) -> list[Filter]:
    for item in filters or []:
        field_segments(item.field)
        if item.op not in FILTER_OPS:
            raise InvalidInput(f"filter op {item.op!r} is not one of {', '.join(FILTER_OPS)}")
        if item.op == "in" and not isinstance(item.value, list | tuple):
            raise InvalidInput(f"filter 'in' on {item.field!r} needs a list")
    return list(filters or [])


def effective_ttl(container: str, item: Document) -> int | None:
    """Seconds until the item expires after its last write, or None (never), as in Cosmos:
    the container's default TTL (None = TTL off) unless the item's own `ttl` overrides it."""
    spec = CONTAINERS.get(container)
    default = spec.default_ttl if spec else -1
    if default is None:
        return None
    ttl = item.get("ttl", default)
    if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 0:
        return None
    return ttl
