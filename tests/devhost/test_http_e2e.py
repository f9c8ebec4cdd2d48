"""The local host serves HTTP triggers with Azure's semantics (real subprocess, real sockets)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest

from shared.storage.blob_local import LocalBlobStore
from testsupport.host import RunningHost, start_host

pytestmark = pytest.mark.e2e

SAMPLE = "tests.devhost.sample_app:app"
SIGNING_KEY = "e2e-signing-key"


@pytest.fixture(scope="module")
def host() -> Iterator[RunningHost]:
    env = {"SAMPLE_SCHEDULE": "0 0 0 1 1 *", "LOCAL_SIGNING_KEY": SIGNING_KEY}
    with start_host(env, app=SAMPLE, args=["--no-plugins"]) as running:
        yield running


@pytest.fixture
def client(host: RunningHost) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=host.base_url, timeout=10) as http:
        yield http


def test_health_answers_200(client: httpx.Client) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["content-type"] == "application/json"


def test_route_params_query_headers_body_and_status(client: httpx.Client) -> None:
    response = client.post(
        "/api/echo/42/bob",
        params=[("a", "1"), ("a", "2"), ("status", "201")],
        headers={"X-Probe": "probe-value"},
        content=b"hello body",
    )
    assert response.status_code == 201
    assert response.headers["x-out"] == "yes"
    assert response.headers["set-cookie"] == "a=1"
    seen = response.json()
    assert seen["method"] == "POST"
    assert seen["route"] == {"id": "42", "name": "bob"}
    assert seen["params"] == {"a": "1,2", "status": "201"}
    assert seen["header"] == "probe-value"
    assert seen["body"] == "hello body"
    assert seen["url"].startswith(f"{client.base_url}/api/echo/42/bob?")


def test_optional_parameter_may_be_absent(client: httpx.Client) -> None:
    seen = client.get("/api/echo/7").json()
    assert seen["route"] == {"id": "7"}


def test_constraint_mismatch_is_404(client: httpx.Client) -> None:
    assert client.get("/api/echo/notanumber").status_code == 404
    assert client.get("/api/letters/abc1").status_code == 404
    assert client.get("/api/letters/abc").text == "abc"


def test_literal_route_wins_over_parameter(client: httpx.Client) -> None:
    assert client.get("/api/echo/new").text == "literal wins"


def test_catch_all_route(client: httpx.Client) -> None:
    assert client.get("/api/files/a/b/c.txt").text == "a/b/c.txt"


def test_wrong_method_is_405_with_allow(client: httpx.Client) -> None:
    response = client.delete("/api/echo/1")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST, PUT"


def test_unknown_route_is_404(client: httpx.Client) -> None:
    assert client.get("/api/nowhere").status_code == 404
    assert client.get("/elsewhere").status_code == 404


def test_mimetype_and_charset(client: httpx.Client) -> None:
    assert client.get("/api/letters/xyz").headers["content-type"] == "text/html; charset=latin-1"
    response = client.get("/api/slow")
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.content == b"\x00\x01binary"


def test_string_return_is_200_text(client: httpx.Client) -> None:
    response = client.get("/api/text")
    assert response.status_code == 200
    assert response.text == "plain string"


def test_exception_is_500_without_traceback_and_logged(
    client: httpx.Client, host: RunningHost
) -> None:
    response = client.get("/api/boom")
    assert response.status_code == 500
    assert "deliberate" not in response.text
    host.wait_for_log(r"invocation function=boom trigger=httpTrigger .* outcome=ValueError")


def test_returning_something_else_is_500(client: httpx.Client, host: RunningHost) -> None:
    assert client.get("/api/dict").status_code == 500
    host.wait_for_log(r"invocation function=returns_dict .*outcome=500 dict")


def test_sync_functions_run_concurrently(client: httpx.Client) -> None:
    import concurrent.futures
    import time

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda _: client.get("/api/slow").status_code, range(4)))
    assert statuses == [200] * 4
    assert time.perf_counter() - started < 1.1


def test_one_log_line_per_invocation(client: httpx.Client, host: RunningHost) -> None:
    before = len(host.invocations("letters"))
    client.get("/api/letters/once")
    lines = host.wait_for_log(r"invocation function=letters ", count=before + 1)
    assert len(lines) == before + 1
    assert "trigger=httpTrigger" in lines[-1]
    assert "outcome=200" in lines[-1]
    assert "duration_ms=" in lines[-1]


def test_startup_table_lists_functions(host: RunningHost) -> None:
    logs = host.logs
    assert f"GET {host.base_url}/api/health" in logs
    assert "ticker" in logs
    assert "0 0 0 1 1 *" in logs


def test_devstorage_serves_signed_urls_and_refuses_bad_ones(host: RunningHost) -> None:
    """Signed URLs of the embedded blob store read back through GET /devstorage/..."""
    assert host.data_dir is not None
    store = LocalBlobStore(
        host.data_dir / "blobs", "results", signing_key=SIGNING_KEY, public_base_url=host.base_url
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
