"""What is deployed can import what it needs: every third-party import reachable from the
Function App (`function_app.py`) is installed by requirements.txt, and every one reachable
from the relay (`containerapps/relay`) by its image's requirements. Imports are followed
through the project's own modules by reading their source (imports inside functions too)."""

from __future__ import annotations

import ast
import re
import sys
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = {"shared", "functions", "durable", "containerapps", "function_app"}
IMPLICIT = {
    # Imported by shared.telemetry only when APPLICATIONINSIGHTS_CONNECTION_STRING is set,
    # so it must be installed wherever telemetry can be configured.
    "azure.monitor.opentelemetry",
}


def _module_file(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(p for p in parts if p)
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def reachable_imports(entries: list[Path]) -> set[str]:
    """Every module name imported by `entries` and the project modules they reach."""
    seen_files: set[Path] = set()
    found: set[str] = set()
    pending = list(entries)
    while pending:
        path = pending.pop()
        if path in seen_files:
            continue
        seen_files.add(path)
        for name in _imports(path):
            top = name.split(".")[0]
            if top in PROJECT_PACKAGES:
                target = _module_file(name)
                if target is not None:
                    pending.append(target)
            elif top not in sys.stdlib_module_names and top != "__future__":
                found.add(name)
    return found


@cache
def _top_level_index() -> dict[str, list[str]]:
    return dict(metadata.packages_distributions())


@cache
def _distribution_of(module: str) -> str | None:
    mapping = _top_level_index()
    parts = module.split(".")
    for size in range(len(parts), 0, -1):
        # namespace packages (azure.*, opentelemetry.*): find the distribution whose files
        # contain the module path
        prefix = "/".join(parts[:size])
        for dist in _distributions_with(prefix):
            return dist
    top = mapping.get(parts[0])
    return top[0] if top else None


@cache
def _files_index() -> dict[str, set[str]]:
    index: dict[str, set[str]] = {}
    for dist in metadata.distributions():
        name = _canonical(dist.metadata["Name"])
        for file in dist.files or []:
            text = str(file)
            if text.endswith((".py", "/")) and "__pycache__" not in text:
                stem = text.removesuffix(".py").removesuffix("/__init__")
                index.setdefault(stem, set()).add(name)
    return index


def _distributions_with(prefix: str) -> set[str]:
    return _files_index().get(prefix, set())


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(path: Path) -> set[str]:
    names: set[str] = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r"):
            names |= _requirement_names(path.parent / line[2:].strip())
        elif line:
            match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
            if match:
                names.add(_canonical(match.group(0)))
    return names


def _closure(names: set[str]) -> set[str]:
    """The distributions `pip install` brings for `names` (as installed here)."""
    done: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in done:
            continue
        done.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in requires:
            if "extra ==" in requirement:
                continue
            match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
            if match:
                pending.append(_canonical(match.group(0)))
    return done


def _missing(entries: list[Path], requirements: Path) -> dict[str, str]:
    installed = _closure(_requirement_names(requirements))
    missing: dict[str, str] = {}
    for module in sorted(reachable_imports(entries) | IMPLICIT):
        dist = _distribution_of(module)
        if dist is None:
            continue
        if _canonical(dist) not in installed:
            missing[module] = dist
    return missing


def test_the_function_app_imports_only_what_requirements_txt_installs() -> None:
    missing = _missing([ROOT / "function_app.py"], ROOT / "requirements.txt")
    assert not missing, f"imported by the Function App but not installed in Azure: {missing}"


def test_the_relay_image_installs_everything_the_relay_imports() -> None:
    requirements = ROOT / "containerapps" / "relay" / "requirements.txt"
    if not requirements.exists():
        pytest.fail("containerapps/relay/requirements.txt (the relay image's) is missing")
    entries = sorted((ROOT / "containerapps" / "relay").glob("*.py"))
    missing = _missing(entries, requirements)
    assert not missing, f"imported by the relay but not installed in its image: {missing}"


def test_the_scan_follows_project_imports_and_sees_function_level_imports() -> None:
    found = reachable_imports([ROOT / "function_app.py"])
    assert "azure.functions" in found
    assert "azure.durable_functions" in found
    assert any(name.startswith("azure.identity") for name in found), "lazy imports are missed"


def test_a_missing_runtime_requirement_is_caught(tmp_path: Path) -> None:
    relay = ROOT / "containerapps" / "relay" / "requirements.txt"
    lines = relay.read_text().splitlines()
    trimmed = tmp_path / "requirements.txt"
    kept = [line for line in lines if not line.startswith("azure-monitor-opentelemetry")]
    trimmed.write_text("\n".join(kept))
    entries = sorted((ROOT / "containerapps" / "relay").glob("*.py"))
    missing = _missing(entries, trimmed)
    assert missing.get("azure.monitor.opentelemetry") == "azure-monitor-opentelemetry"
