"""`python -m tools.drift`, as the README shows it: the README's example session is run as
written (on fresh storage) and its printed output must be the README's, line for line."""

from __future__ import annotations

import json
import re
import shlex

from typer.testing import CliRunner

from testsupport.host import REPO
from tools.drift import app

COMMAND = "$ .venv/bin/python -m tools.drift"


def readme_example() -> tuple[list[str], list[str]]:
    """The README's tools.drift example: its arguments and the lines it printed."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = next(
        m.group(1)
        for m in re.finditer(r"^```console\n(.*?)^```", text, re.S | re.M)
        if m.group(1).startswith(COMMAND)
    )
    lines = block.splitlines()
    command = []
    while True:
        line = lines.pop(0)
        command.append(line.rstrip("\\").strip())
        if not line.endswith("\\"):
            break
    args = shlex.split(" ".join(command))[len(shlex.split(COMMAND)) :]
    return args, lines


def test_the_readme_example_prints_what_the_readme_shows() -> None:
    args, expected = readme_example()
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    printed = [line.rstrip() for line in result.output.splitlines()]
    assert printed == [line.rstrip() for line in expected]


def test_json_is_the_apis_report_and_bad_input_exits_2() -> None:
    args, _ = readme_example()
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output[result.output.index("{") :])
    assert body["exact"]["difference"] == "-205.514950"
    assert len(body["extra"]) == 102
    bad = CliRunner().invoke(app, [*args, "--params", "fast=30,slow=10"])
    assert bad.exit_code == 2
    assert "fast" in bad.output
    unknown = CliRunner().invoke(app, [*args, "--strategy", "nope"])
    assert unknown.exit_code == 2
    assert "strategy 'nope'" in unknown.output
