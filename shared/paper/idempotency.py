"""Idempotency-Key records (container `idempotency`, pk = caller account): the first result
of a keyed request, replayed to every retry so the action happens once."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.errors import Conflict, InvalidInput
from shared.storage.documents import Document, DocumentStore

CONTAINER = "idempotency"
PENDING_TAKEOVER = timedelta(minutes=2)


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any
    media_type: str


@dataclass(frozen=True)
class Claim:
    """This request owns the key. `ref` is stamped on what it creates; `recovered` means an
    earlier attempt died mid-way, so look for something already stamped with `ref`."""

    ref: str
    recovered: bool = False


def check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > 255 or not key.isprintable():
        raise InvalidInput("Idempotency-Key must be 1-255 printable characters")
    return key


class IdempotencyStore:
    def __init__(self, store: DocumentStore, ttl_seconds: int) -> None:
        self.store = store
        self.ttl_seconds = ttl_seconds

    @staticmethod
    def _id(scope: str, key: str) -> str:
        return hashlib.sha256(f"{scope}\n{key}".encode()).hexdigest()[:40]

    def begin(
        self, account: str, scope: str, key: str, request_hash: str
    ) -> Claim | StoredResponse:
        """Claim `key` for this request, or return the response of the request that did.

        `InvalidInput` (422) if the key was used for a different request; `Conflict` (409)
        while the first request is still running."""
        doc_id = self._id(scope, check_key(key))
        now = datetime.now(UTC)
        record = {
            "id": doc_id,
            "pk": account,
            "scope": scope,
            "requestHash": request_hash,
            "state": "pending",
            "createdAt": now.isoformat(),
            "ttl": self.ttl_seconds,
        }
        seen: dict[str, Any] = {}

        def claim(doc: Document) -> Document | None:
            seen.clear()
            if "state" not in doc:  # no record yet: claim the key
                return record
            if doc.get("requestHash") != request_hash:
                raise InvalidInput(
                    "this Idempotency-Key was already used for a different request; "
                    "use a new key for a new request"
                )
            if doc.get("state") == "done":
                seen["done"] = StoredResponse(doc["status"], doc["body"], doc.get("mediaType", ""))
                return None
            started = datetime.fromisoformat(doc["createdAt"])
            if now - started < PENDING_TAKEOVER:
                raise Conflict(
                    "a request with this Idempotency-Key is still in progress; retry shortly"
                )
            seen["recovered"] = True  # the first request died mid-way: take the key over
            return {**record, "createdAt": now.isoformat()}

        self.store.update(CONTAINER, doc_id, account, claim, default={"id": doc_id, "pk": account})
        if "done" in seen:
            done: StoredResponse = seen["done"]
            return done
        return Claim(ref=doc_id, recovered=bool(seen.get("recovered")))

    def complete(self, account: str, claim: Claim, status: int, body: Any, media_type: str) -> None:
        """Keep the response for the retries (`DocumentNotFound` if the claim expired)."""
        self.store.update(
            CONTAINER,
            claim.ref,
            account,
            lambda record: {
                **record,
                "state": "done",
                "status": status,
                "body": body,
                "mediaType": media_type,
            },
        )

    def abandon(self, account: str, claim: Claim) -> None:
        """Forget the claim (the request failed unexpectedly; a retry may run it again)."""
        self.store.delete(CONTAINER, claim.ref, account)
