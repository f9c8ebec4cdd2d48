"""Telemetry: JSON logs with invocation and trace ids, OpenTelemetry export to Azure Monitor,
W3C trace context carried across HTTP, orchestrations, activities and the relay, and metrics.

Call `configure_telemetry(service)` once per process (idempotent). Without
`APPLICATIONINSIGHTS_CONNECTION_STRING` nothing is exported, but trace context is still
propagated and every log line still carries the ids.

    with invocation("orders.create", invocation_id=rid, carrier=req.headers):
        ...                                   # logs carry invocation_id and trace_id
    start_input = with_trace({"symbols": [...]})   # into the orchestration input
    with invocation("backtest.chunk", carrier=trace_of(activity_input)):  # in the activity
        ...
    record_ingestion("yahoo", "ok", rows=250)
    record_freshness("AAPL", latest_bar_ts, provider="yahoo")
    record_relay(trades_in=120, messages_out=4)
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation
from opentelemetry.propagate import extract, inject

log = logging.getLogger("shared.telemetry")

TRACE_KEY = "traceContext"
"""Key under which `with_trace` stores the W3C carrier in an orchestration/activity input."""

_invocation_id: ContextVar[str | None] = ContextVar("invocation_id", default=None)
_configured = False
_exporting = False
_lock = threading.Lock()

_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "invocation_id", "trace_id", "span_id", "taskName"}
)


# --- trace context --------------------------------------------------------------------------


def trace_ids() -> tuple[str | None, str | None]:
    """(trace_id, span_id) of the current span as 32/16 hex digits, or (None, None)."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None, None
    return f"{span_context.trace_id:032x}", f"{span_context.span_id:016x}"


def current_carrier() -> dict[str, str]:
    """The current W3C trace context as headers (`traceparent`, `tracestate` if any)."""
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier


def _lower(carrier: Mapping[str, str] | None) -> dict[str, str]:
    if not carrier:
        return {}
    return {str(k).lower(): str(v) for k, v in carrier.items() if isinstance(v, str)}


def with_trace(payload: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Store the current trace context in a JSON payload (orchestration or activity input,
    relay message) under `TRACE_KEY`, and return the payload."""
    carrier = current_carrier()
    if carrier:
        payload[TRACE_KEY] = carrier
    return payload


def carry(source: Any, target: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Copy the trace carrier of `source` (an orchestration input) into `target` (an
    activity input); deterministic, so safe inside an orchestrator."""
    carrier = trace_of(source)
    if carrier:
        target[TRACE_KEY] = carrier
    return target


def trace_of(payload: Any) -> dict[str, str]:
    """The trace carrier stored by `with_trace` in a payload ({} if none)."""
    if isinstance(payload, Mapping):
        carrier = payload.get(TRACE_KEY)
        if isinstance(carrier, Mapping):
            return _lower(carrier)
    return {}


@contextmanager
def span(
    name: str, carrier: Mapping[str, str] | None = None, **attributes: Any
) -> Iterator[trace.Span]:
    """A span named `name`, child of `carrier`'s trace when given (else of the current one).

    Without an exporter configured the span does not record, but the incoming trace id is
    still current, so logs and outgoing carriers keep it."""
    parent = extract(_lower(carrier)) if carrier else None
    tracer = trace.get_tracer("tradingjournal")
    attrs = {k: v for k, v in attributes.items() if isinstance(v, str | bool | int | float)}
    if parent is not None and not trace.get_current_span(parent).get_span_context().is_valid:
        parent = None
    token = otel_context.attach(parent) if parent is not None else None
    try:
        with tracer.start_as_current_span(name, attributes=attrs) as current:
            yield current
    finally:
        if token is not None:
            otel_context.detach(token)


@contextmanager
def invocation(
    name: str,
    *,
    invocation_id: str | None = None,
    carrier: Mapping[str, str] | None = None,
    **attributes: Any,
) -> Iterator[trace.Span]:
    """Scope of one function invocation: binds `invocation_id` to every log line and opens a
    span continuing `carrier` (request headers or `trace_of(input)`)."""
    token = _invocation_id.set(invocation_id)
    try:
        with span(name, carrier, invocation_id=invocation_id or "", **attributes) as current:
            yield current
    finally:
        _invocation_id.reset(token)


@contextmanager
def activity(name: str, payload: Any, **attributes: Any) -> Iterator[trace.Span]:
    """`invocation` for an activity (or any step) whose input carries a `with_trace` /
    `carry` trace context."""
    with invocation(name, carrier=trace_of(payload), **attributes) as current:
        yield current


def current_invocation_id() -> str | None:
    return _invocation_id.get()


# --- structured logs ------------------------------------------------------------------------


class ContextFilter(logging.Filter):
    """Adds `invocation_id`, `trace_id` and `span_id` to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        trace_id, span_id = trace_ids()
        if not getattr(record, "invocation_id", None):
            record.invocation_id = _invocation_id.get()
        record.trace_id = trace_id
        record.span_id = span_id
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, the ids, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "trace_id"):
            ContextFilter().filter(record)
        body: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "invocation_id": getattr(record, "invocation_id", None),
            "trace_id": getattr(record, "trace_id", None),
            "span_id": getattr(record, "span_id", None),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                body[key] = value
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str)


def _in_functions_worker() -> bool:
    return "azure_functions_worker" in sys.modules or "FUNCTIONS_WORKER_RUNTIME" in os.environ


def _install_record_factory() -> None:
    """Stamp the ids on every record when it is created (whatever handler sends it on:
    stderr, the Functions worker, the OpenTelemetry log exporter)."""
    current = logging.getLogRecordFactory()
    if getattr(current, "_tradingjournal", False):
        return
    context_filter = ContextFilter()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        context_filter.filter(record)
        return record

    factory._tradingjournal = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def configure_logging(level: str = "INFO", *, stream: Any = None, json_lines: bool = True) -> None:
    """Stamp invocation and trace ids on every log record; with `json_lines` (the relay,
    CLIs; never inside the Functions worker) also write JSON lines to `stream` (stderr)."""
    root = logging.getLogger()
    root.setLevel(level)
    _install_record_factory()
    if (
        json_lines
        and not _in_functions_worker()
        and not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers)
    ):
        handler: logging.Handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)


# --- OpenTelemetry / Azure Monitor ----------------------------------------------------------


def _aad_credential(authentication: str | None) -> Any:
    """A managed-identity credential when APPLICATIONINSIGHTS_AUTHENTICATION_STRING says
    `Authorization=AAD` (local auth is off on the Application Insights resource)."""
    if not authentication:
        return None
    parts = dict(item.split("=", 1) for item in authentication.split(";") if "=" in item)
    if parts.get("Authorization", "").upper() != "AAD":
        return None
    from azure.identity import ManagedIdentityCredential

    client_id = parts.get("ClientId")
    return (
        ManagedIdentityCredential(client_id=client_id) if client_id else ManagedIdentityCredential()
    )


def configure_telemetry(
    service: str = "tradingjournal-functions",
    *,
    connection_string: str | None = None,
    log_level: str | None = None,
    json_logs: bool = True,
) -> bool:
    """Set up logs, traces and metrics once per process. Returns True when exporting to
    Azure Monitor (APPLICATIONINSIGHTS_CONNECTION_STRING set), False for the no-op setup.

    Inside the Functions worker the host already ships logs to Application Insights, so
    only traces and metrics are exported from here (no duplicate log records)."""
    global _configured, _exporting
    with _lock:
        if _configured:
            return _exporting
        from shared.config import load_settings

        settings = load_settings()
        connection_string = connection_string or settings.applicationinsights_connection_string
        configure_logging(log_level or settings.log_level, json_lines=json_logs)
        if connection_string:
            try:
                from azure.monitor.opentelemetry import configure_azure_monitor
                from opentelemetry.sdk.resources import Resource
            except ImportError as error:
                log.warning(
                    "telemetry export off: %s (pip install azure-monitor-opentelemetry)", error
                )
                _configured = True
                return False

            options: dict[str, Any] = {
                "connection_string": connection_string,
                "resource": Resource.create({"service.name": service}),
                "enable_live_metrics": False,
                "disable_logging": _in_functions_worker(),
            }
            credential = _aad_credential(settings.applicationinsights_authentication_string)
            if credential is not None:
                options["credential"] = credential
            configure_azure_monitor(**options)
            _exporting = True
            use_meter_provider(metrics.get_meter_provider())
            log.info("telemetry exporting to Azure Monitor", extra={"service": service})
        _configured = True
        return _exporting


def ensure_configured(service: str = "tradingjournal-functions") -> None:
    """`configure_telemetry` for the function app (no JSON stream handler: the worker or the
    local host prints logs); never raises, so bad settings surface where they are read."""
    if _configured:
        return
    try:
        configure_telemetry(service, json_logs=False)
    except Exception as error:
        log.warning("telemetry not configured: %s", error)


def flush(timeout_millis: int = 10_000) -> None:
    """Export what is buffered (call before a short-lived process exits)."""
    for provider in (trace.get_tracer_provider(), metrics.get_meter_provider()):
        force_flush = getattr(provider, "force_flush", None)
        if callable(force_flush):
            force_flush(timeout_millis)


# --- metrics --------------------------------------------------------------------------------


class _Instruments:
    """The suite's metric instruments on one meter; freshness is an observable gauge."""

    def __init__(self, meter: Meter) -> None:
        self.latest: dict[tuple[str, str], float] = {}
        self.ingestion_runs = meter.create_counter(
            "tradingjournal.ingestion.runs", unit="{run}", description="Ingestion outcomes"
        )
        self.ingestion_rows = meter.create_counter(
            "tradingjournal.ingestion.rows", unit="{row}", description="Rows written to the lake"
        )
        self.relay_trades = meter.create_counter(
            "tradingjournal.relay.trades_in", unit="{trade}", description="Trades received"
        )
        self.relay_messages = meter.create_counter(
            "tradingjournal.relay.messages_out", unit="{message}", description="Messages sent"
        )
        self.relay_conflated = meter.create_counter(
            "tradingjournal.relay.conflated", unit="{trade}", description="Trades conflated"
        )
        self.relay_lag = meter.create_histogram(
            "tradingjournal.relay.lag", unit="ms", description="Trade time to publish"
        )
        meter.create_observable_gauge(
            "tradingjournal.data.freshness",
            callbacks=[self._freshness],
            unit="s",
            description="Seconds since the newest data point per symbol",
        )

    def _freshness(self, options: CallbackOptions) -> Iterable[Observation]:
        now = time.time()
        for (symbol, provider), latest in list(self.latest.items()):
            yield Observation(max(0.0, now - latest), {"symbol": symbol, "provider": provider})


_instruments = _Instruments(metrics.get_meter("tradingjournal"))


def use_meter_provider(provider: MeterProvider) -> None:
    """Create the instruments on `provider` (done by `configure_telemetry`; tests pass an SDK
    provider with an in-memory reader)."""
    global _instruments
    latest = _instruments.latest
    _instruments = _Instruments(provider.get_meter("tradingjournal"))
    _instruments.latest.update(latest)


def record_ingestion(provider: str, outcome: str, *, rows: int = 0) -> None:
    """One ingestion attempt of one symbol: outcome is ok / no_data / failed / deferred."""
    _instruments.ingestion_runs.add(1, {"provider": provider, "outcome": outcome})
    if rows:
        _instruments.ingestion_rows.add(rows, {"provider": provider})


def record_freshness(symbol: str, latest: datetime | float, *, provider: str = "any") -> None:
    """The newest data point seen for `symbol`; the freshness gauge reports its age."""
    stamp = latest.timestamp() if isinstance(latest, datetime) else float(latest)
    key = (symbol, provider)
    if stamp > _instruments.latest.get(key, float("-inf")):
        _instruments.latest[key] = stamp


def freshness_seconds(symbol: str, *, provider: str = "any") -> float | None:
    """Seconds since the newest data point recorded for `symbol` (None if never)."""
    latest = _instruments.latest.get((symbol, provider))
    return None if latest is None else max(0.0, time.time() - latest)


def record_relay(
    *, trades_in: int = 0, messages_out: int = 0, conflated: int = 0, lag_ms: float | None = None
) -> None:
    """Relay throughput since the last call: trades received, messages published, trades
    conflated under backpressure, and (optionally) one lag sample."""
    if trades_in:
        _instruments.relay_trades.add(trades_in)
    if messages_out:
        _instruments.relay_messages.add(messages_out)
    if conflated:
        _instruments.relay_conflated.add(conflated)
    if lag_ms is not None:
        _instruments.relay_lag.record(lag_ms)
