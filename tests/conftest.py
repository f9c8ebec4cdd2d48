"""Root fixtures: every test gets its own data folder and fresh settings."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.config import get_settings
from shared.storage.documents import DocumentStore
from shared.storage.factory import document_store
from testsupport.fake_providers import FakeMarket, FakeProviders, serve_fake_providers
from testsupport.routes import call_route

pytest_plugins = ["tests.support.emulators"]  # session fixtures `azurite`, `cosmos_emulator`


@pytest.fixture(scope="session", autouse=True)
def dev_issuer_key_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One dev-issuer key for the whole session (set in os.environ, so every host started
    by any fixture, at any scope, trusts the tokens `auth_headers` mints)."""
    path = tmp_path_factory.mktemp("dev-issuer") / "dev-issuer-key.pem"
    previous = os.environ.get("DEV_ISSUER_KEY_FILE")
    os.environ["DEV_ISSUER_KEY_FILE"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("DEV_ISSUER_KEY_FILE", None)
    else:
        os.environ["DEV_ISSUER_KEY_FILE"] = previous


@pytest.fixture(autouse=True)
def numba_thread_count_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep NUMBA_NUM_THREADS at the count numba already launched its threads with: numba
    re-reads it when it compiles, and a different value then (`tools` sets 1 at import, other
    code may leave it unset) raises "Cannot set NUMBA_NUM_THREADS to a different value"."""
    numba = sys.modules.get("numba")
    if numba is not None:
        monkeypatch.setenv("NUMBA_NUM_THREADS", str(numba.config.NUMBA_NUM_THREADS))


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point LOCAL_DATA_DIR at a fresh folder and drop cached settings around each test."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("LOCAL_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    yield data_dir
    get_settings.cache_clear()


@pytest.fixture
def call() -> Callable[..., Any]:
    """`testsupport.routes.call_route`: the app's routes called in-process."""
    return call_route


@pytest.fixture
def fake() -> Iterator[FakeProviders]:
    """The fake provider servers (Alpha Vantage, Yahoo, CoinGecko) on loopback;
    `fake.env()` points the settings at them."""
    with serve_fake_providers(FakeMarket(timeout_sleep=1.0)) as server:
        yield server


@pytest.fixture
def store() -> DocumentStore:
    """The document store the settings of this test select (embedded unless told)."""
    return document_store()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under CI=true a skipped `emulator` test fails the run: CI must exercise every
    contract suite against the emulators (locally a missing emulator only skips)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    ci = os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")
    if ci and report.skipped and item.get_closest_marker("emulator") is not None:
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"CI=true: emulator test was skipped ({reason}); install the emulators"
