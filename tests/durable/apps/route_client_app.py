"""A route declared with `Routes(..., durable_client=True)`: the pattern for the backtest
routes (their handler gets the Durable client by name, no context variable)."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

from functions.app import FunctionApp
from functions.http import QueryModel, Routes, json_response
from shared.auth.caller import Caller

bp = df.Blueprint()
route = Routes(bp, tags=("probe",))


class ProbeQuery(QueryModel):
    n: int = 1


@route("GET", "probe/{x}", role=None, summary="Probe", query=ProbeQuery, durable_client=True)
async def probe(
    req: func.HttpRequest,
    caller: Caller,
    query: ProbeQuery,
    client: df.DurableOrchestrationClient,
) -> func.HttpResponse:
    status = await client.get_status("no-such-instance")
    return json_response(
        {
            "n": query.n,
            "client": type(client).__name__,
            "x": req.route_params["x"],
            "found": bool(status),
        }
    )


app = FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(bp)
