"""The Alpha Vantage budget planner: stalest first, even spread over the day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.ingest.planner import run_allowance, runs_left_today, stalest_first
from shared.market.symbols import parse_symbols

NOW = datetime(2024, 7, 1, 12, 0, tzinfo=UTC)


def state(success: datetime | None, **kw: object) -> dict[str, object]:
    return {"lastSuccess": success.isoformat() if success else None, **kw}


def test_stalest_first_and_never_synced_before_all() -> None:
    symbols = parse_symbols("AAPL,MSFT,IBM,NVDA")
    states = {
        "AAPL": state(NOW - timedelta(hours=20)),
        "MSFT": state(NOW - timedelta(days=3)),
        "IBM": state(NOW - timedelta(hours=1)),
    }
    plan = stalest_first(symbols, states, NOW, refresh=timedelta(hours=12), limit=10)
    assert [s.text for s in plan] == ["NVDA", "MSFT", "AAPL"]
    plan = stalest_first(symbols, states, NOW, refresh=timedelta(hours=12), limit=2)
    assert [s.text for s in plan] == ["NVDA", "MSFT"]


def test_invalid_symbols_wait_a_day() -> None:
    symbols = parse_symbols("AAPL,XXXX")
    states = {
        "XXXX": state(
            None, lastErrorKind="invalid_symbol", lastErrorAt=(NOW - timedelta(hours=2)).isoformat()
        ),
    }
    plan = stalest_first(symbols, states, NOW, refresh=timedelta(hours=12), limit=10)
    assert [s.text for s in plan] == ["AAPL"]


def test_budget_is_spread_over_the_remaining_runs() -> None:
    assert runs_left_today("0 */5 * * * *", NOW) == 144
    assert runs_left_today("0 */5 * * * *", NOW.replace(hour=23, minute=55)) == 1
    assert run_allowance(day_left=25, minute_left=5, runs_left=144) == 1
    assert run_allowance(day_left=25, minute_left=5, runs_left=1) == 5
    assert run_allowance(day_left=0, minute_left=5, runs_left=1) == 0
