"""A missing emulator skips loudly locally and fails under CI=true."""

from __future__ import annotations

import pytest

from tests.support import emulators


def test_missing_binary_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"EMULATOR UNAVAILABLE: .*no-such-emulator"):
        emulators._start("no-such-emulator", [], "http://127.0.0.1:9/")


def test_missing_binary_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        emulators._start("no-such-emulator", [], "http://127.0.0.1:9/")


def test_emulator_that_exits_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    if not (emulators.BIN / "cosmosdb-server").exists():
        pytest.skip("node_modules not installed")
    with pytest.raises(pytest.skip.Exception, match="exited"):
        emulators._start(
            "cosmosdb-server", ["--no-ssl", "--port", "not-a-port-x"], "http://127.0.0.1:9/"
        )
