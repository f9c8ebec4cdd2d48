"""LocalBlobStore specifics: on-disk layout, folder/blob collisions, no temp leftovers."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from shared.errors import Conflict, InvalidInput
from shared.storage.blob_local import LocalBlobStore


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(
        tmp_path, "raw", signing_key="k", public_base_url="http://127.0.0.1:7071/"
    )


def test_layout_is_plain_files_with_sidecar(store: LocalBlobStore, tmp_path: Path) -> None:
    store.put(
        "av/AAPL.json", b'{"a":1}', metadata={"provider": "av"}, content_type="application/json"
    )
    assert (tmp_path / "raw" / "av" / "AAPL.json").read_bytes() == b'{"a":1}'
    sidecar = json.loads((tmp_path / ".meta" / "raw" / "av" / "AAPL.json.json").read_text())
    assert sidecar["content_type"] == "application/json"
    assert sidecar["metadata"] == {"provider": "av"}
    assert sidecar["etag"] == store.info("av/AAPL.json").etag
    assert list((tmp_path / ".tmp").iterdir()) == []


def test_delete_prunes_empty_folders(store: LocalBlobStore, tmp_path: Path) -> None:
    store.put("a/b/c/d.bin", b"x")
    assert store.delete("a/b/c/d.bin")
    assert list((tmp_path / "raw").iterdir()) == []
    store.put("a/b", b"now a blob where a folder was")
    assert store.get("a/b") == b"now a blob where a folder was"


def test_blob_and_folder_cannot_share_a_name(store: LocalBlobStore) -> None:
    store.put("x/y", b"1")
    with pytest.raises(Conflict):
        store.put("x", b"2")
    with pytest.raises(Conflict):
        store.put("x/y/z", b"3")
    assert [info.name for info in store.list()] == ["x/y"]


def test_failed_stream_leaves_no_temp_file(store: LocalBlobStore, tmp_path: Path) -> None:
    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, target: bytearray) -> int:  # type: ignore[override]
            raise OSError("boom")

    with pytest.raises(OSError, match="boom"):
        store.put("b.bin", Broken())  # type: ignore[arg-type]
    assert list((tmp_path / ".tmp").iterdir()) == []
    assert not store.exists("b.bin")


def test_signed_url_shape(store: LocalBlobStore) -> None:
    from datetime import timedelta

    url = store.signed_url("dir/a b.txt", timedelta(minutes=1))
    assert url.startswith("http://127.0.0.1:7071/devstorage/raw/dir/a%20b.txt?se=")
    assert "&sig=" in url


def test_container_names_are_checked(tmp_path: Path) -> None:
    for bad in ("UPPER", "a", "has_underscore", "-lead", ".meta"):
        with pytest.raises(InvalidInput):
            LocalBlobStore(tmp_path, bad, signing_key="k", public_base_url="x")
