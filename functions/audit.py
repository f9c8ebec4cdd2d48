"""GET /api/audit: the append-only audit log, for admins."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime

import azure.functions as func
from pydantic import Field, field_validator

from functions.http import ListQuery, Page, Routes, page_response
from shared.audit import AuditKind, AuditRecord, audit_log
from shared.auth.caller import Caller

bp = func.Blueprint()
route = Routes(bp)

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class AuditQuery(ListQuery):
    month: str | None = Field(
        None, description="yyyy-mm (UTC); defaults to the current month.", examples=["2026-11"]
    )
    kind: AuditKind | None = Field(None, description="order, auth or config.")
    account: str | None = Field(None, max_length=255, description="Only this owner account.")

    @field_validator("month")
    @classmethod
    def _month(cls, value: str | None) -> str | None:
        if value is not None and not _MONTH.match(value):
            raise ValueError("month must look like 2026-11")
        return value


@route(
    "GET",
    "audit",
    role="admin",
    summary="Read the audit log of a month, newest first",
    query=AuditQuery,
    response=Page[AuditRecord],
    tags=("audit",),
)
async def audit_list(req: func.HttpRequest, caller: Caller, query: AuditQuery) -> func.HttpResponse:
    month = query.month or datetime.now(UTC).strftime("%Y-%m")
    records, token = await asyncio.to_thread(
        audit_log().page,
        month,
        kind=query.kind,
        account=query.account,
        limit=query.limit,
        continuation=query.continuation_token,
    )
    return page_response(records, token)
