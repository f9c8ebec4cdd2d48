"""Paper fills into the journal: each filled paper order becomes one execution, once.

The execution's id comes from the order id, so however often a fill is recorded (a retried
settlement, a replayed matching pass, `record_paper_fills` catching up), it is stored
once. Recording never fails the fill: the ledger is the paper broker's truth, and
`record_paper_fills` brings the journal up to date from the filled orders.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from shared.config import get_settings
from shared.journal.models import ExecutionIn
from shared.journal.store import Journal
from shared.storage.documents import DocumentStore
from shared.storage.factory import blob_store

log = logging.getLogger("shared.journal.paper")


def _execution(order: dict[str, Any]) -> ExecutionIn:
    return ExecutionIn(
        broker_account=f"paper-{order['paperAccountId']}"[:64],
        symbol=order["symbol"],
        side=order["side"],
        quantity=order["filledQty"],
        price=order["fillPrice"],
        fees=0.0,
        executed_at=order["filledAt"],
        external_id=order["id"],
    )


def _journal(store: DocumentStore, account: str) -> Journal:
    return Journal(store, blob_store(get_settings().lake_container), account)


def record_paper_fill(store: DocumentStore, order: dict[str, Any]) -> None:
    """Record a settled paper order's fill (no-op for an order that did not fill)."""
    if not order.get("filledQty") or order.get("fillPrice") is None:
        return
    try:
        _journal(store, order["pk"]).add([_execution(order)], "paper")
    except Exception:
        log.exception("could not record paper fill of order %s in the journal", order.get("id"))


def record_paper_fills(store: DocumentStore, account: str, orders: Iterable[dict[str, Any]]) -> int:
    """The filled ones of `account`'s paper `orders` (the broker reads them:
    `PaperBroker.record_fills`) into its journal; how many were new."""
    orders = [o for o in orders if o.get("filledQty") and o.get("fillPrice") is not None]
    if not orders:
        return 0
    return _journal(store, account).add([_execution(o) for o in orders], "paper").added
