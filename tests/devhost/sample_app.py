"""A small FunctionApp that exercises the local host's HTTP and timer semantics."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
log = logging.getLogger("sample")


def _record(kind: str, payload: dict[str, object]) -> None:
    folder = Path(os.environ["LOCAL_DATA_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{kind}.jsonl").open("a") as out:
        out.write(json.dumps(payload) + "\n")


@app.route(route="health", methods=["GET"])
def health(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse('{"status": "ok"}', mimetype="application/json")


@app.route(route="echo/{id:int}/{name?}", methods=["GET", "POST", "PUT"])
async def echo(req: func.HttpRequest) -> func.HttpResponse:
    body = {
        "method": req.method,
        "url": req.url,
        "route": dict(req.route_params),
        "params": dict(req.params),
        "header": req.headers.get("x-probe"),
        "body": req.get_body().decode("utf-8", "replace"),
    }
    return func.HttpResponse(
        json.dumps(body),
        status_code=int(req.params.get("status", "200")),
        headers={"X-Out": "yes", "Set-Cookie": "a=1"},
        mimetype="application/json",
    )


@app.route(route="echo/new", methods=["GET"])
def echo_new(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("literal wins", status_code=200)


@app.route(route="letters/{word:alpha}")
def letters(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(req.route_params["word"], mimetype="text/html", charset="latin-1")


@app.route(route="files/{*path}", methods=["GET"])
def files(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(req.route_params.get("path", ""))


@app.route(route="slow", methods=["GET"])
def slow(req: func.HttpRequest) -> func.HttpResponse:
    time.sleep(0.3)
    return func.HttpResponse(b"\x00\x01binary", mimetype="application/octet-stream")


@app.route(route="boom", methods=["GET"])
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise ValueError("deliberate failure")


@app.route(route="text", methods=["GET"])
def text(req: func.HttpRequest) -> str:
    return "plain string"


@app.timer_trigger(schedule="%SAMPLE_SCHEDULE%", arg_name="tick", run_on_startup=False)
def ticker(tick: func.TimerRequest) -> None:
    _record("ticker", {"past_due": tick.past_due, "at": time.time()})


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer")
def yearly(timer: func.TimerRequest, context: func.Context) -> None:
    _record(
        "yearly",
        {
            "past_due": timer.past_due,
            "type": type(timer).__name__,
            "invocation_id": context.invocation_id,
            "function": context.function_name,
        },
    )


@app.route(route="dict", methods=["GET"])
def returns_dict(req: func.HttpRequest) -> func.HttpResponse:
    return {"not": "a response"}  # type: ignore[return-value]
