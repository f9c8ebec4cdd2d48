"""Journal routes (/api/journal/...): executions, trades and their annotations, analytics.
Viewers read their own journal, traders write it, admins read any (`?account=`)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func

from functions.http import (
    Routes,
    audit_change,
    if_match,
    json_response,
    no_content,
    parse_body,
    problem,
    reply,
    versioned,
)
from shared.auth.caller import Caller
from shared.config import get_settings
from shared.errors import DomainError, NotFound
from shared.journal import analytics
from shared.journal.excursion import Excursion
from shared.journal.imports import (
    MAX_IMPORT_BODY_BYTES,
    ImportRejected,
    ImportRequest,
    ImportResult,
    PayloadTooLarge,
    import_file,
)
from shared.journal.models import Annotation, AnnotationIn, Execution, ExecutionIn
from shared.journal.sample import DEMO_ACCOUNT, seed_demo
from shared.journal.screenshots import (
    MAX_SCREENSHOT_BYTES,
    Screenshot,
    ScreenshotIn,
    ScreenshotUrl,
    UploadSlot,
    open_upload,
    read_url,
    receive_upload,
)
from shared.journal.service import (
    Breakdown,
    DailyCurve,
    ExecutionPage,
    ExecutionsQuery,
    ImportList,
    JournalQuery,
    TradeDetail,
    TradePage,
    TradesQuery,
    check_breakdown,
    check_strategy_link,
    journal_of,
    owner,
    trade_detail,
    trade_excursion,
    trade_page,
)
from shared.journal.store import Journal
from shared.openapi import IF_MATCH

bp = func.Blueprint()
TAGS = ("journal",)
route = Routes(bp, tags=TAGS)
PAGE = (Path(__file__).parent / "journal_page.html").read_text(encoding="utf-8")


def _audit(caller: Caller, action: str, target: str, detail: dict[str, Any]) -> None:
    audit_change(
        caller, action, account=caller.account_id, target=f"journal/{target}", detail=detail
    )


def _journal(caller: Caller, query: JournalQuery | ExecutionsQuery) -> Journal:
    """The journal a read is about: the caller's, or (admins) the `?account=` one."""
    return journal_of(owner(caller, query.account))


def _brief(execution: Execution) -> dict[str, Any]:
    return execution.model_dump(
        mode="json",
        by_alias=True,
        include={"broker_account", "symbol", "side", "quantity", "price", "fees", "executed_at"},
    )


@route(
    "GET",
    "journal/executions",
    role="viewer",
    summary="List my executions, oldest first (admins: any account's)",
    query=ExecutionsQuery,
    response=ExecutionPage,
)
async def journal_executions_list(
    req: func.HttpRequest, caller: Caller, query: ExecutionsQuery
) -> func.HttpResponse:
    journal = _journal(caller, query)
    items, token = await asyncio.to_thread(
        journal.executions, limit=query.limit, continuation=query.continuation_token
    )
    return json_response(ExecutionPage(items=items, continuation_token=token))


@route(
    "POST",
    "journal/executions",
    role="trader",
    summary="Record an execution by hand",
    description="With `externalId`, recording the same execution again stores it once (200).",
    body=ExecutionIn,
    response=Execution,
    status=201,
)
async def journal_executions_create(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    data = parse_body(req, ExecutionIn)
    journal = journal_of(caller.account_id)
    result = await asyncio.to_thread(journal.add, [data], "manual")
    stored = await asyncio.to_thread(journal.get, result.ids[0])
    if result.added:
        await asyncio.to_thread(
            _audit, caller, "journal.execution.created", f"executions/{stored.id}", _brief(stored)
        )
    headers = {"Location": f"/api/journal/executions/{stored.id}", "ETag": stored.etag}
    return json_response(stored, status=201 if result.added else 200, headers=headers)


@route(
    "GET",
    "journal/executions/{executionId}",
    role="viewer",
    summary="Read an execution",
    query=ExecutionsQuery,
    response=Execution,
    errors=(404,),
)
async def journal_executions_get(
    req: func.HttpRequest, caller: Caller, query: ExecutionsQuery
) -> func.HttpResponse:
    journal = _journal(caller, query)
    return await reply(journal.get, req.route_params["executionId"], etag=True)


@route(
    "PUT",
    "journal/executions/{executionId}",
    role="trader",
    summary="Edit an execution; its trades are recomputed",
    body=ExecutionIn,
    response=Execution,
    headers=(IF_MATCH,),
    errors=(404, 412),
)
async def journal_executions_replace(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    data = parse_body(req, ExecutionIn)
    journal = journal_of(caller.account_id)
    before, after = await asyncio.to_thread(
        journal.replace, req.route_params["executionId"], data, if_match(req)
    )
    detail = {"before": _brief(before), "after": _brief(after)}
    await asyncio.to_thread(
        _audit, caller, "journal.execution.updated", f"executions/{after.id}", detail
    )
    return versioned(after)


@route(
    "DELETE",
    "journal/executions/{executionId}",
    role="trader",
    summary="Delete an execution; its trades are recomputed",
    status=204,
    headers=(IF_MATCH,),
    errors=(404, 412),
)
async def journal_executions_delete(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    journal = journal_of(caller.account_id)
    gone = await asyncio.to_thread(journal.delete, req.route_params["executionId"], if_match(req))
    await asyncio.to_thread(
        _audit, caller, "journal.execution.deleted", f"executions/{gone.id}", _brief(gone)
    )
    return no_content()


@route(
    "GET",
    "journal/trades",
    role="viewer",
    summary="List my trades, newest first, with their notes and tags",
    query=TradesQuery,
    response=TradePage,
)
async def journal_trades_list(
    req: func.HttpRequest, caller: Caller, query: TradesQuery
) -> func.HttpResponse:
    return await reply(trade_page, _journal(caller, query), query)


@route(
    "GET",
    "journal/trades/{tradeId}",
    role="viewer",
    summary="Read a trade with its executions and annotation",
    query=ExecutionsQuery,
    response=TradeDetail,
    errors=(404,),
)
async def journal_trades_get(
    req: func.HttpRequest, caller: Caller, query: ExecutionsQuery
) -> func.HttpResponse:
    journal = _journal(caller, query)
    return await reply(trade_detail, journal, req.route_params["tradeId"])


@route(
    "GET",
    "journal/trades/{tradeId}/excursion",
    role="viewer",
    summary="MFE and MAE of a trade from the lake's bars (intraday if present, else daily)",
    query=ExecutionsQuery,
    response=Excursion,
    errors=(404,),
)
async def journal_trades_excursion(
    req: func.HttpRequest, caller: Caller, query: ExecutionsQuery
) -> func.HttpResponse:
    journal = _journal(caller, query)
    return await reply(trade_excursion, journal, req.route_params["tradeId"])


@route(
    "PUT",
    "journal/trades/{tradeId}/annotation",
    role="trader",
    summary="Write a trade's notes, tags, setup, mistakes, planned stop/target, strategy",
    body=AnnotationIn,
    response=Annotation,
    headers=(IF_MATCH,),
    errors=(404, 412),
)
async def journal_trades_annotate(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    data = parse_body(req, AnnotationIn)
    journal = journal_of(caller.account_id)
    trade_id = req.route_params["tradeId"]
    await asyncio.to_thread(check_strategy_link, caller.account_id, data)
    stored = await asyncio.to_thread(journal.annotate, trade_id, data, if_match(req))
    detail = data.model_dump(mode="json", by_alias=True, exclude={"notes"})
    detail["notesLength"] = len(data.notes)
    await asyncio.to_thread(_audit, caller, "journal.trade.annotated", f"trades/{trade_id}", detail)
    return versioned(stored)


@route(
    "GET",
    "journal/stats",
    role="viewer",
    summary="Statistics of my closed trades for a date range and filters",
    query=JournalQuery,
    response=analytics.Stats,
)
async def journal_stats(
    req: func.HttpRequest, caller: Caller, query: JournalQuery
) -> func.HttpResponse:
    frame = await asyncio.to_thread(_journal(caller, query).frame)
    return json_response(analytics.stats(frame, query))


@route(
    "GET",
    "journal/daily",
    role="viewer",
    summary="Daily P&L curve and calendar (P&L, trades, cumulative, drawdown per day)",
    query=JournalQuery,
    response=DailyCurve,
)
async def journal_daily(
    req: func.HttpRequest, caller: Caller, query: JournalQuery
) -> func.HttpResponse:
    frame = await asyncio.to_thread(_journal(caller, query).frame)
    return json_response(DailyCurve(points=analytics.daily(frame, query)))


@route(
    "GET",
    "journal/breakdowns/{by}",
    role="viewer",
    summary="Trades, P&L and win rate by symbol, tag, setup, weekday, hour, holding, side, mistake",
    query=JournalQuery,
    response=Breakdown,
    errors=(404,),
)
async def journal_breakdown(
    req: func.HttpRequest, caller: Caller, query: JournalQuery
) -> func.HttpResponse:
    by = check_breakdown(req.route_params["by"])
    frame = await asyncio.to_thread(_journal(caller, query).frame)
    return json_response(Breakdown(by=by, groups=analytics.breakdown(frame, query, by)))


@route(
    "POST",
    "journal/imports",
    role="trader",
    summary="Import a broker file (IB Flex trades, Webull orders, or the generic CSV)",
    description=(
        "All or nothing: a file with bad rows is rejected (422) with `errors`, one per bad "
        "cell, by line and column. Importing the same executions again adds nothing."
    ),
    body=ImportRequest,
    response=ImportResult,
    errors=(413,),
)
async def journal_imports_create(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    raw = req.get_body()
    if len(raw) > MAX_IMPORT_BODY_BYTES:
        raise PayloadTooLarge(f"request body is larger than {MAX_IMPORT_BODY_BYTES} bytes")
    if not raw:
        raise DomainError("request body is empty; send a JSON object")
    request = ImportRequest.model_validate_json(raw)
    journal = journal_of(caller.account_id)
    try:
        result = await asyncio.to_thread(import_file, journal, request)
    except ImportRejected as rejected:
        errors = [e.model_dump(by_alias=True) for e in rejected.errors]
        return problem(
            422, rejected.title, rejected.detail, errors=errors, errorCount=rejected.total
        )
    detail = result.model_dump(mode="json", by_alias=True, exclude={"importedAt"})
    await asyncio.to_thread(
        _audit, caller, "journal.imported", f"imports/{result.import_id}", detail
    )
    return json_response(result)


@route(
    "GET",
    "journal/imports",
    role="viewer",
    summary="My last 50 imports, newest first",
    query=ExecutionsQuery,
    response=ImportList,
)
async def journal_imports_list(
    req: func.HttpRequest, caller: Caller, query: ExecutionsQuery
) -> func.HttpResponse:
    journal = _journal(caller, query)
    items = await asyncio.to_thread(journal.imports)
    return json_response(ImportList.model_validate({"items": items}))


@route(
    "GET",
    "journal/page",
    role=None,
    summary="The journal dashboard",
    media_type="text/html",
)
async def journal_page(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    return func.HttpResponse(PAGE, status_code=200, mimetype="text/html", charset="utf-8")


@bp.function_name("journal_sample")
@bp.timer_trigger(
    arg_name="timer", schedule="%SCHEDULE_SAMPLE%", run_on_startup=True, use_monitor=False
)
async def journal_sample(timer: func.TimerRequest) -> None:
    """Seed the demo account's journal from the sample broker file while sample data is on
    (SAMPLE_DATA_ENABLED and no provider key, as for the sample prices); idempotent."""
    settings = get_settings()
    if not settings.sample_data_enabled or settings.alphavantage_api_keys:
        return
    await asyncio.to_thread(seed_demo, journal_of(DEMO_ACCOUNT))


def _origin(req: func.HttpRequest) -> str:
    parts = urlsplit(req.url)
    return f"{parts.scheme}://{parts.netloc}"


@route(
    "POST",
    "journal/trades/{tradeId}/screenshots",
    role="trader",
    summary="A single-use upload URL for a trade screenshot (PNG, JPEG or WebP, <= 5 MiB)",
    description="PUT the bytes to `uploadUrl` within 5 minutes, with the declared Content-Type.",
    body=ScreenshotIn,
    response=UploadSlot,
    status=201,
    errors=(404, 409),
)
async def journal_screenshots_open(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    data = parse_body(req, ScreenshotIn)
    journal = journal_of(caller.account_id)
    trade_id = req.route_params["tradeId"]
    slot = await asyncio.to_thread(open_upload, journal, trade_id, data, _origin(req))
    detail = {"contentType": data.content_type, "size": data.size}
    await asyncio.to_thread(
        _audit, caller, "journal.screenshot.slot_opened", f"trades/{trade_id}", detail
    )
    return json_response(slot, status=201)


@route(
    "PUT",
    "journal/uploads/{owner}/{uploadId}",
    role=None,
    summary="Upload a screenshot to the URL the screenshot route gave (the URL authorizes)",
    response=Screenshot,
    status=201,
    errors=(404, 413, 415),
)
async def journal_uploads_put(req: func.HttpRequest, caller: Caller) -> func.HttpResponse:
    body = req.get_body()
    if len(body) > MAX_SCREENSHOT_BYTES:
        raise PayloadTooLarge(f"at most {MAX_SCREENSHOT_BYTES} bytes")
    journal = journal_of(req.route_params["owner"])
    stored = await asyncio.to_thread(
        receive_upload,
        journal,
        req.route_params["uploadId"],
        req.headers.get("Content-Type", ""),
        body,
    )
    await asyncio.to_thread(
        audit_change,
        Caller(account_id=journal.account, roles=frozenset()),
        "journal.screenshot.uploaded",
        account=journal.account,
        target=f"journal/trades/{stored.trade_id}",
        detail={"name": stored.name, "bytes": len(body)},
    )
    return json_response(stored, status=201)


@route(
    "GET",
    "journal/trades/{tradeId}/screenshots/{index}",
    role="viewer",
    summary="A signed URL (10 minutes) to read a trade's screenshot",
    query=ExecutionsQuery,
    response=ScreenshotUrl,
    errors=(404,),
)
async def journal_screenshots_get(
    req: func.HttpRequest, caller: Caller, query: ExecutionsQuery
) -> func.HttpResponse:
    journal = _journal(caller, query)
    index = req.route_params["index"]
    if not index.isdigit() or len(index) > 3:
        raise NotFound(f"screenshot {index!r} not found")
    found = await asyncio.to_thread(read_url, journal, req.route_params["tradeId"], int(index))
    return json_response(found)
