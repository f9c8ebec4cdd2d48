"""`python -m tools.backfill`: the same path as the endpoint, with readable errors."""

from __future__ import annotations

from typer.testing import CliRunner

from shared.config import get_settings
from shared.ingest.bars import BarLake
from shared.storage.factory import lake
from tools.backfill import app

runner = CliRunner()


def test_backfill_fills_the_lake(env: dict[str, str]) -> None:
    result = runner.invoke(
        app,
        [
            "--symbols",
            "AAPL,MSFT",
            "--start",
            "2024-02-01",
            "--end",
            "2024-02-29",
            "--provider",
            "alphavantage",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "2 ok" in result.output
    table = BarLake(lake(get_settings())).read("MSFT", "1d")
    days = [ts.date().isoformat() for ts in table["ts"].to_pylist()]
    assert days[0] == "2024-02-01"
    assert days[-1] == "2024-02-29"


def test_failures_exit_non_zero_with_the_reason(env: dict[str, str]) -> None:
    result = runner.invoke(
        app, ["--symbols", "^GSPC", "--start", "2024-02-01", "--provider", "alphavantage"]
    )
    assert result.exit_code == 1
    assert "alphavantage does not serve ^GSPC (index); use yahoo" in result.output
    assert "Traceback" not in result.output


def test_readable_input_errors(env: dict[str, str]) -> None:
    bad_symbol = runner.invoke(app, ["--symbols", "AA!", "--start", "2024-01-01"])
    assert bad_symbol.exit_code == 2
    assert "unknown symbol" in bad_symbol.output
    bad_date = runner.invoke(app, ["--symbols", "AAPL", "--start", "2024-13-01"])
    assert bad_date.exit_code == 2
    assert "YYYY-MM-DD" in bad_date.output
    reversed_range = runner.invoke(
        app, ["--symbols", "AAPL", "--start", "2024-05-01", "--end", "2024-01-01"]
    )
    assert reversed_range.exit_code == 2
    for result in (bad_symbol, bad_date, reversed_range):
        assert "Traceback" not in result.output


def test_intraday_interval(env: dict[str, str]) -> None:
    args = ["--symbols", "MSFT", "--start", "2024-06-27", "--end", "2024-06-28"]
    result = runner.invoke(app, [*args, "--interval", "30m", "--provider", "yahoo"])
    assert result.exit_code == 0, result.output
    table = BarLake(lake(get_settings())).read("MSFT", "30m")
    assert table.num_rows == 2 * 13
    assert set(table["interval"].to_pylist()) == {"30m"}
    unknown = runner.invoke(app, [*args, "--interval", "2h"])
    assert unknown.exit_code == 1
    assert "interval '2h'" in unknown.output
