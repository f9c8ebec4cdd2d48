"""Paper trading under contention, for the same test on each document store."""

from __future__ import annotations

import threading

from shared.auth.caller import Caller
from shared.config import get_settings
from shared.paper import OrderIn, PaperAccount, PaperAccountIn, PaperBroker
from shared.storage.documents import DocumentStore
from testsupport.routes import put_quote


def racing_buys(
    store: DocumentStore, starting_cash: float, buyers: int
) -> tuple[list[str], PaperAccount]:
    """`buyers` threads each place a market buy of 1 AAPL (quoted at 100, no slippage) at once
    on one of alice's accounts holding `starting_cash`. Returns each outcome (the order's
    status, or the name of the error it raised) and the account afterwards."""
    put_quote(store, "AAPL", 100.0)
    broker = PaperBroker(store, get_settings().model_copy(update={"paper_slippage_bps": 0.0}))
    alice = Caller("alice", frozenset({"trader"}))
    account = broker.create_account(alice, PaperAccountIn(starting_cash=starting_cash))
    outcomes: list[str] = []
    lock = threading.Lock()

    def buy() -> None:
        try:
            order = broker.place_order(alice, account.id, OrderIn(symbol="AAPL", side="buy", qty=1))
            outcome: str = order.status
        except Exception as error:
            outcome = type(error).__name__
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=buy) for _ in range(buyers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes, broker.get_account(alice, account.id)
