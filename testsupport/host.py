"""Start the local host for end-to-end tests: a real `python -m devhost` subprocess.

    from testsupport.host import start_host

    def test_health():
        with start_host() as host:
            assert httpx.get(f"{host.base_url}/api/health").status_code == 200

`start_host` picks a free loopback port (and sets PUBLIC_BASE_URL to it, and DEV_ISSUER to the
dev issuer of this process so that `auth_headers` tokens validate there), gives the host its
own LOCAL_DATA_DIR (a temp folder removed afterwards, unless `env` sets one), ignores any
developer local.settings.json, runs timers only with `timers=True`, waits until
`GET /admin/host/status` answers 200 (every plugin started), and on exit stops it (SIGTERM,
then kill). The host also exits by itself if the test process dies. `logs` holds everything
the host printed so far (stdout and stderr); `wait_for_log(regex)` and `invocations(name)`
read it. `in_process_host` serves an app inside the current event loop (no subprocess).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from types import TracebackType

import azure.functions as func
import httpx

from devhost.host import DevHost
from devhost.index import index_app, load_app
from devhost.plugins import Plugin
from shared.config import SettingsError, load_settings

REPO = Path(__file__).resolve().parents[1]
READY_TIMEOUT = 60.0
READY_PATH = "/admin/host/status"
STOP_TIMEOUT = 10.0


class HostFailedToStart(RuntimeError):
    """The host exited or never became ready; the message carries its output."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RunningHost:
    """One local host subprocess: `base_url`, `process`, `logs`; a context manager."""

    def __init__(self, process: subprocess.Popen[str], base_url: str, data_dir: Path | None):
        self.process = process
        self.base_url = base_url
        self.data_dir = data_dir
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._lock:
                self._lines.append(line)

    @property
    def logs(self) -> str:
        with self._lock:
            return "".join(self._lines)

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    def wait_for_log(self, pattern: str, timeout: float = 10.0, count: int = 1) -> list[str]:
        """Wait until `pattern` (a regex) matches `count` lines; return the matching lines."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            found = [line for line in self.logs.splitlines() if regex.search(line)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(
                    f"{count} log line(s) matching {pattern!r} not seen in {timeout}s; "
                    f"host output:\n{self.logs}"
                )
            time.sleep(0.05)

    def invocations(self, function: str) -> list[str]:
        """The invocation log lines of `function` so far."""
        return [
            line
            for line in self.logs.splitlines()
            if re.search(rf"invocation function={re.escape(function)} ", line)
        ]

    def stop(self) -> int:
        """SIGTERM, wait, kill if needed; return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
        self._reader.join(timeout=2)
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = None
        return int(self.process.returncode)

    def __enter__(self) -> RunningHost:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def host_command(port: int, *, timers: bool, app: str | None, args: Sequence[str]) -> list[str]:
    command = [sys.executable, "-m", "devhost", "--port", str(port)]
    command += ["--settings", os.devnull] if "--settings" not in args else []
    command += [] if timers else ["--no-timers"]
    command += ["--app", app] if app else []
    return [*command, *args]


IN_PROCESS_HOST_WRITES = ("WEBPUBSUB_CONNECTION_STRING",)
"""Variables the local host sets in its own os.environ (the stand-in's connection string):
a host started later must make its own, not inherit one pointing at a host that is gone."""


def start_host(
    env: dict[str, str] | None = None,
    timers: bool = False,
    *,
    app: str | None = None,
    args: Sequence[str] = (),
    ready_timeout: float = READY_TIMEOUT,
    ready_path: str = READY_PATH,
) -> RunningHost:
    """Start `python -m devhost` on a free port and wait until it serves requests.

    `env` is added to this process's environment; `app` is a "module:attribute" FunctionApp
    (default function_app:app); `args` are extra command-line options; the host is ready
    when `ready_path` answers (any status below 500, or 503 from a health route). Use the
    result as a context manager, or call `stop()`.
    """
    last_error: HostFailedToStart | None = None
    for _ in range(3):
        try:
            return _start_once(env or {}, timers, app, args, ready_timeout, ready_path)
        except HostFailedToStart as error:
            if "address already in use" not in str(error).lower():
                raise
            last_error = error
    assert last_error is not None
    raise last_error


def _start_once(
    env: dict[str, str],
    timers: bool,
    app: str | None,
    args: Sequence[str],
    ready_timeout: float,
    ready_path: str,
) -> RunningHost:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    data_dir = None
    environment = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "DEVHOST_PARENT_PID": str(os.getpid()),
        **env,
    }
    for name in IN_PROCESS_HOST_WRITES:
        if name not in env:  # left in os.environ by a host an earlier test ran in-process
            environment.pop(name, None)
    if "LOCAL_DATA_DIR" not in env:
        data_dir = Path(tempfile.mkdtemp(prefix="devhost-data-"))
        environment["LOCAL_DATA_DIR"] = str(data_dir)
    if "PUBLIC_BASE_URL" not in env:
        environment["PUBLIC_BASE_URL"] = base_url
    if "DEV_ISSUER" not in env:
        # The host matches the dev issuer exactly; tokens minted here carry this process's.
        with contextlib.suppress(SettingsError):  # a test of bad settings: the host says so
            environment["DEV_ISSUER"] = load_settings().dev_issuer_url
    process = subprocess.Popen(
        host_command(port, timers=timers, app=app, args=args),
        cwd=REPO,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    host = RunningHost(process, base_url, data_dir)
    deadline = time.monotonic() + ready_timeout
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                host.stop()
                raise HostFailedToStart(
                    f"host exited with {process.returncode}; output:\n{host.logs}"
                )
            with contextlib.suppress(httpx.HTTPError):
                status = client.get(f"{base_url}{ready_path}").status_code
                if status < 500 or (status == 503 and ready_path != READY_PATH):
                    return host
            time.sleep(0.1)
    logs = host.logs
    host.stop()
    raise HostFailedToStart(f"host not ready after {ready_timeout}s; output:\n{logs}")


@contextlib.asynccontextmanager
async def in_process_host(
    app: str | func.FunctionApp,
    *,
    plugins: Sequence[Plugin] = (),
    timers: bool = False,
    settings: dict[str, str] | None = None,
    timer_state: Path | None = None,
) -> AsyncIterator[DevHost]:
    """A `DevHost` serving `app` ("module:attribute" or a FunctionApp) inside this event loop
    on a free port; faster than a subprocess, for tests of the host and of plugins."""
    function_app = load_app(app) if isinstance(app, str) else app
    host = DevHost(
        index_app(function_app),
        port=0,
        timers=timers,
        plugins=plugins,
        settings=settings,
        app_reference=app if isinstance(app, str) else "in-process",
        timer_state=timer_state,
    )
    await host.start()
    try:
        yield host
    finally:
        await host.stop()
