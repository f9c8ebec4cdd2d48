"""The host stops cleanly on SIGTERM, and by itself when the test run that started it dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import httpx
import pytest

from testsupport.host import REPO, free_port, start_host

pytestmark = pytest.mark.e2e

ENV = {"SAMPLE_SCHEDULE": "0 0 0 1 1 *"}
SAMPLE = "tests.devhost.sample_app:app"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sigterm_stops_with_exit_code_0() -> None:
    host = start_host(ENV, app=SAMPLE, args=["--no-plugins"])
    started = time.monotonic()
    assert host.stop() == 0
    assert time.monotonic() - started < 5
    assert "devhost: stopping" in host.logs


@pytest.mark.slow
def test_host_exits_when_its_parent_dies() -> None:
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(REPO)!r})
        from testsupport.host import start_host
        host = start_host({ENV!r}, app={SAMPLE!r}, args=["--no-plugins"])
        print(host.process.pid, flush=True)
        os._exit(0)
        """
    )
    parent = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=90, check=True
    )
    child = int(parent.stdout.strip().splitlines()[-1])
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child), f"orphaned host {child} still running"


def test_port_comes_from_local_settings_host_section(tmp_path) -> None:
    port = free_port()
    settings = tmp_path / "local.settings.json"
    settings.write_text(
        json.dumps(
            {"Values": {"LOCAL_DATA_DIR": str(tmp_path / "data")}, "Host": {"LocalHttpPort": port}}
        )
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devhost",
            "--settings",
            str(settings),
            "--no-timers",
            "--no-plugins",
            "--app",
            SAMPLE,
        ],
        cwd=REPO,
        env={**os.environ, **ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output
    assert f"at http://127.0.0.1:{port}" in output
