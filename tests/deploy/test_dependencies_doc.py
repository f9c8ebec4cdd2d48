"""The README's dependency table names every package of every requirements*.txt, in the
file it is really in."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


REQUIREMENT_FILES = [
    *sorted(ROOT.glob("requirements*.txt")),
    *sorted(ROOT.glob("*/*/requirements.txt")),
]


def _requirements() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in REQUIREMENT_FILES:
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if not line or line.startswith("-"):
                continue
            match = NAME.match(line)
            assert match, f"{path.name}: cannot read {line!r}"
            name = _normalize(match.group(1))
            found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def _documented() -> dict[str, set[str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("<!-- section:dependencies -->", 1)[1]
    rows: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and "requirements" in cells[1] and cells[2]:
            files = {f.strip().strip("`") for f in cells[1].split(",")}
            for package in cells[0].split(","):
                rows[_normalize(re.sub(r"\[.*\]", "", package).strip())] = files
    return rows


def test_every_dependency_is_explained_in_the_readme() -> None:
    required = _requirements()
    documented = _documented()
    assert required, "no requirements found"
    missing = sorted(set(required) - set(documented))
    stale = sorted(set(documented) - set(required))
    assert not missing, f"README 'Dependencies' does not explain: {missing}"
    assert not stale, f"README 'Dependencies' lists packages no requirements file has: {stale}"
    wrong = {p: (documented[p], f) for p, f in required.items() if documented[p] != f}
    assert not wrong, f"README names the wrong file for: {wrong}"
