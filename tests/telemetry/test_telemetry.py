"""shared.telemetry: ids in JSON logs, W3C context across HTTP → orchestration → activity,
metrics through an SDK reader, and real export to an Application Insights endpoint."""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from shared import telemetry

ROOT = Path(__file__).resolve().parents[2]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def json_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(telemetry.JsonFormatter())
    handler.addFilter(telemetry.ContextFilter())
    logger = logging.getLogger("tests.telemetry")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_log_lines_carry_invocation_and_incoming_trace_id(json_log) -> None:
    logger, stream = json_log
    with telemetry.invocation(
        "http.quotes", invocation_id="inv-1", carrier={"Traceparent": PARENT}
    ):
        logger.info("quote for %s", "AAPL", extra={"symbol": "AAPL"})
    logger.info("outside")
    inside, outside = _lines(stream)
    assert inside["message"] == "quote for AAPL"
    assert inside["invocation_id"] == "inv-1"
    assert inside["trace_id"] == TRACE_ID
    assert inside["symbol"] == "AAPL"
    assert inside["level"] == "INFO"
    assert outside["invocation_id"] is None
    assert outside["trace_id"] is None


def test_exceptions_are_one_json_line(json_log) -> None:
    logger, stream = json_log
    try:
        raise ValueError("bad bar")
    except ValueError:
        logger.exception("ingest failed")
    (line,) = _lines(stream)
    assert "ValueError: bad bar" in line["exception"]


def test_trace_context_flows_from_http_through_orchestration_input_to_activity(json_log) -> None:
    logger, stream = json_log
    with telemetry.invocation("http.backtests.start", carrier={"traceparent": PARENT}):
        start_input = telemetry.with_trace({"symbol": "GOOG"})
    # the orchestration input is JSON: it survives serialization, and the orchestrator
    # passes the same carrier into each activity input (deterministic on replay)
    orchestration_input = json.loads(json.dumps(start_input))
    activity_input = {"chunk": 3, telemetry.TRACE_KEY: telemetry.trace_of(orchestration_input)}
    with telemetry.invocation("backtest.chunk", carrier=telemetry.trace_of(activity_input)):
        logger.info("chunk done")
        relay_message = telemetry.with_trace({"symbol": "GOOG", "trades": []})
    assert start_input[telemetry.TRACE_KEY]["traceparent"].split("-")[1] == TRACE_ID
    assert _lines(stream)[0]["trace_id"] == TRACE_ID
    assert telemetry.trace_of(relay_message)["traceparent"].split("-")[1] == TRACE_ID


def test_missing_or_malformed_carrier_starts_fresh(json_log) -> None:
    logger, stream = json_log
    with telemetry.invocation("x", carrier={"traceparent": "garbage"}):
        logger.info("a")
    with telemetry.invocation("y", carrier=telemetry.trace_of({"no": "trace"})):
        logger.info("b")
    assert [line["message"] for line in _lines(stream)] == ["a", "b"]
    assert telemetry.with_trace({}) == {}


def test_metrics_reach_an_sdk_reader() -> None:
    reader = InMemoryMetricReader()
    telemetry.use_meter_provider(MeterProvider(metric_readers=[reader]))
    telemetry.record_ingestion("yahoo", "ok", rows=250)
    telemetry.record_ingestion("yahoo", "ok", rows=10)
    telemetry.record_ingestion("alphavantage", "rate_limited")
    telemetry.record_freshness("AAPL", time.time() - 90, provider="yahoo")
    telemetry.record_freshness("AAPL", time.time() - 900, provider="yahoo")  # older: ignored
    telemetry.record_relay(trades_in=1200, messages_out=40, conflated=3, lag_ms=12.5)

    points: dict[str, list[Any]] = {}
    data = reader.get_metrics_data()
    assert data is not None
    for resource_metrics in data.resource_metrics:
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                points[metric.name] = list(metric.data.data_points)

    runs = {
        (p.attributes["provider"], p.attributes["outcome"]): p.value
        for p in points["tradingjournal.ingestion.runs"]
    }
    assert runs == {("yahoo", "ok"): 2, ("alphavantage", "rate_limited"): 1}
    assert points["tradingjournal.ingestion.rows"][0].value == 260
    (fresh,) = [
        p for p in points["tradingjournal.data.freshness"] if p.attributes["symbol"] == "AAPL"
    ]
    assert 89 <= fresh.value < 120
    assert points["tradingjournal.relay.trades_in"][0].value == 1200
    assert points["tradingjournal.relay.messages_out"][0].value == 40
    assert points["tradingjournal.relay.lag"][0].count == 1
    assert 89 <= (telemetry.freshness_seconds("AAPL", provider="yahoo") or 0) < 120


class _Ingestion(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        type(self).received.append(body)
        # the Track API's 200 body: every item accepted (the exporter retries only on errors)
        items = json.loads(body)
        count = len(items) if isinstance(items, list) else 1
        accepted = {"itemsReceived": count, "itemsAccepted": count, "errors": []}
        reply = json.dumps(accepted).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        pass


def _export_to_fake_ingestion(
    script: str, tmp_path: Path, timeout: float
) -> tuple[subprocess.CompletedProcess[str], list[bytes]]:
    """Run `script` in a fresh process whose APPLICATIONINSIGHTS_CONNECTION_STRING points at
    a local ingestion endpoint; the process's result and the bodies it sent there."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ingestion)
    _Ingestion.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}/"
    env = {
        **os.environ,
        "APPLICATIONINSIGHTS_CONNECTION_STRING": (
            "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
            f"IngestionEndpoint={endpoint};LiveEndpoint={endpoint}"
        ),
        # The distro's default sampler keeps about 5 traces a second, estimated over 0.1 s:
        # spans started within ~0.2 s of configuration or of each other are dropped at
        # random (by trace id). Here every span must be exported, so sample them all.
        "OTEL_TRACES_SAMPLER": "always_on",
        "LOCAL_DATA_DIR": str(tmp_path),
        "TMPDIR": str(tmp_path),
    }
    try:
        run = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    finally:
        server.shutdown()
    return run, list(_Ingestion.received)


@pytest.mark.slow
def test_configure_telemetry_exports_spans_and_logs_to_application_insights(tmp_path) -> None:
    script = f"""
import logging
from shared import telemetry
assert telemetry.configure_telemetry("smoke-test") is True
assert telemetry.configure_telemetry("again") is True
carrier = {{"traceparent": "{PARENT}"}}
with telemetry.invocation("probe-span", invocation_id="inv-9", carrier=carrier):
    logging.getLogger("probe").warning("probe-log")
telemetry.flush()
"""
    run, received = _export_to_fake_ingestion(script, tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    sent = b"\n".join(received).decode()
    assert "probe-span" in sent, "the span was not exported"
    assert "probe-log" in sent, "the log record was not exported"
    assert TRACE_ID in sent, "exported telemetry lost the incoming trace id"


def test_without_connection_string_nothing_is_exported(tmp_path) -> None:
    script = (
        "from shared import telemetry\n"
        "assert telemetry.configure_telemetry('local') is False\n"
        "from opentelemetry import trace\n"
        "print(type(trace.get_tracer_provider()).__name__)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "APPLICATIONINSIGHTS_CONNECTION_STRING"}
    run = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**env, "LOCAL_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "ProxyTracerProvider" in run.stdout


def test_carry_and_activity_continue_the_trace_into_an_activity(json_log) -> None:
    logger, stream = json_log
    orchestration_input = {telemetry.TRACE_KEY: {"traceparent": PARENT}, "runId": "r1"}
    chunk_input = telemetry.carry(orchestration_input, {"item": 4})
    assert chunk_input[telemetry.TRACE_KEY] == {"traceparent": PARENT}
    assert telemetry.carry({"no": "trace"}, {"item": 5}) == {"item": 5}
    with telemetry.activity("backtest_chunk", chunk_input, run_id="r1"):
        logger.info("in activity")
    assert _lines(stream)[0]["trace_id"] == TRACE_ID


def _run_python(script: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "APPLICATIONINSIGHTS_CONNECTION_STRING"}
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**base, "LOCAL_DATA_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_every_record_gets_the_ids_whatever_handler_sends_it(tmp_path) -> None:
    script = (
        "import logging, sys\n"
        "from shared import telemetry\n"
        "telemetry.ensure_configured()\n"
        "handler = logging.StreamHandler(sys.stdout)\n"
        "handler.setFormatter(logging.Formatter('%(invocation_id)s %(trace_id)s %(message)s'))\n"
        "logging.getLogger('plain').addHandler(handler)\n"
        f"carrier = {{'traceparent': '{PARENT}'}}\n"
        "with telemetry.invocation('x', invocation_id='inv-7', carrier=carrier):\n"
        "    logging.getLogger('plain').warning('hello')\n"
    )
    run = _run_python(script, tmp_path)
    assert run.returncode == 0, run.stderr
    assert f"inv-7 {TRACE_ID} hello" in run.stdout


def test_relay_style_setup_writes_json_lines_to_stderr(tmp_path) -> None:
    script = (
        "import logging\n"
        "from shared import telemetry\n"
        "assert telemetry.configure_telemetry('relay') is False\n"
        "logging.getLogger('relay').info('up', extra={'symbols': 4})\n"
    )
    run = _run_python(script, tmp_path)
    assert run.returncode == 0, run.stderr
    (line,) = [json.loads(x) for x in run.stderr.splitlines() if x.startswith("{")]
    assert line["message"] == "up"
    assert line["symbols"] == 4
    assert set(line) >= {"ts", "level", "logger", "invocation_id", "trace_id", "span_id"}


def test_ensure_configured_never_raises_on_bad_settings(tmp_path) -> None:
    script = "from shared import telemetry\ntelemetry.ensure_configured()\nprint('still running')\n"
    run = _run_python(script, tmp_path, LOG_LEVEL="LOUD")
    assert run.returncode == 0, run.stderr
    assert "still running" in run.stdout
    assert "telemetry not configured" in run.stderr


def test_application_insights_entra_id_authentication_string() -> None:
    from azure.identity import ManagedIdentityCredential

    credential = telemetry._aad_credential("ClientId=1b2c;Authorization=AAD")
    assert isinstance(credential, ManagedIdentityCredential)
    assert telemetry._aad_credential("Authorization=AAD") is not None
    assert telemetry._aad_credential("Authorization=Other") is None
    assert telemetry._aad_credential(None) is None


@pytest.mark.slow
def test_the_composed_app_exports_a_durable_activity_and_the_paper_timer(tmp_path) -> None:
    """function_app.py configures telemetry once for every trigger: an activity run as the
    worker runs it (continuing the orchestration's trace) and the paper matching timer
    export their spans, and the timer's log line, with no per-trigger setup of their own."""
    script = f"""
import asyncio, json
import function_app
from devhost.durable.functions import call_activity, index_app
from shared import telemetry
from shared.auth.caller import Caller
from shared.config import get_settings
from shared.paper import OrderIn, PaperAccountIn, PaperBroker
from shared.storage.factory import document_store
from testsupport.routes import put_quote

activity = index_app("function_app:app")["backtest_plan"]
job = {{"runId": "r-telemetry", "request": {{}}, "traceContext": {{"traceparent": "{PARENT}"}}}}
try:
    call_activity(activity, json.dumps(job))
except Exception as error:
    print("activity failed as planned:", type(error).__name__)

store = document_store()
put_quote(store, "AAPL", 100.0)
broker = PaperBroker(store, get_settings())
alice = Caller("alice", frozenset({{"trader"}}))
account = broker.create_account(alice, PaperAccountIn(starting_cash=1000))
broker.place_order(
    alice, account.id, OrderIn(symbol="AAPL", side="buy", type="limit", qty=1, limit_price=90)
)
put_quote(store, "AAPL", 85.0)
timer = next(
    f.get_user_function()
    for f in function_app.app.get_functions()
    if f.get_function_name() == "paper_matching_timer"
)
asyncio.run(timer(None))
telemetry.flush()
"""
    run, received = _export_to_fake_ingestion(script, tmp_path, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "activity failed as planned: ValidationError" in run.stdout
    items: list[dict[str, Any]] = []
    for body in received:
        sent = json.loads(body)
        items.extend(sent if isinstance(sent, list) else [sent])
    spans = {
        item["data"]["baseData"]["name"]: item
        for item in items
        if item["data"]["baseType"] in ("RequestData", "RemoteDependencyData")
    }
    assert {"backtest_plan", "paper_matching_timer"} <= set(spans), sorted(spans)
    assert spans["backtest_plan"]["tags"]["ai.operation.id"] == TRACE_ID
    assert spans["backtest_plan"]["data"]["baseData"]["success"] is False
    messages = [
        item["data"]["baseData"]["message"]
        for item in items
        if item["data"]["baseType"] == "MessageData"
    ]
    (fill_log,) = [m for m in messages if m.startswith("paper matching:")]
    assert json.loads(fill_log.split(":", 1)[1])["filled"] == 1
