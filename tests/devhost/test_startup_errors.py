"""Start-up refuses bad configuration with one line on stderr and exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devhost.localsettings import LocalSettingsError, check_name, read_values
from testsupport.host import REPO

pytestmark = pytest.mark.e2e


def run_host(
    args: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("BLOB_BACKEND",)}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "devhost", "--port", "0", "--no-timers", *args],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_one_line_exit_2(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


def test_misspelt_setting_in_local_settings(tmp_path: Path) -> None:
    settings = tmp_path / "local.settings.json"
    settings.write_text(
        json.dumps(
            {
                "IsEncrypted": False,
                "Values": {"FUNCTIONS_WORKER_RUNTIME": "python", "BLOB_BACKED": "local"},
            }
        )
    )
    result = run_host(["--settings", str(settings)])
    assert_one_line_exit_2(result, "BLOB_BACKED", "did you mean BLOB_BACKEND")


def test_bad_blob_backend_value() -> None:
    result = run_host(["--settings", os.devnull], env={"BLOB_BACKEND": "s3"})
    assert_one_line_exit_2(result, "BLOB_BACKEND")


def test_bad_value_from_local_settings(tmp_path: Path) -> None:
    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps({"Values": {"DOCUMENT_BACKEND": "cosmos"}}))
    result = run_host(["--settings", str(settings)])
    assert_one_line_exit_2(result, "COSMOS_ENDPOINT")


def test_missing_schedule_setting_names_it() -> None:
    result = run_host(["--settings", os.devnull, "--app", "tests.devhost.sample_app:app"])
    assert_one_line_exit_2(result, "SAMPLE_SCHEDULE")


def test_non_loopback_host_is_refused() -> None:
    result = run_host(["--settings", os.devnull, "--host", "0.0.0.0"])
    assert_one_line_exit_2(result, "loopback")


def test_known_azure_names_and_disabled_flags_are_accepted() -> None:
    for name in (
        "AzureWebJobsStorage",
        "FUNCTIONS_WORKER_RUNTIME",
        "AzureWebJobs.health.Disabled",
        "AzureWebJobsStorage__accountName",
        "blob_backend",
        "RELAY_IN_DEVHOST",
        "FINNHUB_API_KEYS",
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    ):
        check_name(name)


def test_unknown_name_without_close_match_has_no_suggestion() -> None:
    with pytest.raises(LocalSettingsError) as error:
        check_name("TOTALLY_DIFFERENT_THING")
    assert "did you mean" not in str(error.value)


def test_values_must_be_an_object(tmp_path: Path) -> None:
    settings = tmp_path / "local.settings.json"
    settings.write_text('{"Values": ["x"]}')
    with pytest.raises(LocalSettingsError, match="Values"):
        read_values(settings)


def test_dev_auth_outside_local_and_ci_stops_start_up_with_one_line() -> None:
    result = run_host(
        ["--settings", os.devnull], env={"ENVIRONMENT": "prod", "DEV_AUTH_ENABLED": "true"}
    )
    assert_one_line_exit_2(result, "DEV_AUTH_ENABLED=true is refused with ENVIRONMENT=prod")
