"""What `azd deploy` / `func publish` ships: .funcignore keeps everything out except the app."""

from __future__ import annotations

import fnmatch
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOYED = {"function_app.py", "host.json", "requirements.txt", "functions", "durable", "shared"}
HARMLESS = {".funcignore"}
LOCAL_ONLY = {".venv", ".venv-checkov", "node_modules", ".data", ".mypy_cache", ".ruff_cache"}


def _patterns() -> list[str]:
    lines = (ROOT / ".funcignore").read_text().splitlines()
    return [line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")]


def _ignored(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in patterns)


def _top_level() -> set[str]:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    return {path.split("/", 1)[0] for path in tracked} | LOCAL_ONLY


def test_only_the_app_is_deployed() -> None:
    patterns = _patterns()
    shipped = {name for name in _top_level() if not _ignored(name, patterns)}
    extra = shipped - DEPLOYED - HARMLESS
    assert not extra, f".funcignore lets these into the package: {extra}"
    missing = {name for name in DEPLOYED if _ignored(name, patterns)}
    assert not missing, f".funcignore keeps the app itself out: {missing}"


def test_the_relay_build_context_holds_only_the_relay_code() -> None:
    def rules(path: Path) -> list[str]:
        lines = path.read_text().splitlines()
        return [line.strip() for line in lines if line.strip() and not line.startswith("#")]

    root = rules(ROOT / ".dockerignore")
    assert root[0] == "**", "the context must start from nothing"
    assert root == rules(ROOT / "containerapps" / "relay" / "Dockerfile.dockerignore")
