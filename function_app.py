"""The one FunctionApp: registers every blueprint, nothing else."""

import azure.functions as func

from durable.backtest import bp as backtest_durable_bp
from durable.drift import bp as drift_durable_bp
from functions.audit import bp as audit_bp
from functions.backtests import bp as backtests_bp
from functions.drift import bp as drift_bp
from functions.feed import bp as feed_bp
from functions.health import bp as health_bp
from functions.ingest_timers import bp as ingest_timers_bp
from functions.journal import bp as journal_bp
from functions.market import bp as market_bp
from functions.openapi import bp as openapi_bp
from functions.paper import bp as paper_bp
from functions.strategies import bp as strategies_bp
from functions.watchlists import bp as watchlists_bp

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

for blueprint in (
    health_bp,
    ingest_timers_bp,
    market_bp,
    watchlists_bp,
    strategies_bp,
    paper_bp,
    audit_bp,
    openapi_bp,
    backtests_bp,
    backtest_durable_bp,
    feed_bp,
    journal_bp,
    drift_bp,
    drift_durable_bp,
):
    app.register_functions(blueprint)
