"""Account scoping of documents: callers see their own; admins see every account's."""

from __future__ import annotations

from shared.auth.caller import Caller
from shared.storage.documents import Document, DocumentNotFound, DocumentStore, Filter, Page


def read_owned(
    store: DocumentStore, container: str, id: str, caller: Caller, what: str
) -> Document:
    """The document `id` if the caller may see it; `NotFound` otherwise (another account's
    resource is indistinguishable from a missing one)."""
    if not caller.is_admin:
        try:
            return store.read(container, id, caller.account_id)
        except DocumentNotFound:
            raise DocumentNotFound(f"{what} {id!r} not found") from None
    page = store.query(container, None, [Filter("id", "=", id)], limit=1)
    if not page.items:
        raise DocumentNotFound(f"{what} {id!r} not found")
    return page.items[0]


def list_scope(caller: Caller, account: str | None) -> str | None:
    """The partition a list query covers: the caller's own; admins choose one or all (None)."""
    if caller.is_admin:
        return account or None
    return caller.account_id


def owned_page(
    store: DocumentStore,
    container: str,
    caller: Caller,
    account: str | None,
    filters: list[Filter] | None = None,
    *,
    limit: int,
    continuation: str | None,
) -> Page:
    """One page, oldest first, of the documents the caller may list (see `list_scope`)."""
    return store.query(
        container,
        list_scope(caller, account),
        filters,
        order_by="createdAt",
        limit=limit,
        continuation=continuation,
    )
