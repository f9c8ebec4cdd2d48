"""The drift blueprints alone (route and orchestration), for the fan-out end-to-end tests."""

from __future__ import annotations

import azure.functions as func

from durable.drift import bp as drift_durable_bp
from functions.drift import bp as drift_bp

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(drift_bp)
app.register_functions(drift_durable_bp)
