"""The one FunctionApp, composed: telemetry for every trigger, the blueprints, the paper
matching path and the OpenAPI contract of the routes registered here."""

import azure.functions as func

from durable.backtest import bp as backtest_durable_bp
from durable.drift import bp as drift_durable_bp
from functions import openapi
from functions.app import FunctionApp
from functions.audit import bp as audit_bp
from functions.backtests import bp as backtests_bp
from functions.drift import bp as drift_bp
from functions.feed import bp as feed_bp
from functions.health import bp as health_bp
from functions.ingest_timers import bp as ingest_timers_bp
from functions.journal import bp as journal_bp
from functions.market import bp as market_bp
from functions.paper import bp as paper_bp
from functions.paper_matching import bp as paper_matching_bp
from functions.strategies import bp as strategies_bp
from functions.watchlists import bp as watchlists_bp
from shared import telemetry
from shared.backtest.warmup import warm_in_background

# Once per process, before any trigger runs: HTTP routes, timers, orchestrators, activities
# and the change-feed trigger all log with invocation and trace ids and export spans.
telemetry.ensure_configured()

app = FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

for blueprint in (
    health_bp,
    ingest_timers_bp,
    market_bp,
    watchlists_bp,
    strategies_bp,
    paper_bp,
    # Paper orders fill when a quote is written (the Cosmos change feed of `quotes`, written
    # by ingestion and by the relay) and on SCHEDULE_PAPER_MATCHING (expiry, stragglers).
    paper_matching_bp,
    audit_bp,
    openapi.bp,
    backtests_bp,
    backtest_durable_bp,
    feed_bp,
    journal_bp,
    drift_bp,
    drift_durable_bp,
):
    app.register_functions(blueprint)

# /api/openapi.json, /api/docs and the problem+json fallback describe exactly these routes.
openapi.serve(app)

# Compiled kernels ready before the first request (a daemon thread of this worker process).
warm_in_background()
