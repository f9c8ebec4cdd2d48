"""The embedded `DocumentStore`: JSON documents in one SQLite table (WAL, multi-process safe).

One row per (container, pk, id) holding the JSON body, the etag, the last-write time and the
expiry. Every write runs in `BEGIN IMMEDIATE`, so an etag check and its write are atomic
across threads and processes (the local host runs activities in a process pool). Each thread
of each process gets its own connection. Expired rows are invisible and swept on writes.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from shared.errors import Conflict, InvalidInput, Unavailable
from shared.storage.doc_rules import (
    check_container,
    check_item,
    check_key,
    check_query,
    effective_ttl,
    field_segments,
)
from shared.storage.documents import (
    Document,
    DocumentNotFound,
    DocumentStore,
    Filter,
    Page,
    PatchOp,
    StaleEtag,
)
from shared.storage.patching import apply_patch

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    container TEXT NOT NULL,
    pk TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    etag TEXT NOT NULL,
    ts INTEGER NOT NULL,
    expires_at REAL,
    PRIMARY KEY (container, pk, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS documents_expiry ON documents (expires_at)
    WHERE expires_at IS NOT NULL;
"""

LIVE = "(expires_at IS NULL OR expires_at > ?)"
SWEEP_EVERY = 200


def _json_path(field: str) -> str:
    """A JSON path literal; safe to inline because every segment is an identifier."""
    return "'$." + ".".join(field_segments(field)) + "'"


def _type_guard(type_sql: str, value: Any) -> str:
    """Comparisons only match values of the same JSON type, as in Cosmos."""
    if isinstance(value, bool):
        return f"{type_sql} IN ('true', 'false')"
    if isinstance(value, int | float):
        return f"{type_sql} IN ('integer', 'real')"
    if isinstance(value, str):
        return f"{type_sql} = 'text'"
    raise InvalidInput(f"cannot compare with {value!r}; use a string, number or boolean")


def _filter_sql(item: Filter, params: list[Any]) -> str:
    path = _json_path(item.field)
    extract = f"json_extract(body, {path})"
    json_type = f"json_type(body, {path})"
    if item.op == "in":
        values = list(item.value)
        if not values:
            return "0"
        options = []
        for value in values:
            options.append(f"({_type_guard(json_type, value)} AND {extract} = ?)")
            params.append(value)
        return "(" + " OR ".join(options) + ")"
    if item.op == "contains":
        params.append(item.value)
        return (
            f"EXISTS (SELECT 1 FROM json_each(body, {path}) AS e "
            f"WHERE {_type_guard('e.type', item.value)} AND e.value = ?)"
        )
    if item.value is None:
        if item.op not in ("=", "!="):
            raise InvalidInput(f"filter on {item.field!r}: null only works with = and !=")
        return f"{json_type} {'=' if item.op == '=' else 'IS NOT'} 'null'"
    params.append(item.value)
    operator = "<>" if item.op == "!=" else item.op
    return f"({_type_guard(json_type, item.value)} AND {extract} {operator} ?)"


class SqliteDocumentStore(DocumentStore):
    """Documents in the SQLite file at `path` (created on first use)."""

    def __init__(self, path: Path, *, busy_timeout_seconds: float = 30.0) -> None:
        self.path = Path(path)
        self.busy_timeout_seconds = busy_timeout_seconds
        self._local = threading.local()
        self._writes = 0
        self._schema_ready = False

    def __repr__(self) -> str:
        return f"SqliteDocumentStore({str(self.path)!r})"

    # --- connections and transactions -------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        cached = getattr(self._local, "conn", None)
        if cached is not None and self._local.pid == os.getpid():
            return cached
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout_seconds,
            isolation_level=None,
            check_same_thread=False,
        )
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_seconds * 1000)}")
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            # Switching modes takes an exclusive lock that ignores busy_timeout: only when needed.
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        if not self._schema_ready:
            conn.executescript(SCHEMA)
            self._schema_ready = True
        self._local.conn = conn
        self._local.pid = os.getpid()
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        self._writes += 1
        if self._writes % SWEEP_EVERY == 0:
            with contextlib.suppress(sqlite3.OperationalError):
                conn.execute("DELETE FROM documents WHERE expires_at <= ?", (time.time(),))

    def _run(self, action: Callable[[], T]) -> T:
        try:
            return action()
        except sqlite3.OperationalError as error:
            raise Unavailable(f"SQLite document store {self.path}: {error}") from None

    # --- helpers ---------------------------------------------------------------------------
    def _current(
        self, conn: sqlite3.Connection, container: str, id: str, pk: str
    ) -> Document | None:
        row = conn.execute(
            f"SELECT body FROM documents WHERE container = ? AND pk = ? AND id = ? AND {LIVE}",
            (container, pk, id, time.time()),
        ).fetchone()
        return json.loads(row[0]) if row else None

    def _store(self, conn: sqlite3.Connection, container: str, item: Document) -> Document:
        now = time.time()
        stored = dict(item)
        stored["_etag"] = f'"{uuid.uuid4().hex}"'
        stored["_ts"] = int(now)
        ttl = effective_ttl(container, item)
        conn.execute(
            "INSERT OR REPLACE INTO documents (container, pk, id, body, etag, ts, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                container,
                item["pk"],
                item["id"],
                json.dumps(stored, allow_nan=False),
                stored["_etag"],
                stored["_ts"],
                None if ttl is None else now + ttl,
            ),
        )
        return stored

    @staticmethod
    def _check_etag(current: Document | None, if_match: str | None, what: str) -> Document | None:
        if if_match is None:
            return current
        if current is None:
            raise DocumentNotFound(f"{what} does not exist (if_match given)")
        if current["_etag"] != if_match:
            raise StaleEtag(f"{what} was changed by someone else; re-read it and retry")
        return current

    # --- the port ------------------------------------------------------------------------
    def create(self, container: str, item: Document) -> Document:
        check_container(container)
        body = check_item(item)

        def action() -> Document:
            with self._write() as conn:
                if self._current(conn, container, body["id"], body["pk"]) is not None:
                    raise Conflict(f"{container}/{body['pk']}/{body['id']} already exists")
                return self._store(conn, container, body)

        return self._run(action)

    def upsert(self, container: str, item: Document, *, if_match: str | None = None) -> Document:
        check_container(container)
        body = check_item(item)
        what = f"{container}/{body['pk']}/{body['id']}"

        def action() -> Document:
            with self._write() as conn:
                if if_match is not None:
                    current = self._current(conn, container, body["id"], body["pk"])
                    self._check_etag(current, if_match, what)
                return self._store(conn, container, body)

        return self._run(action)

    def read(self, container: str, id: str, pk: str) -> Document:
        check_container(container)
        check_key(id, "id")
        check_key(pk, "pk")
        found = self._run(lambda: self._current(self._connect(), container, id, pk))
        if found is None:
            raise DocumentNotFound(f"{container}/{pk}/{id} not found")
        return found

    def query(
        self,
        container: str,
        pk: str | None,
        filters: list[Filter] | None = None,
        *,
        order_by: str | None = None,
        descending: bool = False,
        limit: int | None = None,
        continuation: str | None = None,
    ) -> Page:
        check_container(container)
        checked = check_query(filters, limit)
        shape = [order_by or "", descending]
        after = decode_token(continuation, shape)
        params: list[Any] = [container, time.time()]
        where = ["container = ?", LIVE]
        if pk is not None:
            where.append("pk = ?")
            params.append(pk)
        where.extend(_filter_sql(item, params) for item in checked)
        direction = "DESC" if descending else "ASC"
        sort = f"json_extract(body, {_json_path(order_by)})" if order_by else None
        if after is not None:
            where.append(_after_sql(sort, descending, after, params))
        order = f"pk {direction}, id {direction}"
        if sort:
            order = f"{sort} {direction}, {order}"
        columns = f"body, pk, id{', ' + sort if sort else ''}"
        sql = f"SELECT {columns} FROM documents WHERE {' AND '.join(where)} ORDER BY {order}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit + 1)
        rows = self._run(lambda: self._connect().execute(sql, params).fetchall())
        token = None
        if limit is not None and len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            token = encode_token(shape, last[3] if sort else None, last[1], last[2])
        return Page(items=[json.loads(row[0]) for row in rows], continuation=token)

    def patch(
        self,
        container: str,
        id: str,
        pk: str,
        operations: list[PatchOp],
        *,
        if_match: str | None = None,
    ) -> Document:
        check_container(container)
        check_key(id, "id")
        check_key(pk, "pk")
        what = f"{container}/{pk}/{id}"

        def action() -> Document:
            with self._write() as conn:
                current = self._current(conn, container, id, pk)
                self._check_etag(current, if_match, what)
                if current is None:
                    raise DocumentNotFound(f"{what} not found")
                patched = check_item(apply_patch(current, operations))
                return self._store(conn, container, patched)

        return self._run(action)

    def delete(self, container: str, id: str, pk: str, *, if_match: str | None = None) -> bool:
        check_container(container)
        check_key(id, "id")
        check_key(pk, "pk")
        what = f"{container}/{pk}/{id}"

        def action() -> bool:
            with self._write() as conn:
                current = self._current(conn, container, id, pk)
                if current is None:
                    return False
                self._check_etag(current, if_match, what)
                conn.execute(
                    "DELETE FROM documents WHERE container = ? AND pk = ? AND id = ?",
                    (container, pk, id),
                )
                return True

        return self._run(action)

    def ping(self) -> None:
        try:
            self._connect().execute("SELECT count(*) FROM documents LIMIT 1").fetchone()
        except (sqlite3.Error, OSError) as error:
            raise Unavailable(f"SQLite document store {self.path}: {error}") from None

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            conn.close()
        self._local = threading.local()


def _after_sql(sort: str | None, descending: bool, after: dict[str, Any], params: list[Any]) -> str:
    """Rows strictly after the last row of the previous page, in the query's order (keyset
    paging: stable while others insert or delete). NULLs sort first ascending, last descending."""
    beyond = "<" if descending else ">"
    keys = f"(pk, id) {beyond} (?, ?)"
    value = after["v"]
    if sort is None:
        params.extend([after["pk"], after["id"]])
        return keys
    if value is None:
        params.extend([after["pk"], after["id"]])
        if descending:
            return f"({sort} IS NULL AND {keys})"
        return f"({sort} IS NOT NULL OR {keys})"
    params.extend([value, value, after["pk"], after["id"]])
    later = f"{sort} {beyond} ?"
    if descending:
        later = f"({later} OR {sort} IS NULL)"
    return f"({later} OR ({sort} = ? AND {keys}))"


def encode_token(shape: list[Any], value: Any, pk: str, id: str) -> str:
    body = {"s": shape, "v": value, "pk": pk, "id": id}
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode()


def decode_token(token: str | None, shape: list[Any]) -> dict[str, Any] | None:
    """The last row of the previous page; `InvalidInput` for a foreign or mismatched token."""
    if not token:
        return None
    try:
        after = json.loads(base64.urlsafe_b64decode(token.encode()))
        valid = (
            isinstance(after, dict)
            and isinstance(after.get("pk"), str)
            and isinstance(after.get("id"), str)
            and "v" in after
        )
    except (ValueError, TypeError, binascii.Error):
        valid = False
    if not valid:
        raise InvalidInput("continuation token is not one this store issued")
    if after.get("s") != shape:
        raise InvalidInput("continuation token belongs to a query with another order")
    return dict(after)
