"""tools.smoke: passes against the local host, fails readably (exit 1, no traceback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from testsupport.auth import auth_headers
from testsupport.host import start_host

ROOT = Path(__file__).resolve().parents[2]


def _smoke(base_url: str, *args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.smoke", "--base-url", base_url, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={
            **{
                k: v
                for k, v in os.environ.items()
                if k not in ("SMOKE_TOKEN", "FUNCTIONS_MASTER_KEY")
            },
            "COLUMNS": "200",
        },
    )


class _Broken(BaseHTTPRequestHandler):
    """Healthy /api/health, everything else broken in a different way."""

    def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = json.dumps(body).encode() if not isinstance(body, bytes) else body
        self.send_response(status)
        self.send_header("X-Request-Id", "rid-42")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/api/health":
            self._send(200, {"status": "ok", "version": "9.9.9"})
        elif path == "/api/health/providers":
            self._send(
                200, {"status": "down", "providers": [{"provider": "yahoo", "status": "down"}]}
            )
        elif path == "/api/quotes":
            self._send(200, {"quotes": [], "missing": ["AAPL"]})
        elif path == "/api/feed/negotiate":
            self._send(503, {"title": "Unavailable", "detail": "the live feed is not configured"})
        else:
            self._send(404, b"not here", "text/plain")

    def do_POST(self) -> None:
        self._send(
            422,
            {"title": "Invalid input", "detail": "unknown strategy 'sma_cross'"},
            "application/problem+json",
        )

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def broken_app() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Broken)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_failures_exit_nonzero_with_readable_reasons(broken_app: str) -> None:
    run = _smoke(broken_app, "--timeout", "1", "--ws-duration", "1", "--token", "t")
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert "Traceback" not in output
    assert "pass" in output  # health
    assert "every active provider is down" in output
    assert "no quote for any of" in output
    assert "unknown strategy 'sma_cross' (request id rid-42)" in output
    assert "the live feed is not configured" in output
    assert "4 check(s) failed: providers, quote, backtest, feed" in output


def test_unreachable_app_fails_every_check_without_traceback() -> None:
    run = _smoke("http://127.0.0.1:9", "--timeout", "1", "--ws-duration", "1")
    assert run.returncode == 1
    assert "Traceback" not in run.stdout + run.stderr
    assert "cannot reach http://127.0.0.1:9" in run.stdout


@pytest.mark.e2e
@pytest.mark.slow
def test_smoke_passes_against_the_local_host(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with start_host(env={"LOCAL_DATA_DIR": str(data)}, ready_timeout=120) as host:
        token = auth_headers("admin", "smoke")["Authorization"].removeprefix("Bearer ")
        run = _smoke(
            host.base_url,
            "--token",
            token,
            "--seed",
            "--ws-duration",
            "5",
            "--timeout",
            "240",
        )
        output = run.stdout + run.stderr
        assert run.returncode == 0, f"{output}\nhost output:\n{host.logs[-4000:]}"
    for check in ("health", "providers", "seed", "quote", "backtest", "feed"):
        assert check in run.stdout
    assert "all 6 checks passed" in run.stdout
