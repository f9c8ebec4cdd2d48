"""checkov scans bicep/ with .checkov.yaml and passes; every skipped check says why."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.bicep_model import ROOT

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
CONFIG = ROOT / ".checkov.yaml"
SKIP_LINE = re.compile(r"^\s*-\s*(CKV2?_[A-Z]+_\d+)\s*(?:#\s*(.*))?$")


def _checkov(*args: str, cwd: Path = ROOT) -> dict[str, Any]:
    if not CHECKOV.exists():
        message = f"{CHECKOV} missing: run `make checkov-deps`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    run = subprocess.run(
        [str(CHECKOV), *args, "--output", "json"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert run.stdout.strip(), f"checkov printed nothing ({run.returncode}): {run.stderr[-2000:]}"
    report = json.loads(run.stdout)
    report = report[0] if isinstance(report, list) else report
    report["returncode"] = run.returncode
    return report


def _failures(report: dict[str, Any]) -> list[str]:
    return [
        f"{c['check_id']} {c['check_name']} — {c['resource']} ({c['file_path']})"
        for c in report["results"]["failed_checks"]
    ]


def test_every_skipped_check_has_a_reason() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    skipped = config["skip-check"]
    lines = [SKIP_LINE.match(line) for line in CONFIG.read_text().splitlines()]
    reasons = {m.group(1): (m.group(2) or "").strip() for m in lines if m}
    assert set(skipped) == set(reasons)
    for check, reason in reasons.items():
        assert len(reason.split()) >= 6, f"{check} is skipped without a reason in .checkov.yaml"


@pytest.mark.slow
def test_checkov_passes_on_bicep() -> None:
    report = _checkov("--config-file", str(CONFIG))
    summary = report["summary"]
    assert not _failures(report), "checkov failures:\n" + "\n".join(_failures(report))
    assert summary["parsing_errors"] == 0
    assert summary["passed"] >= 20, f"checkov ran only {summary['passed']} checks"
    assert report["returncode"] == 0


@pytest.mark.slow
def test_checkov_with_our_config_still_catches_an_insecure_resource(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "bicep", tmp_path / "bicep")
    storage = tmp_path / "bicep" / "modules" / "storage.bicep"
    text = storage.read_text().replace("minimumTlsVersion: 'TLS1_2'", "minimumTlsVersion: 'TLS1_0'")
    storage.write_text(text)
    report = _checkov("--config-file", str(CONFIG), cwd=tmp_path)
    assert any("CKV_AZURE_44" in failure for failure in _failures(report)), _failures(report)
    assert report["returncode"] != 0
