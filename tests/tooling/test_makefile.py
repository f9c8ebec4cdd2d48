"""The Makefile's install step under the README's `make run &` + `make -s token` race, and
`make token` failing loudly. A stand-in virtualenv (shell-script pip and python) records every
pip call and fails if two run at once, so the real Makefile is exercised in seconds."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not shutil.which("make"), reason="make is not installed")

FAKE_PIP = """#!/bin/sh
if [ -e pip.running ]; then echo "two pips at once" >&2; echo overlap >> pip.log; exit 3; fi
touch pip.running; echo "Collecting something"; sleep 0.5; rm pip.running
echo "pip $*" >> pip.log
"""


def _project(tmp_path: Path, python: str) -> Path:
    for name in (
        "Makefile",
        "requirements.txt",
        "requirements-local.txt",
        "requirements-dev.txt",
        "containerapps/relay/requirements.txt",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "pip").write_text(FAKE_PIP)
    (bin_dir / "python").write_text("#!/bin/sh\n" + python)
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    return tmp_path


def _make(cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["make", "-s", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_run_and_token_together_install_once_and_the_token_is_clean(tmp_path: Path) -> None:
    project = _project(tmp_path, 'case "$*" in *devhost.token*) echo eyJ.fake.token;; esac\n')
    run = _make(project, "run")
    token = _make(project, "token", "ROLE=trader", "ACCOUNT=alice")
    token_out, token_err = token.communicate(timeout=60)
    _run_out, run_err = run.communicate(timeout=60)
    assert token.returncode == 0, token_err
    assert run.returncode == 0, run_err
    assert token_out == "eyJ.fake.token\n", "pip's output must not reach the captured token"
    log = (project / "pip.log").read_text().splitlines()
    assert "overlap" not in log
    assert log == [
        "pip install --progress-bar on --upgrade pip",
        "pip install --progress-bar on -r requirements-local.txt",
    ]
    assert "Collecting something" in run_err + token_err, "install progress is shown (stderr)"
    # a second run installs nothing
    again = _make(project, "token")
    assert again.communicate(timeout=60)[0] == "eyJ.fake.token\n"
    assert len((project / "pip.log").read_text().splitlines()) == 2


@pytest.mark.parametrize(
    "python", ['echo "No module named typer" >&2; exit 1\n', "exit 0\n"], ids=["fails", "empty"]
)
def test_token_that_mints_nothing_exits_non_zero_with_a_message(
    tmp_path: Path, python: str
) -> None:
    project = _project(tmp_path, python)
    (project / ".venv" / ".local-installed").touch()
    token = _make(project, "token")
    out, err = token.communicate(timeout=60)
    assert token.returncode != 0
    assert out == ""
    assert "make token: no token minted" in err


def test_make_smoke_passes_the_token_without_printing_it(tmp_path: Path) -> None:
    project = _project(tmp_path, 'echo "args: $*"; echo "env: $SMOKE_TOKEN" >&2\n')
    (project / ".venv" / ".local-installed").touch()
    smoke = subprocess.run(
        ["make", "smoke", "URL=http://127.0.0.1:9", "TOKEN=eyJ.secret.token"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert smoke.returncode == 0, smoke.stderr
    assert "eyJ.secret.token" not in smoke.stdout
    assert "args: -m tools.smoke --base-url http://127.0.0.1:9\n" in smoke.stdout
    assert "(bearer token from TOKEN via SMOKE_TOKEN; not shown)" in smoke.stdout
    assert smoke.stderr == "env: eyJ.secret.token\n", "the runner gets it from SMOKE_TOKEN"
