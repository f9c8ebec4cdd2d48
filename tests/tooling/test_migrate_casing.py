"""tools/migrate_casing.py: documents written in the old snake_case come back exactly as
today's code writes them, the app reads them, and a second run changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic.alias_generators import to_snake

from shared.audit import AuditLog
from shared.auth.caller import Caller
from shared.backtest.spec import StrategySpec
from shared.config import get_settings
from shared.ingest.state import QuoteBook
from shared.journal.models import AnnotationIn, ExecutionIn
from shared.journal.service import journal_of
from shared.market.models import Quote
from shared.paper.broker import PaperBroker
from shared.paper.idempotency import IdempotencyStore
from shared.paper.models import OrderIn, PaperAccountIn
from shared.storage.documents import Document, DocumentStore, content
from shared.storage.factory import document_store
from shared.strategies_store import StrategyIn, StrategyStore
from shared.watchlists import WatchlistIn, WatchlistStore
from tools.migrate_casing import NESTED, camelized, main, migrate

ALICE = Caller("alice", frozenset({"trader"}))


def _snake_keys(record: dict[str, Any]) -> dict[str, Any]:
    return {key if key.startswith("_") else to_snake(key): value for key, value in record.items()}


def snake_cased(doc: Document, nested: tuple[str, ...]) -> Document:
    """What the code before the switch wrote: the same document with snake_case fields."""
    old = _snake_keys(doc)
    for name in nested:
        if isinstance(old.get(name), dict):
            old[name] = {k: _snake_keys(v) for k, v in old[name].items()}
    return old


def everything(store: DocumentStore) -> dict[tuple[str, str, str], Document]:
    return {
        (container, doc["id"], doc["pk"]): content(doc)
        for container in NESTED
        for doc in store.query_all(container, None)
    }


def seed(store: DocumentStore) -> None:
    """One of every document kind the stores write, through the stores."""
    WatchlistStore(store, get_settings()).create(ALICE, WatchlistIn(name="w", symbols=["AAPL"]))
    strategies = StrategyStore(store)
    made = strategies.create(
        ALICE,
        StrategyIn(name="s", spec=StrategySpec(strategy="sma_cross", params={"fast": 5})),
    )
    strategies.update(
        ALICE, made.id, StrategyIn(name="s2", spec=StrategySpec(strategy="sma_cross")), None
    )
    QuoteBook(store).upsert(Quote(symbol="AAPL", price=100.0, ts=datetime.now(UTC), source="yahoo"))
    broker = PaperBroker(store, get_settings(), audit=AuditLog(store))
    account = broker.create_account(ALICE, PaperAccountIn(name="p", starting_cash=10_000))
    broker.place_order(ALICE, account.id, OrderIn(symbol="AAPL", side="buy", qty=3))
    broker.place_order(
        ALICE,
        account.id,
        OrderIn(symbol="AAPL", side="buy", qty=1, type="limit", limit_price=50),
    )
    IdempotencyStore(store, 600).begin("alice", "scope", "key-1", "hash")
    journal = journal_of("alice")
    journal.add(
        [
            ExecutionIn(
                symbol="MSFT", side="buy", quantity=2, price=10, executed_at=datetime.now(UTC)
            )
        ],
        "manual",
    )
    trade_id = journal.trades()[0].id
    journal.annotate(trade_id, AnnotationIn(notes="n", planned_stop=9.0), None)


def test_old_documents_come_back_as_todays_code_writes_them() -> None:
    store = document_store()
    seed(store)
    today = everything(store)
    with_long_names = {c for (c, _, _), doc in today.items() if snake_cased(doc, NESTED[c]) != doc}
    assert with_long_names == set(NESTED), "the seed covers every migrated container"
    for (container, _id, _pk), doc in today.items():
        store.upsert(container, snake_cased(doc, NESTED[container]))
    old = everything(store)
    assert any("created_at" in doc for doc in old.values())
    assert old != today

    differ = sum(old[key] != doc for key, doc in today.items())
    assert differ >= 10
    assert sum(migrate(store, dry_run=True).values()) == differ
    assert everything(store) == old, "a dry run writes nothing"
    counts = migrate(store)
    assert sum(counts.values()) == differ
    assert everything(store) == today
    assert migrate(store) == dict.fromkeys(NESTED, 0)

    # the app reads what was migrated
    assert [
        w.symbols
        for w in WatchlistStore(store, get_settings()).list_page(
            ALICE, account=None, limit=10, continuation=None
        )[0]
    ] == [["AAPL"]]
    broker = PaperBroker(store, get_settings())
    [account], _ = broker.list_accounts(ALICE, account=None, limit=10, continuation=None)
    assert account.positions[0].qty == 3
    assert account.reserved_cash == 50.0
    journal = journal_of("alice")
    assert sorted(e.symbol for e in journal.all_executions()) == ["AAPL", "MSFT"]


def test_free_form_data_keeps_its_keys() -> None:
    doc = {
        "id": "s",
        "pk": "alice",
        "created_at": "t",
        "createdAt": "newer",
        "spec": {"params": {"fast_period": 5}},
        "positions": {"BRK_B": {"avg_price": 1.0}},
        "_etag": "x",
    }
    expected = {k: v for k, v in doc.items() if k != "created_at"}
    expected["positions"] = {"BRK_B": {"avgPrice": 1.0}}
    assert camelized(doc, ("positions",)) == expected


def test_the_command_prints_per_container_counts(capsys: Any) -> None:
    store = document_store()
    store.upsert("watchlists", {"id": "w", "pk": "alice", "created_at": "t", "symbols": []})
    assert main(["--dry-run"]) == 0
    assert "watchlists: would rename the fields of 1 document(s)" in capsys.readouterr().out
    assert main([]) == 0
    assert "watchlists: renamed the fields of 1 document(s)" in capsys.readouterr().out
    assert content(store.read("watchlists", "w", "alice"))["createdAt"] == "t"
