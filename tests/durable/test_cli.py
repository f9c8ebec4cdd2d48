"""`python -m tools.backtest`: the same orchestration in-process, a progress bar, a leaderboard."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from testsupport.bars import write_bars

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOCAL_DATA_DIR": str(data_dir), "BACKTEST_WORKERS": "2", "COLUMNS": "160"}
    env["BACKTEST_CHUNK_TARGET_SECONDS"] = "0.0005"
    return subprocess.run(
        [sys.executable, "-m", "tools.backtest", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_cli_sweeps_through_the_orchestration_and_prints_the_leaderboard(
    isolated_settings: Path,
) -> None:
    write_bars()
    chart = isolated_settings / "best.png"
    done = _cli(
        isolated_settings,
        "--symbol",
        "GOOG",
        "--strategy",
        "sma_cross",
        "--top",
        "5",
        "--chart",
        str(chart),
        "--grid",
        "fast=5:20:5",
        "slow=20:60:10",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "GOOG: top 5 by sharpeRatio" in done.stdout
    assert "fast" in done.stdout
    assert "slow" in done.stdout
    assert "chunks, mean" in done.stdout
    assert chart.read_bytes().startswith(b"\x89PNG")


def test_cli_names_the_problem(isolated_settings: Path) -> None:
    done = _cli(isolated_settings, "--symbol", "NOPE", "--grid", "fast=5:20:5", "slow=30:60:10")
    assert done.returncode == 2
    assert "no 1d bars for NOPE" in done.stdout


def test_cli_applies_the_same_grid_rules(isolated_settings: Path) -> None:
    """The CLI parses its grid with the API's rules: sized before expansion, one declaration."""
    write_bars()
    huge = _cli(isolated_settings, "--symbol", "GOOG", "--grid", "fast=1:4000000", "slow=300")
    assert huge.returncode == 2
    assert "has 4000000 values, more than BACKTEST_MAX_AXIS_VALUES=10000" in huge.stdout
    bad = _cli(isolated_settings, "--symbol", "GOOG", "--grid", "fast=2.5", "slow=30")
    assert bad.returncode == 2
    assert "sma_cross: fast=2.5 must be an integer" in bad.stdout
    long = _cli(isolated_settings, "--symbol", "GOOG", "--grid", "fast=5", "slow=5000")
    assert long.returncode == 2
    assert "sma_cross slow=5000 needs 5001 bars, GOOG 2004-08-19..2013-03-01 has 2148" in (
        " ".join(long.stdout.split())
    )
