"""Paper trading on the Cosmos adapter (the cosmosdb-server emulator): etag races and
idempotency claims behave as on SQLite."""

from __future__ import annotations

import uuid

import pytest

from shared.config import load_settings
from shared.paper import IdempotencyStore
from shared.paper.idempotency import Claim, StoredResponse
from testsupport.paper import racing_buys

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
    outcomes, view = racing_buys(cosmos_store, starting_cash=500, buyers=10)
    assert sorted(outcomes) == ["InsufficientFunds"] * 5 + ["filled"] * 5
    assert (view.cash, view.reserved_cash, view.positions[0].qty) == (0, 0, 5)


def test_an_idempotency_key_is_claimed_once_on_cosmos(cosmos_store):
    keys = IdempotencyStore(cosmos_store, ttl_seconds=3600)
    first = keys.begin("alice", "scope", "key-1", "hash")
    assert isinstance(first, Claim)
    keys.complete("alice", first, 201, {"id": "po-1"}, "application/json")
    again = keys.begin("alice", "scope", "key-1", "hash")
    assert again == StoredResponse(201, {"id": "po-1"}, "application/json")
