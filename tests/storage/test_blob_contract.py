"""The BlobStore contract: every adapter (local folder, Azurite) must pass it unchanged."""

from __future__ import annotations

import io
import os
from datetime import timedelta
from urllib.parse import urlparse, urlunparse

import pytest

from shared.errors import Conflict, InvalidInput, PreconditionFailed
from shared.storage.blob import BlobNotFound, BlobStore
from tests.storage.conftest import FetchSigned

PAYLOAD = bytes(range(256)) * 64 + b"\x00end"


class FailingStream(io.RawIOBase):
    """Yields some bytes, then breaks like a dropped upload."""

    def __init__(self, good: bytes) -> None:
        self.good = good
        self.sent = False

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray) -> int:  # type: ignore[override]
        if self.sent:
            raise OSError("connection dropped mid-upload")
        self.sent = True
        size = min(len(target), len(self.good))
        target[:size] = self.good[:size]
        return size

    def read(self, size: int = -1) -> bytes:
        if self.sent:
            raise OSError("connection dropped mid-upload")
        self.sent = True
        return self.good


def test_bytes_round_trip(blob_store: BlobStore) -> None:
    info = blob_store.put("a/b/payload.bin", PAYLOAD)
    assert blob_store.get("a/b/payload.bin") == PAYLOAD
    assert info.size == len(PAYLOAD)
    assert info.name == "a/b/payload.bin"
    assert blob_store.info("a/b/payload.bin").etag == info.etag
    assert blob_store.exists("a/b/payload.bin")
    assert not blob_store.exists("a/b/other.bin")


def test_stream_round_trip(blob_store: BlobStore) -> None:
    big = os.urandom(3 * 1024 * 1024 + 17)
    blob_store.put("big/random.bin", io.BytesIO(big))
    with blob_store.open("big/random.bin") as stream:
        chunks = []
        while chunk := stream.read(256 * 1024):
            chunks.append(chunk)
    assert b"".join(chunks) == big
    assert blob_store.get("big/random.bin") == big
    assert blob_store.info("big/random.bin").size == len(big)


def test_unicode_and_space_names(blob_store: BlobStore, fetch_signed: FetchSigned) -> None:
    name = "folder/naïve file €.txt"
    blob_store.put(name, b"hello")
    assert blob_store.get(name) == b"hello"
    assert [item.name for item in blob_store.list("folder/")] == [name]
    assert fetch_signed(blob_store.signed_url(name, timedelta(minutes=5))) == (200, b"hello")


def test_metadata_and_content_type(blob_store: BlobStore) -> None:
    blob_store.put(
        "meta.json",
        b"{}",
        metadata={"source": "alphavantage", "rows": "12"},
        content_type="application/json",
    )
    info = blob_store.info("meta.json")
    assert info.content_type == "application/json"
    assert info.metadata == {"source": "alphavantage", "rows": "12"}
    assert blob_store.metadata("meta.json") == {"source": "alphavantage", "rows": "12"}
    blob_store.set_metadata("meta.json", {"checked": "yes"})
    assert blob_store.metadata("meta.json") == {"checked": "yes"}
    assert blob_store.get("meta.json") == b"{}"
    assert blob_store.info("meta.json").content_type == "application/json"
    with pytest.raises(BlobNotFound):
        blob_store.set_metadata("absent.json", {"a": "b"})
    with pytest.raises(InvalidInput):
        blob_store.put("bad-meta", b"x", metadata={"not a key": "v"})


def test_default_content_type(blob_store: BlobStore) -> None:
    assert blob_store.put("plain", b"x").content_type == "application/octet-stream"


def test_etag_changes_on_every_write(blob_store: BlobStore) -> None:
    etags = {blob_store.put("same", b"x").etag for _ in range(4)}
    assert len(etags) == 4
    assert blob_store.info("same").etag in etags


def test_conditional_put(blob_store: BlobStore) -> None:
    first = blob_store.put("cond.bin", b"1")
    second = blob_store.put("cond.bin", b"2", if_match=first.etag)
    assert second.etag != first.etag
    with pytest.raises(PreconditionFailed):
        blob_store.put("cond.bin", b"3", if_match=first.etag)
    assert blob_store.get("cond.bin") == b"2"
    with pytest.raises(PreconditionFailed):
        blob_store.put("gone.bin", b"x", if_match=second.etag)
    assert not blob_store.exists("gone.bin")
    blob_store.set_metadata("cond.bin", {"k": "v"})
    with pytest.raises(PreconditionFailed):
        blob_store.put("cond.bin", b"4", if_match=second.etag)


def test_missing_blob(blob_store: BlobStore) -> None:
    with pytest.raises(BlobNotFound):
        blob_store.get("nope")
    with pytest.raises(BlobNotFound):
        blob_store.info("nope")
    with pytest.raises(BlobNotFound):
        blob_store.open("nope")
    assert not blob_store.exists("nope")
    assert blob_store.delete("nope") is False


def test_overwrite_false_conflicts(blob_store: BlobStore) -> None:
    blob_store.put("once", b"first", overwrite=False)
    with pytest.raises(Conflict):
        blob_store.put("once", b"second", overwrite=False)
    assert blob_store.get("once") == b"first"
    blob_store.put("once", b"third")
    assert blob_store.get("once") == b"third"


def test_list_by_prefix_in_name_order(blob_store: BlobStore) -> None:
    names = ["b/2.txt", "a/z.txt", "b/10.txt", "a/b/c.txt", "ab.txt", "b/1.txt"]
    for name in names:
        blob_store.put(name, name.encode())
    assert [item.name for item in blob_store.list()] == sorted(names)
    assert [item.name for item in blob_store.list("b/")] == ["b/1.txt", "b/10.txt", "b/2.txt"]
    assert [item.name for item in blob_store.list("a")] == ["a/b/c.txt", "a/z.txt", "ab.txt"]
    assert [item.name for item in blob_store.list("b/1")] == ["b/1.txt", "b/10.txt"]
    assert list(blob_store.list("zzz/")) == []
    sizes = {item.name: item.size for item in blob_store.list()}
    assert sizes == {name: len(name) for name in names}


def test_list_empty_container(blob_store: BlobStore) -> None:
    assert list(blob_store.list()) == []


def test_delete(blob_store: BlobStore) -> None:
    blob_store.put("d/one", b"1")
    blob_store.put("d/two", b"2")
    assert blob_store.delete("d/one") is True
    assert blob_store.delete("d/one") is False
    assert [item.name for item in blob_store.list("d/")] == ["d/two"]
    with pytest.raises(BlobNotFound):
        blob_store.get("d/one")


def test_failed_stream_write_leaves_old_bytes(blob_store: BlobStore) -> None:
    blob_store.put("atomic.bin", b"old bytes")
    with pytest.raises(Exception):  # noqa: B017, PT011 - adapters surface the stream's error
        blob_store.put("atomic.bin", FailingStream(b"new partial bytes"))  # type: ignore[arg-type]
    assert blob_store.get("atomic.bin") == b"old bytes"
    assert [item.name for item in blob_store.list()] == ["atomic.bin"]


def test_signed_url_reads_without_credentials(
    blob_store: BlobStore, fetch_signed: FetchSigned
) -> None:
    blob_store.put("reports/r.bin", PAYLOAD, content_type="application/octet-stream")
    url = blob_store.signed_url("reports/r.bin", timedelta(minutes=10))
    assert fetch_signed(url) == (200, PAYLOAD)


def test_signed_url_rejects_bad_signature(blob_store: BlobStore, fetch_signed: FetchSigned) -> None:
    blob_store.put("reports/r.bin", PAYLOAD)
    url = blob_store.signed_url("reports/r.bin", timedelta(minutes=10))
    parsed = urlparse(url)
    query = "&".join(
        f"sig={value[:-2]}{'AA' if not value.endswith('AA') else 'BB'}" if key == "sig" else part
        for part in parsed.query.split("&")
        for key, _, value in [part.partition("=")]
    )
    assert query != parsed.query
    status, body = fetch_signed(urlunparse(parsed._replace(query=query)))
    assert status == 403
    assert PAYLOAD not in body
    other = urlunparse(parsed._replace(path=parsed.path.replace("r.bin", "s.bin")))
    blob_store.put("reports/s.bin", b"secret")
    assert fetch_signed(other)[0] == 403


def test_signed_url_expires(blob_store: BlobStore, fetch_signed: FetchSigned) -> None:
    blob_store.put("old.bin", b"x")
    assert fetch_signed(blob_store.signed_url("old.bin", timedelta(seconds=-5)))[0] == 403


@pytest.mark.parametrize("name", ["../escape", "/abs/path", "a//b", "a/./b", "a/../b", ""])
def test_invalid_names(blob_store: BlobStore, name: str) -> None:
    with pytest.raises(InvalidInput):
        blob_store.put(name, b"x")
    with pytest.raises(InvalidInput):
        blob_store.get(name)


def test_ping(blob_store: BlobStore) -> None:
    blob_store.ping()
