"""The one FunctionApp: registers every blueprint, nothing else."""

import azure.functions as func

from functions.health import bp as health_bp

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

for blueprint in (health_bp,):
    app.register_functions(blueprint)
