"""The append-only audit log: order actions, sign-in denials and configuration changes.

Records live in the `audit` document container, partitioned by month (`pk` = yyyy-mm).
`AuditLog` only ever `create`s: there is no update or delete path, and an id collision is
an error rather than an overwrite. Admins read it through `GET /api/audit`.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field

from shared.api_model import ApiModel
from shared.storage.documents import DocumentStore, Filter, Page

log = logging.getLogger("shared.audit")

CONTAINER = "audit"
AuditKind = Literal["order", "auth", "config"]


class AuditRecord(ApiModel):
    """One audit record."""

    id: str
    at: datetime = Field(description="When it happened (UTC).")
    kind: AuditKind
    action: str = Field(description="e.g. order.placed, auth.denied, watchlist.updated")
    actor: str = Field(description="Account id of the caller ('' when anonymous).")
    account: str = Field("", description="Account that owns the target.")
    target: str = Field("", description="The resource acted on, e.g. paper/acct-1/ord-2.")
    outcome: str = Field("ok", description="ok, or the HTTP status / reason of a denial.")
    reason: str = ""
    request_id: str = ""
    method: str = ""
    path: str = ""
    detail: dict[str, Any] = Field(default_factory=dict)


def month_of(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m")


class AuditLog:
    """Appends and reads audit records; it cannot change or remove one."""

    def __init__(self, store: DocumentStore) -> None:
        self.store = store

    def append(
        self,
        kind: AuditKind,
        action: str,
        *,
        actor: str,
        account: str = "",
        target: str = "",
        outcome: str = "ok",
        reason: str = "",
        request_id: str = "",
        method: str = "",
        path: str = "",
        detail: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> AuditRecord:
        when = (at or datetime.now(UTC)).astimezone(UTC)
        record = AuditRecord(
            id=f"{when.strftime('%Y%m%dT%H%M%S%fZ')}-{uuid.uuid4().hex[:12]}",
            at=when,
            kind=kind,
            action=action,
            actor=actor,
            account=account,
            target=target,
            outcome=outcome,
            reason=reason,
            request_id=request_id,
            method=method,
            path=path,
            detail=detail or {},
        )
        document = record.model_dump(mode="json")
        document["pk"] = month_of(when)
        self.store.create(CONTAINER, document)
        return record

    def try_append(self, kind: AuditKind, action: str, **fields: Any) -> AuditRecord | None:
        """`append`, logging instead of raising (for paths that must not fail on audit)."""
        try:
            return self.append(kind, action, **fields)
        except Exception:
            log.exception("could not write audit record %s %s", kind, action)
            return None

    def page(
        self,
        month: str,
        *,
        kind: AuditKind | None = None,
        account: str | None = None,
        limit: int = 50,
        continuation: str | None = None,
    ) -> tuple[list[AuditRecord], str | None]:
        """Records of `month` (yyyy-mm), newest first."""
        filters = []
        if kind:
            filters.append(Filter("kind", "=", kind))
        if account:
            filters.append(Filter("account", "=", account))
        page: Page = self.store.query(
            CONTAINER,
            month,
            filters,
            order_by="id",
            descending=True,
            limit=limit,
            continuation=continuation,
        )
        records = [
            AuditRecord.model_validate({k: v for k, v in item.items() if k in _FIELDS})
            for item in page.items
        ]
        return records, page.continuation


_FIELDS = set(AuditRecord.model_fields)


class DenialLimiter:
    """Caps sign-in denial records at `per_minute` per process, so a flood of bad requests
    cannot flood the log: the excess is counted and reported in one summary record."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._window = -1
        self._count = 0
        self._suppressed = 0
        self._lock = threading.Lock()

    def admit(self) -> tuple[bool, int]:
        """(write this denial?, denials suppressed in an earlier minute to report now)."""
        with self._lock:
            window = int(self.clock() // 60)
            report = 0
            if window != self._window:
                report, self._suppressed = self._suppressed, 0
                self._window, self._count = window, 0
            self._count += 1
            if self._count > self.per_minute:
                self._suppressed += 1
                return False, report
            return True, report


def audit_log() -> AuditLog:
    """The audit log on the configured document store."""
    from shared.storage.factory import document_store

    return AuditLog(document_store())
