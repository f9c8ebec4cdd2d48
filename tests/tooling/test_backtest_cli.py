"""`tools.backtest --load-sample` needs only requirements-local.txt and loads the one bundled
dataset per symbol (the sample provider's, the same data the `ingest_sample` timer loads)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import pytest
import typer

from shared.config import get_settings
from shared.ingest.bars import BarLake
from shared.ingest.sync import Ingestor
from shared.market.symbols import parse_symbol
from shared.providers.sample import SampleClient
from shared.storage.factory import lake
from tools.backtest import load_sample


def test_load_sample_works_without_backtesting_py(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "backtesting", None)  # import backtesting -> ImportError
    monkeypatch.setitem(sys.modules, "backtesting.test", None)
    assert load_sample("goog") == 1047
    table = BarLake(lake()).read("GOOG", "1d")
    assert table.num_rows == 1047
    closes = table.column("close").to_pylist()
    expected = [bar.close for bar in SampleClient().daily(parse_symbol("GOOG"))]
    assert closes == expected
    assert str(table.column("ts")[0].as_py().date()) == "2004-08-19"
    assert str(table.column("ts")[-1].as_py().date()) == "2008-10-14"


def test_load_sample_then_the_sample_timer_leave_one_goog_series() -> None:
    load_sample("GOOG")
    first = BarLake(lake()).read("GOOG", "1d").column("close").to_pylist()
    Ingestor.from_settings(get_settings()).sync_sample(datetime.now(UTC), force=True)
    again = BarLake(lake()).read("GOOG", "1d").column("close").to_pylist()
    assert again == first


def test_load_sample_of_a_symbol_without_bundled_data_names_the_bundled_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(typer.Exit) as exited:
        load_sample("AAPL")
    assert exited.value.exit_code == 2
    out = capsys.readouterr().out
    assert "no bundled sample data for AAPL" in out
    assert "GOOG" in out
    assert "^GSPC" in out
