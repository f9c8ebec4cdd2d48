"""`DocumentStore.update`, the one etag read-modify-write, on every adapter (SQLite always,
the Cosmos emulator with `-m emulator`): lost races are retried, never dropped; a pinned
version is checked once; the bound raises instead of dropping the change."""

from __future__ import annotations

from typing import Any

import pytest

from shared.storage.documents import (
    Document,
    DocumentNotFound,
    DocumentStore,
    StaleEtag,
    UpdateContended,
    content,
)
from testsupport.race import race


def bump(doc: Document) -> Document:
    return {**doc, "n": doc.get("n", 0) + 1}


def test_update_writes_the_change_and_returns_the_stored_document(
    document_store: DocumentStore, container: str
) -> None:
    first = document_store.create(container, {"id": "a", "pk": "p", "n": 1, "keep": "x"})
    stored = document_store.update(container, "a", "p", bump)
    assert stored is not None
    assert content(stored) == {"id": "a", "pk": "p", "n": 2, "keep": "x"}
    assert stored["_etag"] != first["_etag"]
    assert content(document_store.read(container, "a", "p")) == content(stored)


def test_change_sees_content_without_system_fields(
    document_store: DocumentStore, container: str
) -> None:
    document_store.create(container, {"id": "a", "pk": "p", "n": 1})
    seen: list[Document] = []

    def look(doc: Document) -> None:
        seen.append(dict(doc))

    assert document_store.update(container, "a", "p", look) is None
    assert seen == [{"id": "a", "pk": "p", "n": 1}]


def test_none_means_no_write(document_store: DocumentStore, container: str) -> None:
    before = document_store.create(container, {"id": "a", "pk": "p", "n": 1})
    assert document_store.update(container, "a", "p", lambda doc: None) is None
    after = document_store.read(container, "a", "p")
    assert after["_etag"] == before["_etag"]
    assert after["n"] == 1


def test_missing_without_default_is_not_found(
    document_store: DocumentStore, container: str
) -> None:
    calls: list[Document] = []

    def record(doc: Document) -> Document:
        calls.append(doc)
        return doc

    with pytest.raises(DocumentNotFound):
        document_store.update(container, "gone", "p", record)
    assert calls == []


def test_missing_with_default_creates_the_changed_default(
    document_store: DocumentStore, container: str
) -> None:
    stored = document_store.update(
        container, "a", "p", bump, default={"id": "a", "pk": "p", "kind": "counter"}
    )
    assert stored is not None
    assert content(stored) == {"id": "a", "pk": "p", "kind": "counter", "n": 1}
    again = document_store.update(container, "a", "p", bump, default={"id": "a", "pk": "p"})
    assert again is not None
    assert again["n"] == 2
    assert again["kind"] == "counter"


def test_pinned_version_is_written_once_when_current(
    document_store: DocumentStore, container: str
) -> None:
    first = document_store.create(container, {"id": "a", "pk": "p", "n": 1})
    stored = document_store.update(container, "a", "p", bump, if_match=first["_etag"])
    assert stored is not None
    assert stored["n"] == 2


def test_pinned_stale_version_fails_without_retrying(
    document_store: DocumentStore, container: str
) -> None:
    first = document_store.create(container, {"id": "a", "pk": "p", "n": 1})
    document_store.update(container, "a", "p", bump)
    calls: list[int] = []

    def counted(doc: Document) -> Document:
        calls.append(1)
        return bump(doc)

    with pytest.raises(StaleEtag):
        document_store.update(container, "a", "p", counted, if_match=first["_etag"])
    assert calls == []
    assert document_store.read(container, "a", "p")["n"] == 2


def test_pinned_version_that_loses_the_write_is_stale(
    document_store: DocumentStore, container: str
) -> None:
    first = document_store.create(container, {"id": "a", "pk": "p", "n": 1})

    def interfered(doc: Document) -> Document:
        document_store.upsert(container, {"id": "a", "pk": "p", "n": 100})
        return bump(doc)

    with pytest.raises(StaleEtag):
        document_store.update(container, "a", "p", interfered, if_match=first["_etag"])
    assert document_store.read(container, "a", "p")["n"] == 100


def test_pinned_version_of_a_missing_document_is_not_found(
    document_store: DocumentStore, container: str
) -> None:
    with pytest.raises(DocumentNotFound):
        document_store.update(
            container, "a", "p", bump, if_match='"1"', default={"id": "a", "pk": "p"}
        )


def test_a_lost_race_is_retried_with_the_new_content(
    document_store: DocumentStore, container: str
) -> None:
    document_store.create(container, {"id": "a", "pk": "p", "n": 1})
    seen: list[int] = []

    def racing(doc: Document) -> Document:
        seen.append(doc["n"])
        if len(seen) == 1:  # another writer lands between our read and our write
            document_store.upsert(container, {"id": "a", "pk": "p", "n": 10})
        return bump(doc)

    stored = document_store.update(container, "a", "p", racing)
    assert seen == [1, 10]
    assert stored is not None
    assert stored["n"] == 11


def test_bound_raises_instead_of_dropping(document_store: DocumentStore, container: str) -> None:
    document_store.create(container, {"id": "a", "pk": "p", "n": 0, "other": 0})
    calls: list[int] = []

    def always_loses(doc: Document) -> Document:
        calls.append(1)
        document_store.upsert(container, {**doc, "other": len(calls)})
        return bump(doc)

    with pytest.raises(UpdateContended) as raised:
        document_store.update(container, "a", "p", always_loses, attempts=4)
    assert raised.value.status == 409
    assert "4 attempts" in raised.value.detail
    assert len(calls) == 4
    stored = document_store.read(container, "a", "p")
    assert (stored["n"], stored["other"]) == (0, 4)


def test_an_error_in_change_aborts_without_writing(
    document_store: DocumentStore, container: str
) -> None:
    before = document_store.create(container, {"id": "a", "pk": "p", "n": 1})

    def refuse(doc: Document) -> Document:
        raise LookupError("no")

    with pytest.raises(LookupError):
        document_store.update(container, "a", "p", refuse)
    assert document_store.read(container, "a", "p")["_etag"] == before["_etag"]


def test_change_may_not_move_the_document(document_store: DocumentStore, container: str) -> None:
    document_store.create(container, {"id": "a", "pk": "p"})
    with pytest.raises(ValueError, match="keep id"):
        document_store.update(container, "a", "p", lambda doc: {**doc, "id": "b"})
    with pytest.raises(ValueError, match="attempts"):
        document_store.update(container, "a", "p", bump, attempts=0)


@pytest.mark.parametrize("exists", [True, False], ids=["existing", "created"])
def test_racing_threads_lose_no_update(
    document_store: DocumentStore, container: str, exists: bool
) -> None:
    """Threads increment one counter (and append their mark) at once: every increment lands."""
    if exists:
        document_store.create(container, {"id": "c", "pk": "p", "n": 0, "marks": []})
    threads, each = 6, 15

    def add(mark: str) -> Any:
        def change(doc: Document) -> Document:
            return {**doc, "n": doc.get("n", 0) + 1, "marks": [*doc.get("marks", []), mark]}

        return change

    def worker(index: int) -> None:
        for step in range(each):
            document_store.update(
                container,
                "c",
                "p",
                add(f"{index}-{step}"),
                default={"id": "c", "pk": "p"},
                attempts=1000,
                timeout=120,
            )

    assert race(threads, worker) == []
    final = document_store.read(container, "c", "p")
    assert final["n"] == threads * each
    assert sorted(final["marks"]) == sorted(f"{i}-{s}" for i in range(threads) for s in range(each))
