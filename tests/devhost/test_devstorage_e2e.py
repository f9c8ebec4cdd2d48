"""`GET /devstorage/...` serves the local blob store's signed URLs through the host."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest

from shared.storage.blob_local import LocalBlobStore
from tests.support.host import start_host

pytestmark = pytest.mark.e2e

KEY = "e2e-signing-key"


def test_signed_urls_read_back_and_bad_ones_are_refused() -> None:
    env = {"SAMPLE_SCHEDULE": "0 0 0 1 1 *", "LOCAL_SIGNING_KEY": KEY}
    with start_host(env, app="tests.devhost.sample_app:app", args=["--no-plugins"]) as host:
        assert host.data_dir is not None
        store = LocalBlobStore(
            host.data_dir / "blobs", "results", signing_key=KEY, public_base_url=host.base_url
        )
        payload = bytes(range(256)) * 4096
        store.put("runs/r1/equity curve.parquet", payload, content_type="application/x-parquet")
        url = store.signed_url("runs/r1/equity curve.parquet", timedelta(minutes=5))
        assert url.startswith(f"{host.base_url}/devstorage/results/runs/r1/equity%20curve.parquet?")
        with httpx.Client(timeout=10) as client:
            response = client.get(url)
            assert response.status_code == 200
            assert response.content == payload
            assert response.headers["content-type"] == "application/x-parquet"
            tampered = url.replace("sig=", "sig=00")
            assert client.get(tampered).status_code == 403
            parts = urlsplit(url)
            other = f"{host.base_url}/devstorage/results/runs/r1/other.parquet?{parts.query}"
            assert client.get(other).status_code == 403
            missing = store.signed_url("runs/none.parquet", timedelta(minutes=5))
            assert client.get(missing).status_code == 404
            expired = store.signed_url("runs/r1/equity curve.parquet", timedelta(seconds=-1))
            assert client.get(expired).status_code == 403
