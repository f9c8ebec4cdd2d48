"""AzureBlobStore pieces no emulator covers: user-delegation SAS with a token credential."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from azure.core.credentials import AccessToken
from azure.storage.blob import BlobServiceClient, UserDelegationKey

from shared.storage.blob_azure import AzureBlobStore


class FakeCredential:
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("token", int(datetime.now(UTC).timestamp()) + 3600)


def delegation_key() -> UserDelegationKey:
    key = UserDelegationKey()
    key.signed_oid = "00000000-0000-0000-0000-000000000001"
    key.signed_tid = "00000000-0000-0000-0000-000000000002"
    key.signed_start = "2026-01-01T00:00:00Z"
    key.signed_expiry = "2026-01-02T00:00:00Z"
    key.signed_service = "b"
    key.signed_version = "2025-01-05"
    key.value = "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U="
    return key


def test_user_delegation_sas_with_managed_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    service = BlobServiceClient("https://acct.blob.core.windows.net", credential=FakeCredential())
    store = AzureBlobStore(service, "results")
    calls: list[tuple[datetime, datetime]] = []

    def fetch(start: datetime, expiry: datetime, **kwargs: Any) -> UserDelegationKey:
        calls.append((start, expiry))
        return delegation_key()

    monkeypatch.setattr(service, "get_user_delegation_key", fetch)
    url = store.signed_url("runs/r1/equity.parquet", timedelta(minutes=15))
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    assert parsed.netloc == "acct.blob.core.windows.net"
    assert parsed.path == "/results/runs/r1/equity.parquet"
    assert query["sp"] == ["r"]
    assert query["skoid"] == ["00000000-0000-0000-0000-000000000001"]
    assert "sig" in query
    store.signed_url("runs/r1/trades.parquet", timedelta(minutes=15))
    assert len(calls) == 1
    assert calls[0][1] - datetime.now(UTC) >= timedelta(minutes=59)


def test_account_key_sas_from_connection_string() -> None:
    service = BlobServiceClient.from_connection_string(
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5a2V5;"
        "EndpointSuffix=core.windows.net"
    )
    url = AzureBlobStore(service, "raw").signed_url("a b.json", timedelta(minutes=5))
    query = parse_qs(urlparse(url).query)
    assert urlparse(url).path == "/raw/a%20b.json"
    assert query["sp"] == ["r"]
    assert "skoid" not in query
