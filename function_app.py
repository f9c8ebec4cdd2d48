"""The one FunctionApp: registers every blueprint, nothing else."""

import azure.functions as func

from functions.health import bp as health_bp
from functions.ingest_timers import bp as ingest_timers_bp
from functions.market import bp as market_bp

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

for blueprint in (health_bp, ingest_timers_bp, market_bp):
    app.register_functions(blueprint)
