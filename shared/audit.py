"""The append-only audit log: order transitions, sign-in denials, configuration changes,
backtest runs and operator actions.

Records live in the `audit` document container, partitioned by month (`pk` = yyyy-mm).
`AuditLog` only ever `create`s: there is no update or delete path, and an id collision is
an error rather than an overwrite. Admins read it through `GET /api/audit`.

Every record carries the request it came from (`RequestContext`): the id the server
generated for the request, and apart from it whatever the client sent as `X-Request-Id`.
The HTTP layer sets the context; code in `shared/` that audits (the paper broker) reads it.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field

from shared.api_model import ApiModel
from shared.storage.documents import DocumentStore, Filter, Page

log = logging.getLogger("shared.audit")

CONTAINER = "audit"
AuditKind = Literal["order", "auth", "config", "backtest", "ops"]


@dataclass(frozen=True)
class RequestContext:
    """The HTTP request being handled: the server's id for it and what the client sent."""

    request_id: str = ""
    client_request_id: str = ""
    method: str = ""
    path: str = ""


NO_REQUEST = RequestContext()
_request: ContextVar[RequestContext] = ContextVar("audit_request")


def current_request() -> RequestContext:
    """The request being handled (`NO_REQUEST` outside one: timers, CLI)."""
    return _request.get(NO_REQUEST)


@contextmanager
def request_context(context: RequestContext) -> Iterator[RequestContext]:
    """Run a block as part of `context`: audit records written in it carry its ids."""
    token = _request.set(context)
    try:
        yield context
    finally:
        _request.reset(token)


class AuditRecord(ApiModel):
    """One audit record."""

    id: str
    at: datetime = Field(description="When it happened (UTC).")
    kind: AuditKind
    action: str = Field(
        description="e.g. order.placed, order.cancelled, auth.denied, watchlist.updated, "
        "backtest.started, paper.matched, ops.backfill"
    )
    actor: str = Field(description="Account id of the caller ('' when anonymous).")
    account: str = Field("", description="Account that owns the target.")
    target: str = Field("", description="The resource acted on, e.g. paper/acct-1/ord-2.")
    outcome: str = Field("ok", description="ok, or the HTTP status / reason of a denial.")
    reason: str = ""
    request_id: str = Field(
        "", description="The id the server generated for the request (its X-Request-Id)."
    )
    client_request_id: str = Field(
        "", description="The X-Request-Id the client sent, if any (not trusted, kept apart)."
    )
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
        detail: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> AuditRecord:
        """Write one record; the request's ids, method and path come from `current_request`."""
        when = (at or datetime.now(UTC)).astimezone(UTC)
        request = current_request()
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
            request_id=request.request_id,
            client_request_id=request.client_request_id,
            method=request.method,
            path=request.path,
            detail=detail or {},
        )
        document = record.model_dump(mode="json", by_alias=True)
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


_FIELDS = {field.alias or name for name, field in AuditRecord.model_fields.items()}
"""A record document's keys: the model's camelCase aliases."""


class DenialLimiter:
    """Caps sign-in denial records at `per_minute` per process, so a flood of bad requests
    cannot flood the log. The excess is counted and handed to `report` as one number when
    its minute ends: a timer does it, so the summary is written even if no later denial
    ever arrives (a later denial in a new minute writes it at once if the timer has not)."""

    def __init__(
        self,
        per_minute: int,
        report: Callable[[int], None],
        *,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_minute = per_minute
        self.report = report
        self.window_seconds = window_seconds
        self.clock = clock
        self._window = -1
        self._count = 0
        self._suppressed = 0
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def admit(self) -> bool:
        """Whether to write this denial (False: counted into the next summary)."""
        due = 0
        with self._lock:
            window = int(self.clock() // self.window_seconds)
            if window != self._window:
                due = self._take()
                self._window, self._count = window, 0
            self._count += 1
            write = self._count <= self.per_minute
            if not write:
                self._suppressed += 1
                if self._timer is None:
                    delay = (window + 1) * self.window_seconds - self.clock()
                    self._timer = threading.Timer(max(delay, 0.0), self.flush)
                    self._timer.daemon = True
                    self._timer.start()
        if due:
            self._report(due)
        return write

    def flush(self) -> None:
        """Report what was suppressed so far (the timer calls it when the minute ends)."""
        with self._lock:
            due = self._take()
        if due:
            self._report(due)

    def _take(self) -> int:
        due, self._suppressed = self._suppressed, 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return due

    def _report(self, count: int) -> None:
        try:
            self.report(count)
        except Exception:
            log.exception("could not report %d suppressed denials", count)


def audit_log() -> AuditLog:
    """The audit log on the configured document store."""
    from shared.storage.factory import document_store

    return AuditLog(document_store())
