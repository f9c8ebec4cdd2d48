"""Per-install secrets of the local stand-ins: the blob-URL signing key and the Web PubSub
access key are random, made on first run under LOCAL_DATA_DIR (mode 0600), so nothing signed
with a constant from the source (the keys the project used to ship) is accepted."""

from __future__ import annotations

import stat
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient

from devhost.webpubsub import WebPubSubPlugin
from shared.config import get_settings, load_settings
from shared.errors import Forbidden
from shared.feed.connection import local_connection_string, webpubsub_connection_string
from shared.local_secrets import install_secret
from shared.storage.blob_local import read_signed, sign
from shared.storage.factory import blob_store, clear_cache
from testsupport.host import in_process_host

OLD_SIGNING_KEY = "local-dev-signing-key-change-me"
OLD_ACCESS_KEY = "local-webpubsub-access-key-not-a-secret"
SETTINGS = {"SAMPLE_SCHEDULE": "0 0 0 1 1 *"}


def test_a_secret_is_made_once_private_and_per_install(tmp_path: Path) -> None:
    path = tmp_path / "a" / "k.key"
    seen: list[str] = []
    threads = [threading.Thread(target=lambda: seen.append(install_secret(path))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 1
    assert len(seen[0]) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(path.parent.iterdir()) == [path]
    assert install_secret(tmp_path / "b" / "k.key") != seen[0]


def test_the_blob_signing_key_is_this_installs_own(
    isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOCAL_SIGNING_KEY", raising=False)
    settings = load_settings()
    key = settings.blob_signing_key
    assert key not in (OLD_SIGNING_KEY, "")
    assert (isolated_settings / "local-signing.key").read_text() == key
    assert load_settings().blob_signing_key == key
    monkeypatch.setenv("LOCAL_SIGNING_KEY", "explicit-key")
    assert load_settings().blob_signing_key == "explicit-key"


def test_a_url_signed_with_the_old_constant_is_refused(
    isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOCAL_SIGNING_KEY", raising=False)
    get_settings.cache_clear()
    clear_cache()
    settings = get_settings()
    store = blob_store(settings.results_container, settings)
    store.put("bob/run-1/equity.parquet", b"bob's results")
    url = store.signed_url("bob/run-1/equity.parquet", timedelta(minutes=1))
    se = url.split("se=")[1].split("&")[0]
    sig = url.split("sig=")[1]
    stream, _ = read_signed(settings.results_container, "bob/run-1/equity.parquet", se, sig)
    with stream:
        assert stream.read() == b"bob's results"
    forged = sign(OLD_SIGNING_KEY, settings.results_container, "bob/run-1/equity.parquet", int(se))
    with pytest.raises(Forbidden, match="signature does not match"):
        read_signed(settings.results_container, "bob/run-1/equity.parquet", se, forged)


async def test_the_webpubsub_standin_refuses_the_old_constant_key(
    isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAY_IN_DEVHOST", "false")
    monkeypatch.delenv("WEBPUBSUB_CONNECTION_STRING", raising=False)
    monkeypatch.delenv("WEBPUBSUB_ENDPOINT", raising=False)
    get_settings.cache_clear()
    key = get_settings().webpubsub_local_key
    assert key != OLD_ACCESS_KEY
    assert stat.S_IMODE((isolated_settings / "webpubsub-access.key").stat().st_mode) == 0o600
    plugin = WebPubSubPlugin()
    async with in_process_host(
        "tests.devhost.sample_app:app", plugins=[plugin], settings=SETTINGS
    ) as host:
        monkeypatch.setenv("PUBLIC_BASE_URL", host.base_url)
        get_settings.cache_clear()
        own = webpubsub_connection_string(get_settings())
        assert own == local_connection_string(host.base_url, key)
        service = WebPubSubServiceClient.from_connection_string(own, "ticks")
        await service.send_to_all({"price": 1.0})
        await service.close()
        forged = WebPubSubServiceClient.from_connection_string(
            local_connection_string(host.base_url, OLD_ACCESS_KEY), "ticks"
        )
        with pytest.raises(ClientAuthenticationError):
            await forged.send_to_all({"price": 666.0})
        await forged.close()
