"""The backtest blueprints alone, so durable end-to-end tests do not depend on other areas."""

from __future__ import annotations

import azure.functions as func

from durable.backtest import bp as backtest_durable_bp
from functions.backtests import bp as backtests_bp

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(backtests_bp)
app.register_functions(backtest_durable_bp)
