"""tests/README.md's index cannot rot: every package or module of the code has a row, every
path a row names exists, and every test file is in some row. When a module lacks its row, the
message suggests the test files that import it."""

from __future__ import annotations

import re
from pathlib import Path

from tests.test_import_boundaries import imported_modules

ROOT = Path(__file__).resolve().parents[1]
INDEX = ROOT / "tests" / "README.md"
# Folders whose direct modules and packages each need a row.
CODE_ROOTS = ("shared", "functions", "durable", "devhost", "containerapps/relay", "tools", "bench")

_ROW = re.compile(r"^\| (?P<code>[^|]+) \| (?P<tests>[^|]+) \|$")
_PATH = re.compile(r"`([^`\s]+)`")


def code_units() -> set[str]:
    """`shared/config.py`, `shared/backtest/`, ...: the direct children of each code root
    (modules other than `__init__.py`, and packages)."""
    units: set[str] = set()
    for root in CODE_ROOTS:
        for path in (ROOT / root).iterdir():
            if path.is_dir() and (path / "__init__.py").is_file():
                units.add(f"{root}/{path.name}/")
            elif path.suffix == ".py" and path.name != "__init__.py":
                units.add(f"{root}/{path.name}")
    return units


def all_test_files() -> set[str]:
    """Every test module under tests/."""
    return {
        str(path.relative_to(ROOT))
        for path in (ROOT / "tests").rglob("test_*.py")
        if "__pycache__" not in path.parts
    }


def index_rows(text: str) -> list[tuple[list[str], list[str]]]:
    """Each table row as (the paths of its first cell, the paths of its second)."""
    rows = []
    for line in text.splitlines():
        match = _ROW.match(line.strip())
        if match and not set(match["code"]) <= set("- "):
            row = (_PATH.findall(match["code"]), _PATH.findall(match["tests"]))
            if row != ([], []):  # a header
                rows.append(row)
    return rows


def importers(unit: str) -> list[str]:
    """The test files that import `unit` (a hint for the row to write)."""
    module = unit.rstrip("/").removesuffix(".py").replace("/", ".")
    found = []
    for name in sorted(all_test_files()):
        path = ROOT / name
        imports = imported_modules(name.removesuffix(".py").replace("/", "."), path)
        if any(i == module or i.startswith(f"{module}.") for i in imports):
            found.append(name)
    return found


def covered(path: str, named: set[str]) -> bool:
    """`path` is named itself or lies in a named folder."""
    return path in named or any(n.endswith("/") and path.startswith(n) for n in named)


def test_every_module_has_one_row() -> None:
    rows = index_rows(INDEX.read_text())
    listed = [code for codes, _ in rows for code in codes if code in code_units()]
    missing = sorted(code_units() - set(listed))
    hints = {unit: importers(unit) or "no test imports it" for unit in missing}
    assert not missing, f"tests/README.md has no row for: {hints}"
    twice = sorted({code for code in listed if listed.count(code) > 1})
    assert not twice, f"tests/README.md lists these more than once: {twice}"


def test_every_named_path_exists() -> None:
    named = {path for codes, tests in index_rows(INDEX.read_text()) for path in codes + tests}
    named = {p for p in named if "/" in p or p.endswith(".py")}
    gone = sorted(p for p in named if not (ROOT / p).exists())
    assert not gone, f"tests/README.md names paths that do not exist: {gone}"


def test_every_test_file_is_in_some_row() -> None:
    named = {path for _, tests in index_rows(INDEX.read_text()) for path in tests}
    orphans = sorted(t for t in all_test_files() if not covered(t, named))
    assert not orphans, f"tests/README.md's index names no row for: {orphans}"


def test_the_checks_read_rows_and_paths_as_written() -> None:
    text = (
        "| Code | Tests |\n| --- | --- |\n"
        "| `shared/x.py` | `tests/a/`, `tests/b/test_c.py` (why) |\n"
        "| `bench/y.py` | none: `make bench` runs it |\n"
    )
    assert index_rows(text) == [
        (["shared/x.py"], ["tests/a/", "tests/b/test_c.py"]),
        (["bench/y.py"], []),
    ]
    assert covered("tests/a/test_d.py", {"tests/a/"})
    assert not covered("tests/ab/test_d.py", {"tests/a/"})
    assert {"shared/backtest/", "shared/config.py", "containerapps/relay/service.py"} <= (
        code_units()
    )
    assert "tests/api/test_paper.py" in importers("shared/paper/")
