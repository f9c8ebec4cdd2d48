"""Paper trading on the Cosmos adapter (the cosmosdb-server emulator): etag races and
idempotency claims behave as on SQLite."""

from __future__ import annotations

import threading
import uuid

import pytest

from shared.auth.caller import Caller
from shared.config import get_settings, load_settings
from shared.paper import IdempotencyStore, InsufficientFunds, OrderIn, PaperAccountIn, PaperBroker
from shared.paper.idempotency import Claim, StoredResponse
from testsupport.routes import put_quote

pytestmark = pytest.mark.emulator


@pytest.fixture
def cosmos_store(cosmos_emulator):
    from shared.storage.documents_cosmos import CosmosDocumentStore

    settings = load_settings(
        document_backend="cosmos",
        cosmos_endpoint=cosmos_emulator.url,
        cosmos_key=cosmos_emulator.key,
        cosmos_database=f"paper{uuid.uuid4().hex[:8]}",
        cosmos_endpoint_discovery=False,
    )
    return CosmosDocumentStore.from_settings(settings)


def test_racing_orders_never_overdraw_on_cosmos(cosmos_store):
    put_quote(cosmos_store, "AAPL", 100.0)
    broker = PaperBroker(cosmos_store, get_settings().model_copy(update={"paper_slippage_bps": 0}))
    alice = Caller("alice", frozenset({"trader"}))
    account = broker.create_account(alice, PaperAccountIn(starting_cash=500))
    outcomes: list[str] = []
    lock = threading.Lock()

    def buy() -> None:
        try:
            status: str = broker.place_order(
                alice, account.id, OrderIn(symbol="AAPL", side="buy", qty=1)
            ).status
        except InsufficientFunds:
            status = "refused"
        with lock:
            outcomes.append(status)

    threads = [threading.Thread(target=buy) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["filled"] * 5 + ["refused"] * 5
    view = broker.get_account(alice, account.id)
    assert (view.cash, view.reserved_cash, view.positions[0].qty) == (0, 0, 5)


def test_an_idempotency_key_is_claimed_once_on_cosmos(cosmos_store):
    keys = IdempotencyStore(cosmos_store, ttl_seconds=3600)
    first = keys.begin("alice", "scope", "key-1", "hash")
    assert isinstance(first, Claim)
    keys.complete("alice", first, 201, {"id": "po-1"}, "application/json")
    again = keys.begin("alice", "scope", "key-1", "hash")
    assert again == StoredResponse(201, {"id": "po-1"}, "application/json")
