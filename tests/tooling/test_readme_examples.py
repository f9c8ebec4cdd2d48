"""The README, executed: every fenced shell or Python example is classified here by its first
line, either RUN (the example session runs as written against a fresh local host and data
folder, and each `# ` line under a command is checked against that command's output) or
SKIPPED with the reason (Azure, Core Tools, emulators, network, test suites run elsewhere).
A new example that is neither fails `test_every_readme_example_is_run_or_skipped_by_name`."""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared.config import get_settings
from testsupport.host import REPO, start_host

README = REPO / "README.md"
SHELLS = ("sh", "bash", "console", "shell", "python")

RUN = "run"
SESSION = "make run &"
"""The example session (section "An example session"): run by `test_example_session`."""

CLASSIFIED: dict[str, str] = {
    SESSION: RUN,
    "cp local.settings.example.json local.settings.json": "skipped: Azure Functions Core Tools "
    "(func start) is not installable here",
    "node_modules/.bin/azurite": "skipped: starts the emulators; tests/storage runs them",
    "export BLOB_BACKEND=azure": "skipped: needs the emulators running (tests/storage)",
    ".venv/bin/python -m pytest tests/storage": "skipped: a test suite (make test runs it)",
    ".venv/bin/python -m tools.backfill": "skipped: needs network access to the providers",
    ".venv/bin/python -m pytest tests/providers": "skipped: a test suite and a bench",
    "$ curl -s -X POST localhost:7071/api/backtests": "skipped: a ~1-2 min sweep on this "
    "machine; its figures are the CLI run's, which test_cli_backtest_figures checks",
    "$ .venv/bin/python -m tools.backtest": RUN + " (test_cli_backtest_figures: the table's rows)",
    "$ .venv/bin/python -m pytest tests/durable": "skipped: a test suite (make test runs it)",
    "azd auth login": "skipped: Azure (azd up needs a subscription)",
    "make deps-local": "skipped: Azure (smoke-tests a deployment); tests/deploy/test_smoke.py "
    "runs the same runner against the local host",
    "az ad app create": "skipped: Azure (Entra ID app registration)",
    "from shared.storage.factory import": "skipped: a fragment (body, table are placeholders)",
    "from shared.backtest import": "skipped: a fragment (frame_or_parquet is a placeholder)",
    "$ .venv/bin/python -m tools.drift": RUN + " (tests/drift/test_cli.py: run as written, the "
    "output checked line for line)",
    ".venv/bin/python -m tools.journal": "skipped: flex.csv is the reader's own broker export; "
    "tests/journal/test_import_api.py runs the same CLI on a Flex Query file",
}


@dataclass(frozen=True)
class Example:
    line: int
    language: str
    text: str

    @property
    def first(self) -> str:
        return next(line for line in self.text.splitlines() if line.strip())


def examples() -> list[Example]:
    text = README.read_text(encoding="utf-8")
    found = []
    for match in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
        if match.group(1) in SHELLS and match.group(2).strip():
            line = text.count("\n", 0, match.start()) + 1
            found.append(Example(line, match.group(1), match.group(2)))
    return found


def classify(example: Example) -> str | None:
    return next((v for k, v in CLASSIFIED.items() if example.first.startswith(k)), None)


def test_every_readme_example_is_run_or_skipped_by_name() -> None:
    unclassified = [f"README.md:{e.line}: {e.first}" for e in examples() if classify(e) is None]
    assert not unclassified, "classify these README examples in CLASSIFIED:\n" + "\n".join(
        unclassified
    )


def report() -> list[str]:
    """One line per README example and what this check does with it (for the closing note)."""
    return [
        f"README.md:{e.line} [{e.language}] {e.first[:60]!r}: {classify(e)}" for e in examples()
    ]


@dataclass
class Step:
    command: str
    expected: list[str]


def steps(block: str) -> list[Step]:
    """Commands (backslash-continued lines joined) with the `# ` lines right under each."""
    result: list[Step] = []
    pending = ""
    for raw in block.splitlines():
        line = raw.rstrip()
        if pending:
            pending += "\n" + line
            if not line.endswith("\\"):
                result.append(Step(pending, []))
                pending = ""
            continue
        if not line.strip():
            continue
        if line.startswith("#"):
            assert result, f"an expected output before any command: {line}"
            result[-1].expected.append(line[2:] if line.startswith("# ") else line[1:])
        elif line.endswith("\\"):
            pending = line
        else:
            result.append(Step(line, []))
    return result


def matches(expected: str, output: str) -> bool:
    """`…` stands for anything; the other fragments must appear in order."""
    at = 0
    for fragment in (part for part in expected.split("…") if part):
        found = output.find(fragment, at)
        if found < 0:
            return False
        at = found + len(fragment)
    return True


def session() -> Example:
    return next(e for e in examples() if e.first.startswith(SESSION))


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_example_session(tmp_path: Path) -> None:
    plan = steps(session().text)
    assert plan[0].command.startswith(SESSION), "the session starts the host"
    data = tmp_path / "data"
    env = {"LOCAL_DATA_DIR": str(data), "RELAY_QUOTE_SECONDS": "1", "RELAY_REPLAY_RATE": "10"}
    with start_host(env, timers=True) as host:
        port = host.base_url.rsplit(":", 1)[1]
        script = ["set -e"]
        for number, step in enumerate(plan[1:], 1):
            script.append(f"echo '@@@ {number}'")
            script.append(step.command.replace("7071", port))
        environment = {
            **os.environ,
            **env,
            "PUBLIC_BASE_URL": host.base_url,
            "DEV_ISSUER": get_settings().dev_issuer_url,
            # the shared test virtualenv is ready: make must not re-install into it
            "MAKEFLAGS": "-o .venv/.local-installed",
        }
        started = time.monotonic()
        run = subprocess.run(
            ["bash", "-c", "\n".join(script)],
            cwd=REPO,
            env=environment,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        elapsed = time.monotonic() - started
        logs = host.logs
    assert run.returncode == 0, f"exit {run.returncode}\n{run.stdout}\n{run.stderr}\n{logs[-4000:]}"
    outputs = dict(
        (int(chunk.split("\n", 1)[0]), chunk.split("\n", 1)[1] if "\n" in chunk else "")
        for chunk in run.stdout.split("@@@ ")[1:]
    )
    checked = 0
    for number, step in enumerate(plan[1:], 1):
        for expected in step.expected:
            wanted = expected.replace("7071", port)
            assert matches(wanted, outputs[number]), (
                f"README command:\n{step.command}\nshows:\n{expected}\nbut printed:\n"
                f"{outputs[number]}"
            )
            checked += 1
    assert checked >= 10
    assert elapsed < 120, f"the session took {elapsed:.0f} s"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_cli_backtest_figures(tmp_path: Path) -> None:
    example = next(e for e in examples() if e.first.startswith("$ .venv/bin/python -m tools"))
    lines = example.text.splitlines()
    command = ""
    for line in lines:
        if line.startswith("$ ") or command.endswith("\\"):
            command = (command.removesuffix("\\") + " " + line.removeprefix("$ ")).strip()
    rows = [" ".join(line.split()) for line in lines if line.startswith("│ ")]
    assert len(rows) == 5
    data = tmp_path / "data"
    (tmp_path / ".data").mkdir()
    run = subprocess.run(
        ["bash", "-c", command.replace(".venv/bin/python", str(REPO / ".venv/bin/python"))],
        cwd=tmp_path,
        env={**os.environ, "LOCAL_DATA_DIR": str(data), "COLUMNS": "140", "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    printed = [" ".join(line.split()) for line in run.stdout.splitlines() if line.startswith("│ ")]
    assert printed == rows
    assert "loaded 1047 sample bars as GOOG" in run.stdout
    assert (tmp_path / ".data" / "goog.png").stat().st_size > 10_000
