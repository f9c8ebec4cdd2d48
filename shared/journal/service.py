"""What the journal's HTTP routes call: whose journal a caller reaches, the query and
response shapes, and the trade list read from the snapshot."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

import numpy as np
from pydantic import ConfigDict, Field

from shared.api_model import ApiModel
from shared.auth.caller import Caller
from shared.config import get_settings
from shared.errors import InvalidInput, NotFound
from shared.ingest.bars import BarLake
from shared.journal.analytics import BreakdownKey, DailyPoint, Group, JournalFilter, select
from shared.journal.excursion import Excursion, excursion
from shared.journal.imports import ImportResult
from shared.journal.matching import match
from shared.journal.models import Annotation, AnnotationIn, Execution, Trade
from shared.journal.store import Journal
from shared.storage.documents import DocumentNotFound
from shared.storage.factory import blob_store, document_store, lake
from shared.strategies_store import StrategyStore


def owner(caller: Caller, account: str | None) -> str:
    """The journal a caller reads: their own; admins may name any account."""
    if caller.is_admin and account:
        return account
    return caller.account_id


def journal_of(account: str) -> Journal:
    return Journal(document_store(), blob_store(get_settings().lake_container), account)


class JournalQuery(JournalFilter):
    """Filters of an analytics route; admins may name another `account`."""

    model_config = ConfigDict(extra="ignore")

    account: str | None = Field(None, max_length=255, description="Admins only: one account.")


class TradesQuery(JournalQuery):
    """The trade list: newest first, filtered like the analytics (closed trades), or the
    trades still open with `status=open`."""

    status: Literal["closed", "open"] = "closed"
    limit: int = Field(50, ge=1, le=200)
    continuation_token: str | None = Field(None, max_length=20, pattern=r"^\d+$")


class ExecutionsQuery(ApiModel):
    model_config = ConfigDict(extra="ignore")

    limit: int = Field(50, ge=1, le=200, description="Items per page (1-200).")
    continuation_token: str | None = Field(None, max_length=2048)
    account: str | None = Field(None, max_length=255, description="Admins only: one account.")


class ExecutionPage(ApiModel):
    items: list[Execution]
    continuation_token: str | None = None


class TradeView(ApiModel):
    """A trade as the list shows it: figures, annotation and notes."""

    id: str
    broker_account: str
    symbol: str
    side: Literal["long", "short"]
    status: Literal["open", "closed"]
    opened_at: datetime
    closed_at: datetime | None
    quantity: float
    entry_price: float
    exit_price: float | None
    gross_pnl: float
    fees: float
    net_pnl: float
    currency: str
    fx_rate: float
    holding_seconds: float | None
    r: float | None = Field(description="netPnl in units of the planned risk; null without a stop.")
    setup: str | None
    strategy_id: str | None
    tags: list[str]
    mistakes: list[str]
    notes: str = ""


class TradePage(ApiModel):
    items: list[TradeView]
    continuation_token: str | None = None
    total: int


class TradeDetail(ApiModel):
    trade: TradeView
    executions: list[Execution]
    annotation: Annotation | None


class ImportList(ApiModel):
    items: list[ImportResult]


class DailyCurve(ApiModel):
    points: list[DailyPoint]


class Breakdown(ApiModel):
    by: BreakdownKey
    groups: list[Group]


def _finite(value: Any) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _view(row: dict[str, Any], note: Annotation | None) -> TradeView:
    risk = row["risk"]
    return TradeView(
        id=row["id"],
        broker_account=row["broker_account"],
        symbol=row["symbol"],
        side="long" if row["side"] > 0 else "short",
        status="closed" if row["closed"] else "open",
        opened_at=row["opened_at"],
        closed_at=row["closed_at"],
        quantity=row["quantity"],
        entry_price=row["entry_price"],
        exit_price=_finite(row["exit_price"]),
        gross_pnl=row["gross"],
        fees=row["fees"],
        net_pnl=row["net"],
        currency=row["currency"],
        fx_rate=row["fx_rate"],
        holding_seconds=_finite(row["holding_seconds"]),
        r=_finite(row["net"] * row["fx_rate"] / risk) if _finite(risk) else None,
        setup=row["setup"] or None,
        strategy_id=row["strategy"] or None,
        tags=row["tags"] or [],
        mistakes=row["mistakes"] or [],
        notes=note.notes if note else "",
    )


def trade_page(journal: Journal, query: TradesQuery) -> TradePage:
    frame = journal.frame()
    if query.status == "closed":
        rows = select(frame, query)[::-1]
    else:
        rows = np.flatnonzero(~frame.closed)[::-1]
    start = int(query.continuation_token or 0)
    chosen = rows[start : start + query.limit]
    records = frame.table.take(chosen).to_pylist()
    notes = journal.annotations([r["id"] for r in records]) if records else {}
    end = start + len(chosen)
    return TradePage(
        items=[_view(r, notes.get(r["id"])) for r in records],
        continuation_token=str(end) if end < rows.size else None,
        total=int(rows.size),
    )


def _trade(journal: Journal, trade_id: str) -> tuple[dict[str, Any], Trade, list[Execution]]:
    """The snapshot row, the trade and its group's executions; `NotFound` if unknown."""
    frame = journal.frame()
    found = frame.row_of(trade_id)
    if found is None:
        raise DocumentNotFound(f"trade {trade_id!r} not found")
    row = frame.table.slice(found, 1).to_pylist()[0]
    executions = journal.all_executions({(row["broker_account"], row["symbol"])})
    trade = next(t for t in match(executions) if t.id == trade_id)
    return row, trade, executions


def trade_excursion(journal: Journal, trade_id: str) -> Excursion:
    _, trade, _ = _trade(journal, trade_id)
    return excursion(BarLake(lake()), trade)


def trade_detail(journal: Journal, trade_id: str) -> TradeDetail:
    row, trade, executions = _trade(journal, trade_id)
    wanted = set(trade.execution_ids)
    note = journal.annotations([trade_id]).get(trade_id)
    return TradeDetail(
        trade=_view(row, note),
        executions=[e for e in executions if e.id in wanted],
        annotation=note,
    )


def check_breakdown(by: str) -> BreakdownKey:
    from shared.journal.analytics import BREAKDOWNS

    for key in BREAKDOWNS:
        if key == by:
            return key
    raise NotFound(f"breakdown {by!r} is not one of {', '.join(BREAKDOWNS)}")


def check_strategy_link(account: str, data: AnnotationIn) -> None:
    """An annotation's strategy link names a saved version of the account's strategy
    (deleted strategies keep their versions); 422 otherwise."""
    if data.strategy_id is None and data.strategy_version is None:
        return
    if data.strategy_id is None or data.strategy_version is None:
        raise InvalidInput("strategyId and strategyVersion go together: the version followed")
    try:
        StrategyStore(document_store()).get_version(
            account, data.strategy_id, data.strategy_version
        )
    except NotFound as error:
        raise InvalidInput(error.detail) from None
