"""Container names have one owner each (issue 16 item 2): the store that keeps the documents
defines the name as a constant, every other module imports it, and every such constant names
a container that is provisioned (`CONTAINERS`, which the Bicep test checks against Cosmos DB)."""

from __future__ import annotations

import ast
from pathlib import Path

from shared import audit, quota
from shared.backtest import runs
from shared.ingest import state
from shared.journal import store as journal_store
from shared.paper import broker, idempotency
from shared.storage.documents import CONTAINERS
from shared.strategies_store import store as strategies_store
from shared.watchlists import selection

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("shared", "functions", "durable", "containerapps", "devhost", "tools", "bench")
STORE_METHODS = frozenset({"create", "upsert", "read", "query", "query_all", "patch", "delete"})

OWNED = {
    "quotes": state.QUOTES,
    "sync_state": state.SYNC,
    "quota": quota.CONTAINER,
    "watchlists": selection.CONTAINER,
    "strategies": strategies_store.CONTAINER,
    "paper": broker.CONTAINER,
    "journal": journal_store.CONTAINER,
    "idempotency": idempotency.CONTAINER,
    "audit": audit.CONTAINER,
    "backtests": runs.RUNS_CONTAINER,
}


def literal_container_calls(paths: list[Path]) -> list[str]:
    """`<x>.upsert("quotes", ...)` and the like: a provisioned name written as a literal."""
    found: list[str] = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in STORE_METHODS
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value in CONTAINERS
            ):
                found.append(f"{path.name}:{node.lineno} {node.func.attr}({node.args[0].value!r})")
    return found


def test_each_store_owns_a_provisioned_container() -> None:
    for name, constant in OWNED.items():
        assert constant == name
        assert constant in CONTAINERS, f"{name!r} is not provisioned"


def test_no_module_names_a_container_with_a_literal() -> None:
    paths = [path for package in SCANNED for path in sorted((ROOT / package).rglob("*.py"))]
    assert len(paths) > 100
    found = literal_container_calls(paths)
    assert found == [], "import the owning store's constant instead"


def test_the_scan_sees_a_literal_container_and_nothing_else(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text(
        "store.upsert('quotes', {})\n"
        "lake.read('bars', 'AAPL')\n"  # a lake dataset, not a container
        "store.read(QUOTES, 'AAPL', 'AAPL')\n"
        "def f(store):\n"
        "    return store.query_all('watchlists', None)\n"
    )
    assert literal_container_calls([source]) == [
        "mod.py:1 upsert('quotes')",
        "mod.py:5 query_all('watchlists')",
    ]


def container_constants(paths: list[Path]) -> list[str]:
    """Module-level `NAME = "<provisioned container>"`: where a container name is defined."""
    found: list[str] = []
    for path in paths:
        for node in ast.parse(path.read_text()).body:
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Constant)
                and node.value.value in CONTAINERS
                and all(isinstance(t, ast.Name) and t.id.isupper() for t in node.targets)
            ):
                found.append(str(node.value.value))
    return found


def test_each_container_name_is_defined_once() -> None:
    paths = [path for package in SCANNED for path in sorted((ROOT / package).rglob("*.py"))]
    defined = container_constants(paths)
    assert sorted(defined) == sorted(OWNED), "one constant per container, in its store"
