"""Imports through the API and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from shared.journal.service import journal_of
from testsupport.routes import assert_problem
from tools.journal import app

DATA = Path(__file__).parent / "data"
IB = (DATA / "ibkr_flex_trades.csv").read_text()


async def test_upload_imports_once_and_is_audited(call):
    body = {"format": "ibkr_flex", "content": IB, "filename": "flex.csv"}
    first = await call("POST", "journal/imports", body=body)
    assert first.status == 200
    assert first.json["added"] == 4
    again = await call("POST", "journal/imports", body=body)
    assert (again.json["added"], again.json["duplicates"]) == (0, 4)
    listed = await call("GET", "journal/imports", role="viewer")
    assert [item["filename"] for item in listed.json["items"]] == ["flex.csv"]
    stats = await call("GET", "journal/stats", query={"brokerAccount": "U7654321"})
    assert stats.json["trades"] == 1
    assert (await call("POST", "journal/imports", body=body, role="viewer")).status == 403


async def test_bad_rows_come_back_as_problem_json_by_line_and_column(call):
    content = IB.replace(
        '"101","0000e1a2.65b3c4d5.01.01","20240304;093015","BUY","100"',
        '"101","0000e1a2.65b3c4d5.01.01","20240304;093015","BUY","1e"',
    )
    reply = await call("POST", "journal/imports", body={"format": "ibkr_flex", "content": content})
    assert reply.status == 422
    assert reply.mimetype == "application/problem+json"
    assert reply.json["errors"] == [
        {"line": 2, "column": "Quantity", "message": "could not convert string to float: '1e'"}
    ]
    assert reply.json["errorCount"] == 1
    assert (await call("GET", "journal/executions")).json["items"] == []


async def test_size_limits(call):
    too_big = json.dumps({"format": "generic", "content": "x" * (9 * 1024 * 1024)}).encode()
    reply = await call("POST", "journal/imports", body=too_big)
    assert_problem(reply, 413, "Payload too large", "request body is larger than 8388608 bytes")
    over_chars = await call(
        "POST", "journal/imports", body={"format": "generic", "content": "x" * 5_000_001}
    )
    assert over_chars.status == 422
    assert "content" in over_chars.json["detail"]
    rows = (
        "symbol,side,quantity,price,executed_at\n" + "AAPL,buy,1,1,2024-01-01T00:00:00Z\n" * 50_001
    )
    many = await call("POST", "journal/imports", body={"format": "generic", "content": rows})
    assert many.status == 413
    assert "more than 50000 rows" in many.json["detail"]
    wrong = await call("POST", "journal/imports", body={"format": "csv", "content": "a"})
    assert_problem(wrong, 422, "Invalid input", "format: Input should be 'ibkr_flex'")


def test_cli_imports_with_progress_and_lists_bad_rows(tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        app, ["import", str(DATA / "ibkr_flex_trades.csv"), "-f", "ibkr_flex", "-a", "carol"]
    )
    assert result.exit_code == 0, result.output
    assert "4 added" in result.output
    assert len(journal_of("carol").all_executions()) == 4
    bad = tmp_path / "bad.csv"
    bad.write_text(IB.replace('"SELL","-100","181.25","-1.02"', '"SELL","-100","","-1.02"'))
    failed = runner.invoke(app, ["import", str(bad), "-f", "ibkr_flex", "-a", "carol"])
    assert failed.exit_code == 1
    assert "TradePrice" in failed.output
    assert "nothing imported" in failed.output
    shown = runner.invoke(app, ["stats", "-a", "carol"])
    assert shown.exit_code == 0
    assert "netPnl" in shown.output
