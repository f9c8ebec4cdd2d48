"""The Azure Cosmos DB `DocumentStore` (SQL API, azure-cosmos), also run against an emulator.

With a key (emulator, or an account key) the database and containers are created on first
use with partition key `/pk` and the default TTL from `CONTAINERS`; with a credential
(managed identity, whose data-plane role cannot create them) `bicep/` provisions them.
Queries always carry `c.pk = @pk` in the SQL text (emulators ignore the partition-key
header). Etags use `IfNotModified`, a 412 becomes `StaleEtag`.

Emulator mode (on automatically for loopback endpoints) works around the known
@vercel/cosmosdb-server bugs without changing what real Cosmos does: a read of a missing id
answers 500 there, so a 500 on read is re-checked with a query; the server never expires
items, so expired items are hidden on the client.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlparse

from azure.core import MatchConditions
from azure.core.exceptions import AzureError
from azure.cosmos import ContainerProxy, CosmosClient, DatabaseProxy, PartitionKey, exceptions

from shared.config import Settings
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
    CONTAINERS,
    Document,
    DocumentNotFound,
    DocumentStore,
    Filter,
    Page,
    PatchOp,
    StaleEtag,
)

T = TypeVar("T")
HIDDEN = ("_rid", "_self", "_attachments", "_lsn")
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")
CONTINUATION_LIMIT_KB = 1
"""Cosmos caps page tokens at this size (cross-partition ORDER BY tokens grow otherwise),
so they fit the 2048-character `continuationToken` query parameter."""


def _ref(field: str) -> str:
    """`c["a"]["b"]`: bracket notation keeps reserved words (value, order) usable."""
    return "c" + "".join(f'["{part}"]' for part in field_segments(field))


def _clean(doc: dict[str, Any]) -> Document:
    return {key: value for key, value in doc.items() if key not in HIDDEN}


class CosmosDocumentStore(DocumentStore):
    """Documents in one Cosmos DB database; one container per `container` name."""

    def __init__(
        self,
        client: CosmosClient,
        database: str,
        *,
        emulator: bool = False,
        provision: bool = True,
        endpoint: str = "",
    ) -> None:
        self.client = client
        self.database_name = database
        self.emulator = emulator
        self.provision = provision
        self.endpoint = endpoint
        self._database: DatabaseProxy | None = None
        self._containers: dict[str, ContainerProxy] = {}
        self._provisioning = threading.Lock()
        """Held while creating a database or container: threads that first touch one at once
        would otherwise race `create_*_if_not_exists` (the loser gets a 409)."""

    def __repr__(self) -> str:
        return f"CosmosDocumentStore({self.endpoint!r}, {self.database_name!r})"

    @classmethod
    def from_settings(cls, settings: Settings) -> CosmosDocumentStore:
        endpoint = settings.cosmos_endpoint
        if not endpoint:
            raise Unavailable("COSMOS_ENDPOINT is not set")
        credential: Any = settings.cosmos_key
        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        options: dict[str, Any] = {
            "enable_endpoint_discovery": settings.cosmos_endpoint_discovery,
            "connection_timeout": 5,
            "retry_total": 3,
            "retry_connect": 1,
            "retry_read": 1,
            "retry_backoff_max": 5,
        }
        emulator = urlparse(endpoint).hostname in LOOPBACK
        try:
            client = CosmosClient(endpoint, credential=credential, **options)
        except AzureError as error:
            raise Unavailable(f"Cosmos DB at {endpoint} cannot be reached: {error}") from None
        return cls(
            client,
            settings.cosmos_database,
            emulator=emulator,
            provision=settings.cosmos_key is not None,
            endpoint=endpoint,
        )

    # --- plumbing ----------------------------------------------------------------------------
    def _call(self, action: Callable[[], T], what: str) -> T:
        try:
            return action()
        except exceptions.CosmosAccessConditionFailedError:
            raise StaleEtag(f"{what} was changed by someone else; re-read it and retry") from None
        except exceptions.CosmosResourceNotFoundError:
            raise DocumentNotFound(f"{what} not found") from None
        except exceptions.CosmosResourceExistsError:
            raise Conflict(f"{what} already exists") from None
        except exceptions.CosmosHttpResponseError as error:
            if error.status_code == 400:
                raise InvalidInput(f"{what}: {error.message}") from None
            raise Unavailable(f"Cosmos DB ({what}): {error.status_code} {error.reason}") from None
        except AzureError as error:
            raise Unavailable(f"Cosmos DB ({what}) cannot be reached: {error}") from None

    def _db(self) -> DatabaseProxy:
        if self._database is None and not self.provision:
            self._database = self.client.get_database_client(self.database_name)
        if self._database is None:
            self._database = self._call(
                lambda: self.client.create_database_if_not_exists(self.database_name),
                f"database {self.database_name}",
            )
        return self._database

    def _container(self, name: str) -> ContainerProxy:
        check_container(name)
        found = self._containers.get(name)
        if found is None and not self.provision:
            found = self._db().get_container_client(name)
            self._containers[name] = found
        if found is None:
            with self._provisioning:
                found = self._containers.get(name) or self._provision(name)
                self._containers[name] = found
        return found

    def _provision(self, name: str) -> ContainerProxy:
        spec = CONTAINERS.get(name)
        options: dict[str, Any] = {"partition_key": PartitionKey(path="/pk")}
        default_ttl = spec.default_ttl if spec else -1
        if default_ttl is not None:
            options["default_ttl"] = default_ttl
        return self._call(
            lambda: self._db().create_container_if_not_exists(id=name, **options),
            f"container {name}",
        )

    def _visible(self, container: str, doc: Document) -> bool:
        if not self.emulator:
            return True
        ttl = effective_ttl(container, doc)
        return ttl is None or float(doc.get("_ts", 0)) + ttl > time.time()

    # --- the port ------------------------------------------------------------------------
    def create(self, container: str, item: Document) -> Document:
        body = check_item(item)
        proxy = self._container(container)
        what = f"{container}/{body['pk']}/{body['id']}"
        if self.emulator:
            self._drop_expired(container, proxy, body["pk"], body["id"])
        return _clean(self._call(lambda: proxy.create_item(body), what))

    def _drop_expired(self, container: str, proxy: ContainerProxy, pk: str, id: str) -> None:
        """Emulator only: delete an expired item the server kept, so writes see it gone."""
        what = f"{container}/{pk}/{id}"
        rows = self._call(lambda: self._query_raw(proxy, pk, id), what)
        if rows and not self._visible(container, rows[0]):
            with contextlib.suppress(DocumentNotFound):
                self._call(lambda: proxy.delete_item(id, partition_key=pk), what)

    def upsert(self, container: str, item: Document, *, if_match: str | None = None) -> Document:
        body = check_item(item)
        proxy = self._container(container)
        what = f"{container}/{body['pk']}/{body['id']}"
        if if_match is None:
            return _clean(self._call(lambda: proxy.upsert_item(body), what))
        if self.emulator:
            self._drop_expired(container, proxy, body["pk"], body["id"])
        return _clean(
            self._call(
                lambda: proxy.replace_item(
                    body["id"], body, etag=if_match, match_condition=MatchConditions.IfNotModified
                ),
                what,
            )
        )

    def read(self, container: str, id: str, pk: str) -> Document:
        check_key(id, "id")
        check_key(pk, "pk")
        proxy = self._container(container)
        what = f"{container}/{pk}/{id}"
        doc: dict[str, Any]
        try:
            doc = dict(self._call(lambda: proxy.read_item(id, partition_key=pk), what))
        except Unavailable:
            if not self.emulator:
                raise
            rows = self._call(lambda: self._query_raw(proxy, pk, id), what)
            if not rows:
                raise DocumentNotFound(f"{what} not found") from None
            doc = rows[0]
        if not self._visible(container, doc):
            raise DocumentNotFound(f"{what} not found (expired)")
        return _clean(doc)

    @staticmethod
    def _query_raw(proxy: ContainerProxy, pk: str, id: str) -> list[dict[str, Any]]:
        return list(
            proxy.query_items(
                "SELECT * FROM c WHERE c.pk = @pk AND c.id = @id",
                parameters=[{"name": "@pk", "value": pk}, {"name": "@id", "value": id}],
                partition_key=pk,
            )
        )

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
        checked = check_query(filters, limit)
        clauses: list[str] = []
        parameters: list[dict[str, Any]] = []

        def param(value: Any) -> str:
            name = f"@p{len(parameters)}"
            parameters.append({"name": name, "value": value})
            return name

        if pk is not None:
            clauses.append(f"c.pk = {param(pk)}")
        for item in checked:
            ref = _ref(item.field)
            if item.op == "in":
                names = ", ".join(param(value) for value in item.value)
                clauses.append(f"{ref} IN ({names})" if names else "false")
            elif item.op == "contains":
                clauses.append(f"ARRAY_CONTAINS({ref}, {param(item.value)})")
            elif item.value is None:
                if item.op not in ("=", "!="):
                    raise InvalidInput(f"filter on {item.field!r}: null only works with = and !=")
                clauses.append(f"IS_NULL({ref})" if item.op == "=" else f"NOT IS_NULL({ref})")
            else:
                clauses.append(f"{ref} {item.op} {param(item.value)}")
        sql = "SELECT * FROM c"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        if order_by:
            sql += f" ORDER BY {_ref(order_by)} {'DESC' if descending else 'ASC'}"
        proxy = self._container(container)
        what = f"query on {container}"
        options: dict[str, Any] = {"parameters": parameters}
        if pk is None:
            options["enable_cross_partition_query"] = True
        else:
            options["partition_key"] = pk
        if limit is not None:
            options["max_item_count"] = limit
            options["continuation_token_limit"] = CONTINUATION_LIMIT_KB

        def run() -> Page:
            pager: Any = proxy.query_items(sql, **options).by_page(continuation)
            if limit is None:
                rows = [row for page in pager for row in page]
                return Page(items=rows, continuation=None)
            try:
                first = list(next(pager))
            except StopIteration:
                return Page(items=[], continuation=None)
            return Page(items=first, continuation=pager.continuation_token or None)

        page = self._call(run, what)
        page.items = [_clean(row) for row in page.items if self._visible(container, row)]
        return page

    def patch(
        self,
        container: str,
        id: str,
        pk: str,
        operations: list[PatchOp],
        *,
        if_match: str | None = None,
    ) -> Document:
        check_key(id, "id")
        check_key(pk, "pk")
        if not operations:
            raise InvalidInput("patch needs at least one operation")
        for operation in operations:
            if operation.path in ("/id", "/pk") or operation.path.startswith("/_"):
                raise InvalidInput(f"patch path {operation.path!r} names a key or system field")
        ops = [
            {"op": op.op, "path": op.path}
            if op.op == "remove"
            else {"op": op.op, "path": op.path, "value": op.value}
            for op in operations
        ]
        proxy = self._container(container)
        if self.emulator:
            self._drop_expired(container, proxy, pk, id)
        options: dict[str, Any] = {"partition_key": pk, "patch_operations": ops}
        if if_match is not None:
            options.update(etag=if_match, match_condition=MatchConditions.IfNotModified)
        return _clean(self._call(lambda: proxy.patch_item(id, **options), f"{container}/{pk}/{id}"))

    def delete(self, container: str, id: str, pk: str, *, if_match: str | None = None) -> bool:
        check_key(id, "id")
        check_key(pk, "pk")
        proxy = self._container(container)
        if self.emulator:
            self._drop_expired(container, proxy, pk, id)
        options: dict[str, Any] = {"partition_key": pk}
        if if_match is not None:
            options.update(etag=if_match, match_condition=MatchConditions.IfNotModified)
        try:
            self._call(lambda: proxy.delete_item(id, **options), f"{container}/{pk}/{id}")
        except DocumentNotFound:
            return False
        return True

    def ping(self) -> None:
        def probe() -> None:
            try:
                self.client.get_database_client(self.database_name).read()
            except exceptions.CosmosResourceNotFoundError:
                return

        self._call(probe, f"database {self.database_name}")
