"""What a newcomer's `make run` tells and serves: the offline defaults are the bundled series
(quotes and bars found, a symbol without offline data gets a 404 that says so), and a
`local.settings.json` selecting the emulators is announced loudly, naming what is down."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devhost.profile import apply_offline_defaults, profile_banner
from shared.config import get_settings
from testsupport.auth import auth_headers
from testsupport.host import start_host

pytestmark = pytest.mark.timeout(180)


def test_offline_defaults_are_the_bundled_series(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFAULT_SYMBOLS", "restored-after-the-test")
    monkeypatch.delenv("DEFAULT_SYMBOLS")
    monkeypatch.delenv("ALPHAVANTAGE_API_KEYS", raising=False)
    note = apply_offline_defaults(get_settings())
    assert note is not None
    assert "DEFAULT_SYMBOLS=^GSPC,^IXIC,GOOG" in note
    get_settings.cache_clear()
    assert get_settings().default_symbols == ["^GSPC", "^IXIC", "GOOG"]


@pytest.mark.parametrize(
    "env", [{"DEFAULT_SYMBOLS": "AAPL"}, {"ALPHAVANTAGE_API_KEYS": "k1"}], ids=["set", "keyed"]
)
def test_defaults_set_or_a_provider_key_are_left_alone(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    monkeypatch.delenv("DEFAULT_SYMBOLS", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    assert apply_offline_defaults(get_settings()) is None


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_emulator_profile_banner_names_the_file_the_endpoints_and_the_503(
    monkeypatch: pytest.MonkeyPatch, listening: int, tmp_path: Path
) -> None:
    down = _free_port()
    monkeypatch.setenv("BLOB_BACKEND", "azure")
    monkeypatch.setenv(
        "AZURE_STORAGE_CONNECTION_STRING",
        f"DefaultEndpointsProtocol=http;AccountName=a;AccountKey=a2V5;"
        f"BlobEndpoint=http://127.0.0.1:{listening}/a;",
    )
    monkeypatch.setenv("DOCUMENT_BACKEND", "cosmos")
    monkeypatch.setenv("COSMOS_ENDPOINT", f"http://127.0.0.1:{down}/")
    get_settings.cache_clear()
    file = tmp_path / "local.settings.json"
    lines = profile_banner(get_settings(), file)
    text = "\n".join(lines)
    assert lines[0] == f"PROFILE: {file} selects external storage, not embedded .data/ storage:"
    assert f"BLOB_BACKEND=azure (Azurite) at http://127.0.0.1:{listening}/a: answers" in text
    assert f"DOCUMENT_BACKEND=cosmos at http://127.0.0.1:{down}/: NOT REACHABLE" in text
    assert "/api/health will answer 503" in text
    assert f"remove or rename {file}" in text


def test_embedded_profile_has_no_banner() -> None:
    assert profile_banner(get_settings(), None) == []


@pytest.mark.e2e
def test_make_run_offline_serves_the_defaults_and_says_what_is_missing(tmp_path: Path) -> None:
    env = {"LOCAL_DATA_DIR": str(tmp_path / "data"), "RELAY_IN_DEVHOST": "false"}
    headers = auth_headers("viewer", "newcomer")
    with (
        start_host(env) as host,
        httpx.Client(base_url=host.base_url, timeout=60, headers=headers) as client,
    ):
        host.wait_for_log(r"offline data: DEFAULT_SYMBOLS=\^GSPC,\^IXIC,GOOG", timeout=10)
        assert client.post("/admin/functions/ingest_sample", json={"input": ""}).status_code == 202
        host.wait_for_log(r"invocation function=ingest_sample .*outcome=ok", timeout=120)
        watched = client.get("/api/health/providers").json()["watched"]
        assert (watched["wanted"], watched["selected"]) == (3, 3)
        quotes = client.get("/api/quotes", params={"symbols": "GOOG,^GSPC"}).json()
        assert quotes["missing"] == []
        assert {q["symbol"] for q in quotes["quotes"]} == {"GOOG", "^GSPC"}
        assert client.get("/api/bars/GOOG").json()["count"] == 1047
        missing = client.get("/api/bars/AAPL")
        assert missing.status_code == 404
        detail = missing.json()["detail"]
        assert "the bundled offline data has daily bars of ^GSPC, ^IXIC, GOOG only" in detail
