"""The timer functions: one per provider, schedules from %SCHEDULE_...% app settings."""

from __future__ import annotations

import asyncio
from typing import Any

import azure.functions as func

from functions import ingest_timers
from shared.config import get_settings
from shared.ingest.bars import BarLake
from shared.storage.factory import lake


def _timers() -> dict[str, Any]:
    app = func.FunctionApp()
    app.register_functions(ingest_timers.bp)
    return {str(f.get_function_name()): f for f in app.get_functions()}


def test_one_timer_per_provider_with_setting_schedules() -> None:
    schedules = {name: function.get_trigger().schedule for name, function in _timers().items()}
    assert schedules == {
        "ingest_alphavantage": "%SCHEDULE_ALPHAVANTAGE%",
        "ingest_yahoo": "%SCHEDULE_YAHOO%",
        "ingest_coingecko": "%SCHEDULE_COINGECKO%",
        "coingecko_ping": "%SCHEDULE_COINGECKO_PING%",
        "ingest_sample": "%SCHEDULE_SAMPLE%",
    }


def test_sample_timer_fills_the_lake_without_keys() -> None:
    function = _timers()["ingest_sample"].get_user_function()
    asyncio.run(function(None))
    table = BarLake(lake(get_settings())).read("^GSPC", "1d")
    assert table.num_rows == 5031
    assert set(table["source"].to_pylist()) == {"sample"}
