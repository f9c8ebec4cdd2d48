"""Backtest execution settings are camelCase in API JSON like every request body; the
snake_case names are accepted too (as `ApiModel` accepts them everywhere)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.backtest import ExecutionSettings
from shared.backtest.runs import BacktestRequest

BODY = {
    "symbols": ["GOOG"],
    "strategy": {"strategy": "sma_cross", "grid": {"fast": "5:10:5", "slow": "20:30:10"}},
}


@pytest.mark.parametrize(
    "execution",
    [
        {"stopLossPct": 5, "takeProfitPct": 10, "slippageBps": 3, "commissionFixed": 1},
        {"stop_loss_pct": 5, "take_profit_pct": 10, "slippage_bps": 3, "commission_fixed": 1},
    ],
    ids=["camelCase", "snake_case"],
)
def test_execution_settings_read_in_either_spelling(execution: dict[str, float]) -> None:
    request = BacktestRequest.model_validate({**BODY, "execution": execution})
    assert request.execution == ExecutionSettings(
        stop_loss_pct=5, take_profit_pct=10, slippage_bps=3, commission_fixed=1
    )


def test_the_stored_request_is_camel_case_and_reads_back() -> None:
    request = BacktestRequest.model_validate({**BODY, "execution": {"stopLossPct": 5}})
    stored = request.model_dump(mode="json", by_alias=True)
    assert stored["execution"]["stopLossPct"] == 5
    assert "stop_loss_pct" not in stored["execution"]
    assert BacktestRequest.model_validate(stored) == request


def test_an_unknown_execution_field_is_still_refused() -> None:
    with pytest.raises(ValidationError, match="stopLoss"):
        BacktestRequest.model_validate({**BODY, "execution": {"stopLoss": 5}})
