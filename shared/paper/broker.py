"""The paper broker: accounts, order placement with cash/share reservations, fills, cancels
and the matching pass, on the `paper` container (pk = owner account id).

The account document is the ledger: cash, positions, open reservations (one per open
order) and the recent outcomes of settled orders. Every change to it is a read-modify-write
guarded by its etag and retried on conflict, so racing orders can never spend the same cash
twice. An order settles (fill, cancel, expiry) exactly once: settling removes its
reservation in the same etag-guarded write, and a second settler finds it gone. Only the
settler that removed the reservation writes the transition's audit record, so each
transition has exactly one; of two racing cancels, the loser gets `Conflict` (409).
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, TypeVar

from shared.audit import AuditLog
from shared.auth.caller import Caller
from shared.auth.scope import owned_page, read_owned
from shared.config import Settings
from shared.errors import Conflict, DomainError, InvalidInput, NotFound
from shared.ingest.state import QuoteBook
from shared.journal.paper import record_paper_fill, record_paper_fills
from shared.market.models import Quote
from shared.paper.matching import (
    affordable_qty,
    apply_fill,
    expired,
    fill_price,
    reservation_price,
    round_money,
)
from shared.paper.models import (
    MatchReport,
    Order,
    OrderIn,
    PaperAccount,
    PaperAccountIn,
    Position,
)
from shared.storage.documents import (
    Document,
    DocumentNotFound,
    DocumentStore,
    Filter,
    content,
)

log = logging.getLogger("shared.paper")

CONTAINER = "paper"
SETTLED_KEPT = 500
ORPHAN_AGE = timedelta(minutes=10)
EPSILON = 1e-9
SYSTEM_ACTOR = "system"
"""The actor of transitions no caller asked for (the matching timer's fills and expiries)."""

R = TypeVar("R")
ACCOUNT_ATTEMPTS = 400
"""Tries of a paper account update: every order, fill and cancel of an account writes its
one document, so a busy account loses many races before it wins one."""


class Settlement(NamedTuple):
    """An order document after `_settle`, and whether this call settled it (False: an
    earlier settler had)."""

    order: Document
    settled_here: bool


class InsufficientFunds(DomainError):
    """The order needs more cash (or shares) than the account has free."""

    status = 422
    title = "Insufficient funds"


class NoFreshQuote(InvalidInput):
    """A market order needs a quote no older than PAPER_MAX_QUOTE_AGE_SECONDS; there is none."""

    title = "No fresh quote"


def _now() -> datetime:
    return datetime.now(UTC)


def _priced(symbols: list[str], price_of: Callable[[str], float | None]) -> dict[str, float]:
    """The symbols (each once) that have a price, with it."""
    prices = {symbol: price_of(symbol) for symbol in dict.fromkeys(symbols)}
    return {symbol: price for symbol, price in prices.items() if price is not None}


def _release(doc: Document, order_id: str) -> dict[str, Any] | None:
    """Remove an order's reservation from an account document; what it held, or None."""
    held: dict[str, Any] | None = doc.setdefault("reservations", {}).pop(order_id, None)
    if held is None:
        return None
    if held["cash"]:
        doc["reservedCash"] = round_money(max(0.0, doc["reservedCash"] - held["cash"]))
    if held["qty"]:
        position = doc.setdefault("positions", {}).get(held["symbol"])
        if position is not None:
            position["reservedQty"] = round_money(
                max(0.0, position.get("reservedQty", 0.0) - held["qty"])
            )
    if not doc["reservations"]:
        doc["reservedCash"] = 0.0
    return held


class PaperBroker:
    """Paper accounts and orders for callers; `match` fills what the quotes allow."""

    def __init__(
        self,
        store: DocumentStore,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = _now,
        audit: AuditLog | None = None,
    ) -> None:
        self.store = store
        self.quotes = QuoteBook(store)
        self.settings = settings
        self.clock = clock
        self.audit = audit if audit is not None else AuditLog(store)

    def _audit(self, action: str, order: Document, actor: str) -> None:
        """The audit record of one order transition (a failure to write it is logged)."""
        self.audit.try_append(
            "order",
            action,
            actor=actor,
            account=order["pk"],
            target=f"paper/{order['paperAccountId']}/{order['id']}",
            outcome=order["status"],
            reason=order.get("reason", ""),
            detail={
                "symbol": order["symbol"],
                "side": order["side"],
                "type": order["type"],
                "qty": order["qty"],
                "filledQty": order.get("filledQty", 0.0),
                "fillPrice": order.get("fillPrice"),
            },
        )

    # --- quotes ----------------------------------------------------------------------
    def _quote(self, symbol: str) -> Quote | None:
        return self.quotes.get(symbol)

    @staticmethod
    def _price(quote: Quote | None) -> float | None:
        return quote.price if quote is not None and quote.price > 0 else None

    def _fresh(self, quote: Quote) -> bool:
        max_age = timedelta(seconds=self.settings.paper_max_quote_age_seconds)
        return self.clock() - quote.ts <= max_age

    def last_price(self, symbol: str) -> float | None:
        """The latest price of `symbol` however old (for valuing positions)."""
        return self._price(self._quote(symbol))

    def last_prices(self, symbols: list[str]) -> dict[str, float]:
        return _priced(symbols, self.last_price)

    def fresh_price(self, symbol: str) -> float | None:
        """The latest price of `symbol` if its quote is no older than
        PAPER_MAX_QUOTE_AGE_SECONDS; the only price orders fill or trigger at."""
        quote = self._quote(symbol)
        return self._price(quote) if quote is not None and self._fresh(quote) else None

    def fresh_prices(self, symbols: list[str]) -> dict[str, float]:
        return _priced(symbols, self.fresh_price)

    def _no_fresh_quote(self, symbol: str) -> NoFreshQuote:
        quote = self._quote(symbol)
        if quote is None or self._price(quote) is None:
            return NoFreshQuote(f"no quote for {symbol} yet; a market order needs a price")
        max_age = self.settings.paper_max_quote_age_seconds
        return NoFreshQuote(
            f"no quote for {symbol} newer than {max_age:g} s; the last is from "
            f"{quote.ts.isoformat()}, a market order needs a fresh price"
        )

    # --- the ledger ------------------------------------------------------------------
    def _mutate(self, pk: str, account_id: str, change: Callable[[Document], R]) -> R:
        """Apply `change` (it edits the account document in place) under its etag; the
        store retries a lost race (`UpdateContended`, a 409, only after 400 of them)."""
        results: list[R] = []

        def apply(body: Document) -> Document:
            results.append(change(body))
            body["updatedAt"] = self.clock().isoformat()
            return body

        self.store.update(CONTAINER, account_id, pk, apply, attempts=ACCOUNT_ATTEMPTS)
        return results[-1]

    def _account_doc(self, caller: Caller, account_id: str) -> Document:
        if not account_id.startswith("pa-"):
            raise NotFound(f"paper account {account_id!r} not found")
        doc = read_owned(self.store, CONTAINER, account_id, caller, "paper account")
        if doc.get("kind") != "account":
            raise NotFound(f"paper account {account_id!r} not found")
        return doc

    def _view(self, doc: Document) -> PaperAccount:
        positions_doc: dict[str, Any] = doc.get("positions", {})
        prices = self.last_prices(list(positions_doc))
        positions: list[Position] = []
        market_value = 0.0
        unrealized = 0.0
        for symbol, held in sorted(positions_doc.items()):
            price = prices.get(symbol)
            value = held["qty"] * price if price is not None else None
            pnl = held["qty"] * (price - held["avgPrice"]) if price is not None else None
            market_value += value if value is not None else held["qty"] * held["avgPrice"]
            unrealized += pnl or 0.0
            positions.append(
                Position(
                    symbol=symbol,
                    qty=held["qty"],
                    avg_price=round_money(held["avgPrice"]),
                    reserved_qty=held.get("reservedQty", 0.0),
                    market_price=price,
                    market_value=None if value is None else round_money(value),
                    unrealized_pnl=None if pnl is None else round_money(pnl),
                )
            )
        return PaperAccount(
            id=doc["id"],
            account=doc["pk"],
            name=doc["name"],
            starting_cash=doc["startingCash"],
            cash=doc["cash"],
            reserved_cash=doc["reservedCash"],
            available_cash=round_money(doc["cash"] - doc["reservedCash"]),
            realized_pnl=round_money(doc.get("realizedPnl", 0.0)),
            unrealized_pnl=round_money(unrealized),
            equity=round_money(doc["cash"] + market_value),
            positions=positions,
            created_at=doc["createdAt"],
            updated_at=doc["updatedAt"],
        )

    # --- accounts --------------------------------------------------------------------
    def create_account(self, caller: Caller, data: PaperAccountIn) -> PaperAccount:
        now = self.clock().isoformat()
        cash = data.starting_cash or self.settings.paper_default_starting_cash
        doc: Document = {
            "id": f"pa-{uuid.uuid4().hex[:16]}",
            "pk": caller.account_id,
            "kind": "account",
            "name": data.name,
            "startingCash": cash,
            "cash": cash,
            "reservedCash": 0.0,
            "realizedPnl": 0.0,
            "positions": {},
            "reservations": {},
            "settled": {},
            "createdAt": now,
            "updatedAt": now,
        }
        return self._view(self.store.create(CONTAINER, doc))

    def get_account(self, caller: Caller, account_id: str) -> PaperAccount:
        return self._view(self._account_doc(caller, account_id))

    def list_accounts(
        self, caller: Caller, *, account: str | None, limit: int, continuation: str | None
    ) -> tuple[list[PaperAccount], str | None]:
        page = owned_page(
            self.store,
            CONTAINER,
            caller,
            account,
            [Filter("kind", "=", "account")],
            limit=limit,
            continuation=continuation,
        )
        return [self._view(doc) for doc in page.items], page.continuation

    # --- orders ----------------------------------------------------------------------
    @staticmethod
    def _order(doc: Document) -> Order:
        return Order(
            id=doc["id"],
            paper_account_id=doc["paperAccountId"],
            account=doc["pk"],
            symbol=doc["symbol"],
            side=doc["side"],
            type=doc["type"],
            qty=doc["qty"],
            limit_price=doc.get("limitPrice"),
            stop_price=doc.get("stopPrice"),
            time_in_force=doc["timeInForce"],
            status=doc["status"],
            filled_qty=doc.get("filledQty", 0.0),
            fill_price=doc.get("fillPrice"),
            reason=doc.get("reason", ""),
            created_at=doc["createdAt"],
            updated_at=doc["updatedAt"],
            filled_at=doc.get("filledAt"),
        )

    def find_by_idempotency_ref(self, caller: Caller, account_id: str, ref: str) -> Order | None:
        """The order of `account_id` an earlier attempt of an idempotent request placed."""
        account = self._account_doc(caller, account_id)
        filters = [
            Filter("kind", "=", "order"),
            Filter("paperAccountId", "=", account["id"]),
            Filter("idempotencyRef", "=", ref),
        ]
        page = self.store.query(CONTAINER, account["pk"], filters)
        return self._order(page.items[0]) if page.items else None

    def place_order(
        self, caller: Caller, account_id: str, data: OrderIn, *, idempotency_ref: str = ""
    ) -> Order:
        """Reserve cash (buy) or shares (sell), record the order, and fill it at once if
        the latest quote allows. `InsufficientFunds` (422) if the account cannot cover it;
        `NoFreshQuote` (422) for a market order without a quote younger than
        PAPER_MAX_QUOTE_AGE_SECONDS."""
        account = self._account_doc(caller, account_id)
        pk = account["pk"]
        actor = caller.account_id
        price = self.fresh_price(data.symbol)
        slippage = self.settings.paper_slippage_bps
        if data.type == "market" and price is None:
            raise self._no_fresh_quote(data.symbol)
        per_unit = reservation_price(
            data.type,
            data.side,
            price,
            limit_price=data.limit_price,
            stop_price=data.stop_price,
            slippage_bps=slippage,
        )
        order_id = f"po-{uuid.uuid4().hex[:20]}"

        def reserve(doc: Document) -> None:
            reservations = doc.setdefault("reservations", {})
            if data.side == "buy":
                need = round_money(data.qty * (per_unit or 0.0))
                free = doc["cash"] - doc["reservedCash"]
                if need > free + EPSILON:
                    raise InsufficientFunds(
                        f"the order needs {need:.2f} but only {free:.2f} cash is free"
                    )
                doc["reservedCash"] = round_money(doc["reservedCash"] + need)
                reservations[order_id] = {
                    "cash": need,
                    "qty": 0.0,
                    "symbol": data.symbol,
                    "at": self.clock().isoformat(),
                }
            else:
                held = doc.setdefault("positions", {}).get(data.symbol)
                free = held["qty"] - held.get("reservedQty", 0.0) if held else 0.0
                if data.qty > free + EPSILON:
                    raise InsufficientFunds(
                        f"the order sells {data.qty:g} {data.symbol} but only {free:g} are free"
                    )
                held["reservedQty"] = round_money(held.get("reservedQty", 0.0) + data.qty)
                reservations[order_id] = {
                    "cash": 0.0,
                    "qty": data.qty,
                    "symbol": data.symbol,
                    "at": self.clock().isoformat(),
                }

        self._mutate(pk, account["id"], reserve)
        now = self.clock().isoformat()
        order: Document = {
            "id": order_id,
            "pk": pk,
            "kind": "order",
            "paperAccountId": account["id"],
            "symbol": data.symbol,
            "side": data.side,
            "type": data.type,
            "qty": data.qty,
            "limitPrice": data.limit_price,
            "stopPrice": data.stop_price,
            "timeInForce": data.time_in_force,
            "status": "open",
            "filledQty": 0.0,
            "fillPrice": None,
            "reason": "",
            "createdAt": now,
            "updatedAt": now,
            "filledAt": None,
            "idempotencyRef": idempotency_ref,
        }
        try:
            stored = self.store.create(CONTAINER, order)
        except Exception:
            self._settle(order, "cancelled", reason="could not record the order", actor=actor)
            raise
        self._audit("order.placed", stored, actor)
        if price is not None:
            try:
                stored = self._try_fill(stored, price, actor=actor)
            except Conflict:
                log.warning("order %s is placed; the account is busy, matching fills it", order_id)
        return self._order(stored)

    def _order_doc(self, caller: Caller, account_id: str, order_id: str) -> Document:
        account = self._account_doc(caller, account_id)
        try:
            doc = self.store.read(CONTAINER, order_id, account["pk"])
        except DocumentNotFound:
            raise NotFound(f"order {order_id!r} not found") from None
        if doc.get("kind") != "order" or doc.get("paperAccountId") != account["id"]:
            raise NotFound(f"order {order_id!r} not found")
        return doc

    def get_order(self, caller: Caller, account_id: str, order_id: str) -> Order:
        return self._order(self._order_doc(caller, account_id, order_id))

    def list_orders(
        self,
        caller: Caller,
        account_id: str,
        *,
        status: str | None,
        limit: int,
        continuation: str | None,
    ) -> tuple[list[Order], str | None]:
        account = self._account_doc(caller, account_id)
        filters = [Filter("kind", "=", "order"), Filter("paperAccountId", "=", account["id"])]
        if status:
            filters.append(Filter("status", "=", status))
        page = self.store.query(
            CONTAINER,
            account["pk"],
            filters,
            order_by="createdAt",
            descending=True,
            limit=limit,
            continuation=continuation,
        )
        return [self._order(doc) for doc in page.items], page.continuation

    def cancel_order(self, caller: Caller, account_id: str, order_id: str) -> Order:
        """Cancel an open order, releasing what it held; `Conflict` if it already settled,
        by an earlier cancel too: of two racing cancels exactly one succeeds."""
        doc = self._order_doc(caller, account_id, order_id)
        if doc["status"] != "open":
            raise Conflict(f"order {order_id} is already {doc['status']}")
        settled, here = self._settle(
            doc, "cancelled", reason=f"cancelled by {caller.account_id}", actor=caller.account_id
        )
        if not here:
            raise Conflict(f"order {order_id} is already {settled['status']}")
        return self._order(settled)

    # --- settlement ------------------------------------------------------------------
    def _settle(
        self,
        order: Document,
        status: str,
        *,
        reason: str = "",
        price: float | None = None,
        actor: str = SYSTEM_ACTOR,
    ) -> Settlement:
        """Settle `order` once: fill at `price`, or cancel/expire; returns the order as
        settled (by this call or an earlier one). The call that settles it audits the
        transition (`order.<status>`)."""
        order_id = order["id"]
        now = self.clock().isoformat()

        def settle(doc: Document) -> tuple[dict[str, Any] | None, bool]:
            settled: dict[str, Any] = doc.setdefault("settled", {})
            held = _release(doc, order_id)
            if held is None:
                return settled.get(order_id), False
            outcome: dict[str, Any] = {
                "status": status,
                "filledQty": 0.0,
                "fillPrice": None,
                "reason": reason,
                "at": now,
            }
            if status == "filled" and price is not None:
                qty = order["qty"]
                if order["side"] == "buy":
                    free = doc["cash"] - doc["reservedCash"]
                    if qty * price > free + EPSILON:
                        qty = affordable_qty(free, price)
                        outcome["reason"] = (
                            "cut short: free cash covered only part of the order at the fill price"
                        )
                else:
                    position = doc.get("positions", {}).get(order["symbol"])
                    qty = min(qty, position["qty"]) if position else 0.0
                if qty <= 0:
                    outcome.update(status="rejected", reason="not enough free cash at the fill")
                else:
                    apply_fill(doc, order["side"], order["symbol"], qty, price)
                    outcome.update(
                        status="filled" if qty >= order["qty"] - EPSILON else "partially_filled",
                        filledQty=qty,
                        fillPrice=round_money(price),
                    )
            settled[order_id] = outcome
            if len(settled) > SETTLED_KEPT:
                for old in sorted(settled, key=lambda k: settled[k]["at"])[:-SETTLED_KEPT]:
                    del settled[old]
            return outcome, True

        outcome, here = self._mutate(order["pk"], order["paperAccountId"], settle)
        if outcome is None:
            log.warning("order %s has no reservation and no settlement record", order_id)
            return Settlement(order, False)
        updated = {
            **content(order),
            "status": outcome["status"],
            "filledQty": outcome["filledQty"],
            "fillPrice": outcome["fillPrice"],
            "reason": outcome["reason"],
            "updatedAt": outcome["at"],
            "filledAt": outcome["at"] if outcome["filledQty"] else None,
        }
        if here:
            self._audit(f"order.{outcome['status']}", updated, actor)
        stored = self.store.upsert(CONTAINER, updated)
        record_paper_fill(self.store, stored)  # idempotent: one execution per order, retries too
        return Settlement(stored, here)

    def record_fills(self, pk: str) -> int:
        """Catch up: every filled order in partition `pk` into its journal (the fill hook
        never fails a fill, so it may have missed one); how many were new."""
        orders = self.store.query_all(CONTAINER, pk, [Filter("kind", "=", "order")])
        return record_paper_fills(self.store, pk, orders)

    def _try_fill(self, order: Document, price: float, *, actor: str = SYSTEM_ACTOR) -> Document:
        at = fill_price(
            order["type"],
            order["side"],
            price,
            limit_price=order.get("limitPrice"),
            stop_price=order.get("stopPrice"),
            slippage_bps=self.settings.paper_slippage_bps,
        )
        if at is None:
            return order
        return self._settle(order, "filled", price=at, actor=actor).order

    def _settled_in_ledger(self, order: Document, ledgers: dict[str, Document]) -> bool:
        """Whether the account ledger already settled an order whose document still says
        open (the order write after the ledger write failed)."""
        account_id = order["paperAccountId"]
        if account_id not in ledgers:
            ledgers[account_id] = self.store.read(CONTAINER, account_id, order["pk"])
        ledger = ledgers[account_id]
        return order["id"] not in ledger.get("reservations", {}) and order["id"] in ledger.get(
            "settled", {}
        )

    def match(self, symbols: list[str] | None = None, *, actor: str = SYSTEM_ACTOR) -> MatchReport:
        """One matching pass over every open order (of `symbols`, if given): bring orders
        the ledger already settled up to date, expire day orders past their date, fill
        a fresh quote (see `fresh_price`) crosses. `actor` is who asked (the audit's actor)."""
        filters = [Filter("kind", "=", "order"), Filter("status", "=", "open")]
        if symbols:
            filters.append(Filter("symbol", "in", list(symbols)))
        orders = self.store.query_all(CONTAINER, None, filters, order_by="createdAt")
        by_symbol: dict[str, list[Document]] = defaultdict(list)
        for order in orders:
            by_symbol[order["symbol"]].append(order)
        prices = self.fresh_prices(list(by_symbol))
        now = self.clock()
        filled = expired_count = rejected = 0
        ledgers: dict[str, Document] = {}
        for symbol, group in by_symbol.items():
            for order in group:
                try:
                    if self._settled_in_ledger(order, ledgers):
                        self._settle(order, "cancelled", actor=actor)
                    elif expired(order["timeInForce"], order["createdAt"], now):
                        self._settle(
                            order, "expired", reason="day order expired unfilled", actor=actor
                        )
                        expired_count += 1
                    elif symbol in prices:
                        result = self._try_fill(order, prices[symbol], actor=actor)
                        filled += result["status"] in ("filled", "partially_filled")
                        rejected += result["status"] == "rejected"
                except DocumentNotFound:
                    log.warning("order %s: its paper account is gone", order["id"])
        return MatchReport(
            checked=len(orders), filled=filled, expired=expired_count, rejected=rejected
        )

    def release_orphans(self, older_than: timedelta = ORPHAN_AGE) -> int:
        """Release reservations whose order was never recorded (the process died between
        reserving and writing the order) once they are `older_than`; returns how many."""
        cutoff = (self.clock() - older_than).isoformat()
        released = 0
        for account in self.store.query_all(CONTAINER, None, [Filter("kind", "=", "account")]):
            for order_id, held in list(account.get("reservations", {}).items()):
                if str(held.get("at", "")) > cutoff:
                    continue
                try:
                    self.store.read(CONTAINER, order_id, account["pk"])
                    continue
                except DocumentNotFound:
                    pass

                def drop(doc: Document, order_id: str = order_id) -> bool:
                    if _release(doc, order_id) is None:
                        return False
                    doc.setdefault("settled", {})[order_id] = {
                        "status": "cancelled",
                        "filledQty": 0.0,
                        "fillPrice": None,
                        "reason": "orphaned reservation released",
                        "at": self.clock().isoformat(),
                    }
                    return True

                if self._mutate(account["pk"], account["id"], drop):
                    log.warning("released orphaned reservation %s of %s", order_id, account["id"])
                    released += 1
        return released
