"""Rename the snake_case fields of stored documents to camelCase, the one casing of stored
documents (issue 16): the fields the API spells `createdAt` are stored as `createdAt`.

Run it once per deployment, right after deploying the code that reads camelCase:

    python tools/migrate_casing.py --dry-run   # count what would change
    python tools/migrate_casing.py             # rewrite (idempotent: a second run changes 0)

Each document is rewritten through `DocumentStore.update` (under its etag), so a write the
app makes meanwhile is re-read, never overwritten. Only field names change: top-level keys
(except system fields `_etag`, `_ts` and `id`, `pk`, `ttl`, which have no underscore to
lose) and the keys of the records in the nested maps listed in `NESTED` (a paper account's
positions, settlements and reservations). Values and free-form nested data (a strategy's
`spec` parameters, a replayed response `body`, an audit record's `detail`) are left alone.
Run documents (`backtests`) were camelCase already.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pydantic.alias_generators import to_camel  # noqa: E402

from shared import audit  # noqa: E402
from shared.journal import store as journal_store  # noqa: E402
from shared.paper import broker, idempotency  # noqa: E402
from shared.storage.documents import Document, DocumentStore  # noqa: E402
from shared.storage.factory import document_store  # noqa: E402
from shared.strategies_store import store as strategies_store  # noqa: E402
from shared.watchlists import selection  # noqa: E402

NESTED: dict[str, tuple[str, ...]] = {
    broker.CONTAINER: ("positions", "settled", "reservations"),
    idempotency.CONTAINER: (),
    journal_store.CONTAINER: (),
    strategies_store.CONTAINER: (),
    selection.CONTAINER: (),
    audit.CONTAINER: (),
}
"""The containers whose documents had snake_case fields, and per container the top-level
maps (key = a symbol or an order id) whose record values have field names too."""


def _camel_keys(record: dict[str, Any]) -> dict[str, Any]:
    """`record` with its snake_case keys in camelCase; a key already present in camelCase
    keeps its value (the newer write)."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key.startswith("_") or "_" not in key:
            out[key] = value
    for key, value in record.items():
        if not key.startswith("_") and "_" in key:
            out.setdefault(to_camel(key), value)
    return out


def camelized(doc: Document, nested: tuple[str, ...] = ()) -> Document:
    """The document with camelCase field names (see the module doc)."""
    new = _camel_keys(doc)
    for name in nested:
        records = new.get(name)
        if isinstance(records, dict):
            new[name] = {
                key: _camel_keys(value) if isinstance(value, dict) else value
                for key, value in records.items()
            }
    return new


def migrate(store: DocumentStore, *, dry_run: bool = False) -> dict[str, int]:
    """Rename the fields of every document in `NESTED`'s containers; per container, how many
    documents changed (or would, with `dry_run`)."""
    changed: dict[str, int] = {}
    for container, nested in NESTED.items():
        count = 0
        for doc in store.query_all(container, None):
            if camelized(doc, nested) == doc:
                continue
            count += 1
            if not dry_run:

                def change(current: Document, nested: tuple[str, ...] = nested) -> Document | None:
                    new = camelized(current, nested)
                    return None if new == current else new

                store.update(container, doc["id"], doc["pk"], change)
        changed[container] = count
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="count, do not write")
    args = parser.parse_args(argv)
    counts = migrate(document_store(), dry_run=args.dry_run)
    verb = "would rename" if args.dry_run else "renamed"
    for container, count in counts.items():
        print(f"{container}: {verb} the fields of {count} document(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
