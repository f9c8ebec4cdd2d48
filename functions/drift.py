"""Execution drift (GET /api/journal/drift): the trader's trades on a scope against a replay
of a strategy over the same bars. Read-only: viewers read their own journal, admins any
(`?account=`). The work is in `shared.drift`."""

from __future__ import annotations

import azure.functions as func

from functions.http import Routes, reply
from shared.auth.caller import Caller
from shared.drift import DriftReport, DriftRequest, drift_report
from shared.journal.service import journal_of, owner

bp = func.Blueprint()
route = Routes(bp)


@route(
    "GET",
    "journal/drift",
    role="viewer",
    summary="Execution drift: my trades against a strategy's replay, each difference costed",
    description="Replays the strategy (a registered name with `params`, or a saved "
    "`strategyId`/`strategyVersion`) over the lake's bars of `symbols` in `start..end` with "
    "the execution model given here, matches its trades to the journal's closed trades of "
    "`brokerAccount` (same symbol and side, holding times overlapping within `toleranceBars` "
    "bars) and attributes the P&L difference to missed and extra trades, size, timing, price "
    "and fees; the causes sum exactly to `difference`. 404: unknown strategy; 422: bad "
    "parameters or execution fields, or a scope with no bars.",
    query=DriftRequest,
    response=DriftReport,
    errors=(404, 422),
    tags=("journal",),
)
async def journal_drift(
    req: func.HttpRequest, caller: Caller, query: DriftRequest
) -> func.HttpResponse:
    journal = journal_of(owner(caller, query.account))
    return await reply(drift_report, query, caller, journal)
