"""The local host: serves a FunctionApp's HTTP triggers, runs its timers, hosts plugins."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any

import azure.functions as func
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from azure.functions.timer import TimerRequest

from devhost.index import ANY_METHOD, http_route, route_problems, wants_context
from devhost.plugins import FunctionInfo, InvocationContext, Plugin
from devhost.routes import RouteTemplate, parse_route
from devhost.timers import (
    Schedule,
    ScheduleMonitor,
    ScheduleStatus,
    monitored,
    parse_schedule,
)

log = logging.getLogger("devhost")
invocation_log = logging.getLogger("devhost.invocation")

PAST_DUE_TOLERANCE = timedelta(seconds=1)
CLOCK_MARGIN = 0.002
MAX_REQUEST_BYTES = 100 * 1024**2
ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE")


PROBLEM_JSON = "application/problem+json"


def host_problem(
    status: int, detail: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    """An RFC 9457 problem+json answer of the host itself (no function ran)."""
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status}
    body["detail"] = detail
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        content_type=PROBLEM_JSON,
        headers=headers,
    )


@web.middleware
async def problem_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Errors aiohttp raises itself (no route: 404, wrong method: 405, body too large: 413,
    an unparsable request: 400) as problem+json, like every answer of the app."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPException as error:
        if error.status < 400:
            raise
        headers = {"Allow": error.headers["Allow"]} if "Allow" in error.headers else None
        detail = (
            error.text if error.text and error.text != f"{error.status}: {error.reason}" else ""
        )
        return host_problem(error.status, detail or _DETAILS.get(error.status, ""), headers)


_DETAILS = {
    400: "the request is not valid HTTP",
    404: "no route of the host serves this path",
    405: "the route does not accept this method",
    413: "the request body is larger than the host accepts",
}


class _ProblemRequestHandler(RequestHandler):
    """aiohttp's connection handler, answering what it refuses before any route runs (a
    malformed request line or header: 400; an unhandled error: 500) as problem+json."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        super().handle_error(request, status, exc, message)  # logs; refuses a half-sent reply
        if status >= 500:
            detail = "the host failed to answer; see its log"
        else:
            detail = _DETAILS.get(status, "") + (f": {message}" if message else "")
        response = host_problem(status, detail)
        response.force_close()
        return response


class _ProblemServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _ProblemRequestHandler(self, loop=self._loop, **self._kwargs)


class _Runner(web.AppRunner):
    """An AppRunner whose connections answer protocol errors as problem+json. aiohttp offers
    no hook for those; `test_host_errors.py` pins this against the installed aiohttp."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _ProblemServer
        return server


class FunctionNotFound(LookupError):
    """No function of that name is indexed."""


@dataclass(frozen=True)
class HttpRoute:
    function: FunctionInfo
    template: RouteTemplate
    methods: frozenset[str]


@dataclass(frozen=True)
class TimerJob:
    function: FunctionInfo
    schedule: Schedule
    run_on_startup: bool
    monitored: bool


class _Context(func.Context):
    """The `context` argument the worker passes to functions that declare one."""

    def __init__(self, invocation_id: str, function_name: str, directory: str) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._directory = directory
        self._local = threading.local

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> type[threading.local]:
        return self._local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._directory

    @property
    def trace_context(self) -> Any:
        return None

    @property
    def retry_context(self) -> Any:
        return None


class _Out(func.Out[Any]):
    """An output binding the local host does not deliver: it keeps the value and logs it."""

    def __init__(self, name: str, binding_type: str) -> None:
        self._name, self._type, self._value = name, binding_type, None

    def set(self, val: Any) -> None:
        log.info(
            "output binding %s (%s) set; the local host does not deliver it", self._name, self._type
        )
        self._value = val

    def get(self) -> Any:
        return self._value


def route_prefix(app_directory: Path) -> str:
    """`extensions.http.routePrefix` from host.json beside the app ("api" by default)."""
    host_json = app_directory / "host.json"
    if host_json.is_file():
        config = json.loads(host_json.read_text())
        prefix = config.get("extensions", {}).get("http", {}).get("routePrefix")
        if isinstance(prefix, str):
            return prefix.strip("/")
    return "api"


def _http_routes(functions: Sequence[FunctionInfo], in_error: Mapping[str, str]) -> list[HttpRoute]:
    routes = []
    for function in functions:
        if function.trigger_type != "httpTrigger" or function.name in in_error:
            continue
        route, methods = http_route(function)
        allowed = frozenset(ALL_METHODS) if methods == ANY_METHOD else methods
        routes.append(HttpRoute(function, parse_route(route), allowed))
    routes.sort(key=lambda r: r.template.precedence)
    return routes


def _multi(items: Any, separator: str) -> dict[str, str]:
    """Repeated keys joined as the Functions host joins them (ASP.NET StringValues)."""
    values: dict[str, list[str]] = {}
    for key, value in items:
        values.setdefault(key, []).append(value)
    return {key: separator.join(parts) for key, parts in values.items()}


def http_response(result: Any) -> web.Response:
    """An aiohttp response for what an HTTP function returned (as the worker encodes it)."""
    if result is None:
        return web.Response(status=204)
    if isinstance(result, str | bytes):
        return web.Response(
            body=result.encode() if isinstance(result, str) else result,
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )
    if not isinstance(result, func.HttpResponse):
        raise TypeError(f"HTTP function returned {type(result).__name__}, not HttpResponse")
    response = web.Response(status=result.status_code, body=result.get_body() or b"")
    for key, value in result.headers.items():
        response.headers.add(key, value)
    if "Content-Type" not in response.headers:
        mimetype = result.mimetype
        response.headers["Content-Type"] = (
            f"{mimetype}; charset={result.charset}" if mimetype.startswith("text/") else mimetype
        )
    return response


class DevHost:
    """One running FunctionApp: HTTP triggers, timers, admin endpoints and plugins."""

    def __init__(
        self,
        functions: Sequence[FunctionInfo],
        *,
        host: str = "127.0.0.1",
        port: int = 7071,
        prefix: str = "api",
        timers: bool = True,
        plugins: Sequence[Plugin] = (),
        app_directory: Path | None = None,
        settings: Mapping[str, str] | None = None,
        app_reference: str = "function_app:app",
        timer_state: Path | None = None,
    ) -> None:
        self._app_reference = app_reference
        self._functions = {f.name: f for f in functions}
        self._host = host
        self._port = port
        self.prefix = prefix.strip("/")
        self.timers_enabled = timers
        self.plugins = list(plugins)
        self._app_directory = str(app_directory or Path.cwd())
        self.in_error = route_problems(functions)
        self.http_routes = _http_routes(functions, self.in_error)
        self.timer_jobs = []
        for function in functions:
            if function.trigger_type == "timerTrigger":
                schedule = parse_schedule(str(function.trigger["schedule"]), settings)
                use_monitor = function.trigger.get("useMonitor")
                self.timer_jobs.append(
                    TimerJob(
                        function,
                        schedule,
                        bool(function.trigger.get("runOnStartup", False)),
                        monitored(schedule, datetime.now(UTC))
                        if use_monitor is None
                        else bool(use_monitor),
                    )
                )
        self._claims: dict[str, Plugin] = {}
        self._inputs: dict[str, Plugin] = {}
        for plugin in self.plugins:
            for trigger_type in plugin.trigger_types:
                self._claims.setdefault(trigger_type, plugin)
            for input_type in plugin.input_types:
                self._inputs.setdefault(input_type, plugin)
        self._runner: web.AppRunner | None = None
        self._ready = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._statuses: dict[str, ScheduleStatus] = {}
        self._monitor = ScheduleMonitor(timer_state)

    # --- what plugins see ----------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self._host if ':' not in self._host else f'[{self._host}]'}:{self._port}"

    @property
    def app_reference(self) -> str:
        return self._app_reference

    @property
    def port(self) -> int:
        return self._port

    @property
    def functions(self) -> Mapping[str, FunctionInfo]:
        return self._functions

    def functions_with_trigger(self, trigger_type: str) -> list[FunctionInfo]:
        return [f for f in self._functions.values() if f.trigger_type == trigger_type]

    def plugin_for_trigger(self, trigger_type: str) -> Plugin | None:
        return self._claims.get(trigger_type)

    async def invoke(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        function = self._functions.get(name)
        if function is None:
            raise FunctionNotFound(f"no function named {name!r}")
        context = InvocationContext(function, str(uuid.uuid4()))
        await self._fill_inputs(function, kwargs, context, positional=bool(args))
        return await self._call(function, args, kwargs)

    def log_invocation(
        self, name: str, trigger_type: str, duration_ms: float, outcome: str
    ) -> None:
        invocation_log.info(
            "invocation function=%s trigger=%s duration_ms=%.1f outcome=%s",
            name,
            trigger_type,
            duration_ms,
            outcome,
        )

    # --- invocation ----------------------------------------------------------------------
    async def _fill_inputs(
        self,
        function: FunctionInfo,
        kwargs: dict[str, Any],
        context: InvocationContext,
        positional: bool = False,
    ) -> None:
        for binding in function.input_bindings():
            name = binding["name"]
            if name in kwargs:
                continue
            plugin = self._inputs.get(str(binding["type"]))
            if plugin is None:
                raise LookupError(
                    f"function {function.name}: no local provider for input binding "
                    f"{name!r} of type {binding['type']}"
                )
            kwargs[name] = await plugin.input_value(binding, function, context)
        for binding in function.bindings:
            direction = str(binding.get("direction", "")).lower()
            if (
                direction == "out"
                and binding["name"] != "$return"
                and binding["name"] not in kwargs
            ):
                kwargs[binding["name"]] = _Out(binding["name"], str(binding["type"]))
        if not positional and "context" not in kwargs and wants_context(function):
            kwargs["context"] = _Context(context.invocation_id, function.name, self._app_directory)

    async def _call(
        self,
        function: FunctionInfo,
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        outcome_of: Callable[[Any], str] | None = None,
    ) -> Any:
        started = time.perf_counter()
        target = function.user_function
        try:
            if inspect.iscoroutinefunction(target):
                result = await target(*args, **kwargs)
            else:
                result = await asyncio.to_thread(target, *args, **kwargs)
                if inspect.isawaitable(result):
                    result = await result
        except (Exception, asyncio.CancelledError) as error:
            self.log_invocation(
                function.name,
                function.trigger_type,
                (time.perf_counter() - started) * 1000,
                "cancelled" if isinstance(error, asyncio.CancelledError) else type(error).__name__,
            )
            raise
        if outcome_of is not None:
            outcome = outcome_of(result)
        elif isinstance(result, func.HttpResponse):
            outcome = str(result.status_code)
        else:
            outcome = "ok"
        self.log_invocation(
            function.name, function.trigger_type, (time.perf_counter() - started) * 1000, outcome
        )
        return result

    # --- HTTP ----------------------------------------------------------------------------
    async def _serve_http(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info.get("tail", "")
        matches = [
            (r, values) for r in self.http_routes if (values := r.template.match(path)) is not None
        ]
        if not matches:
            return host_problem(404, f"no function serves /{self.prefix}/{path}")
        for route, values in matches:
            if request.method in route.methods or (
                request.method == "HEAD" and "GET" in route.methods
            ):
                return await self._invoke_http(route, values, request)
        allowed = sorted({m for r, _ in matches for m in r.methods})
        return host_problem(
            405,
            f"method {request.method} not allowed; use {', '.join(allowed)}",
            {"Allow": ", ".join(allowed)},
        )

    async def _invoke_http(
        self, route: HttpRoute, values: dict[str, str], request: web.Request
    ) -> web.StreamResponse:
        function = route.function
        if (request.content_length or 0) > MAX_REQUEST_BYTES:
            return host_problem(
                413, f"the request body is larger than the host accepts ({MAX_REQUEST_BYTES} bytes)"
            )
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return host_problem(
                413, f"the request body is larger than the host accepts ({MAX_REQUEST_BYTES} bytes)"
            )
        http_request = func.HttpRequest(
            method=request.method,
            url=str(request.url),
            headers=_multi(request.headers.items(), ","),
            params=_multi(request.query.items(), ","),
            route_params=values,
            body=body,
        )
        context = InvocationContext(function, str(uuid.uuid4()), request=request)
        kwargs: dict[str, Any] = {str(function.trigger["name"]): http_request}
        try:
            await self._fill_inputs(function, kwargs, context)
        except Exception as error:
            log.error("%s", error)
            self.log_invocation(function.name, "httpTrigger", 0.0, type(error).__name__)
            return host_problem(500, f"function {function.name} could not be invoked; see the log")

        def status_of(result: Any) -> str:
            if isinstance(result, func.HttpResponse):
                return str(result.status_code)
            if result is None:
                return "204"
            return "200" if isinstance(result, str | bytes) else f"500 {type(result).__name__}"

        try:
            result = await self._call(function, (), kwargs, status_of)
            return http_response(result)
        except Exception:
            log.error("function %s failed:\n%s", function.name, traceback.format_exc().rstrip())
            return host_problem(500, f"function {function.name} failed; see the log")

    # --- timers and admin ----------------------------------------------------------------
    async def _fire_timer(self, job: TimerJob, past_due: bool) -> None:
        name = job.function.name
        now = datetime.now(UTC)
        previous = self._monitor.load(name) if job.monitored else self._statuses.get(name)
        status = ScheduleStatus(
            last=previous.next if previous else datetime.min.replace(tzinfo=UTC),
            next=job.schedule.next_after(now),
            last_updated=now,
        )
        self._statuses[name] = status
        if job.monitored:
            self._monitor.save(name, status)
        timer = TimerRequest(
            past_due=past_due,
            schedule_status=status.as_binding(),
            schedule={"AdjustForDST": True},
        )
        kwargs: dict[str, Any] = {str(job.function.trigger["name"]): timer}
        try:
            context = InvocationContext(job.function, str(uuid.uuid4()))
            await self._fill_inputs(job.function, kwargs, context)
            await self._call(job.function, (), kwargs)
        except Exception:
            log.error("timer %s failed:\n%s", name, traceback.format_exc().rstrip())

    async def _run_timer(self, job: TimerJob) -> None:
        """Azure's TimerListener: run on start-up if asked or if a monitored occurrence was
        missed while the host was down (past due); then wait for each next occurrence after
        the previous run ended (an overrunning run skips occurrences, never overlaps)."""
        status = self._monitor.load(job.function.name) if job.monitored else None
        missed = status is not None and status.next < datetime.now(UTC)
        if job.run_on_startup or missed:
            await self._fire_timer(job, past_due=missed)
        while True:
            scheduled = job.schedule.next_after(datetime.now(UTC))
            delay = (scheduled - datetime.now(UTC)).total_seconds()
            if delay > 0:
                await asyncio.sleep(delay + CLOCK_MARGIN)
            late = datetime.now(UTC) - scheduled > PAST_DUE_TOLERANCE
            await self._fire_timer(job, past_due=late)

    def _background(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _admin_invoke(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        function = self._functions.get(name) or next(
            (f for n, f in self._functions.items() if n.lower() == name.lower()), None
        )
        if function is None:
            return host_problem(404, f"no function named {name!r}")
        text = await request.text()
        try:
            payload = json.loads(text) if text.strip() else {}
        except (json.JSONDecodeError, RecursionError):
            return host_problem(400, 'the body must be JSON: {"input": "..."}')
        value = payload.get("input") if isinstance(payload, dict) else None
        if function.trigger_type == "httpTrigger":
            return host_problem(400, f"{function.name} is an HTTP function; call its route")
        if function.trigger_type == "timerTrigger":
            job = next(j for j in self.timer_jobs if j.function is function)
            self._background(self._fire_timer(job, past_due=False))
        else:
            self._background(self._invoke_quietly(function, value))
        return web.Response(status=202)

    async def _invoke_quietly(self, function: FunctionInfo, value: Any) -> None:
        try:
            await self.invoke(function.name, **{str(function.trigger["name"]): value})
        except Exception:
            log.error("function %s failed:\n%s", function.name, traceback.format_exc().rstrip())

    async def _admin_status(self, request: web.Request) -> web.StreamResponse:
        state = "Running" if self._ready else "Initializing"
        return web.json_response(
            {"state": state, "processId": os.getpid()}, status=200 if self._ready else 503
        )

    async def _admin_functions(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(
            [
                {"name": f.name, "trigger": f.trigger_type, "bindings": list(f.bindings)}
                for f in self._functions.values()
            ]
        )

    async def _devstorage(self, request: web.Request) -> web.StreamResponse:
        from devhost.devstorage import serve_signed_blob

        return await serve_signed_blob(request)

    # --- lifecycle -----------------------------------------------------------------------
    def web_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES, middlewares=[problem_errors])
        for plugin in self.plugins:
            plugin.setup(self, app)
        app.router.add_get("/admin/host/status", self._admin_status)
        app.router.add_get("/admin/functions", self._admin_functions)
        app.router.add_post("/admin/functions/{name}", self._admin_invoke)
        app.router.add_get("/devstorage/{container}/{name:.+}", self._devstorage)
        prefix = f"/{self.prefix}" if self.prefix else ""
        app.router.add_route("*", prefix + "/{tail:.*}", self._serve_http)
        if prefix:
            app.router.add_route("*", prefix, self._serve_http)
        return app

    async def start(self) -> None:
        self._runner = _Runner(
            self.web_app(), access_log=None, handle_signals=False, shutdown_timeout=3.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, reuse_address=True)
        await site.start()
        if self._port == 0 and self._runner.addresses:
            self._port = int(self._runner.addresses[0][1])
        try:
            for plugin in self.plugins:
                await plugin.start()
        except BaseException:
            await self.stop()
            raise
        if self.timers_enabled:
            for job in self.timer_jobs:
                self._background(self._run_timer(job))
        self._ready = True

    async def stop(self) -> None:
        self._ready = False
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for plugin in reversed(self.plugins):
            try:
                await plugin.stop()
            except Exception:
                log.exception("plugin %s failed to stop", plugin.name)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def describe(self) -> list[tuple[str, str, str]]:
        """Rows of the start-up table: function, trigger, where/when."""
        rows = []
        for function in self._functions.values():
            trigger = function.trigger_type
            if function.name in self.in_error:
                where = f"IN ERROR, not served: {self.in_error[function.name]}"
            elif trigger == "httpTrigger":
                route = next(r for r in self.http_routes if r.function is function)
                methods = (
                    "ANY"
                    if route.methods == frozenset(ALL_METHODS)
                    else ",".join(sorted(route.methods))
                )
                where = f"{methods} {self.base_url}/{self.prefix}/{route.template.template}"
            elif trigger == "timerTrigger":
                job = next(j for j in self.timer_jobs if j.function is function)
                state = "" if self.timers_enabled else " (timers off; POST /admin/functions/"
                state += f"{function.name})" if not self.timers_enabled else ""
                startup = " run-on-startup" if job.run_on_startup else ""
                where = f"{job.schedule.expression}{startup}{state}"
            elif plugin := self._claims.get(trigger):
                where = plugin.describe(function)
            else:
                where = "not served by the local host"
            rows.append((function.name, trigger, where))
        return rows

    def unserved_inputs(self) -> list[str]:
        problems = []
        for function in self._functions.values():
            for binding in function.input_bindings():
                if str(binding["type"]) not in self._inputs:
                    problems.append(
                        f"{function.name}: input binding {binding['name']} ({binding['type']}) "
                        "has no local provider"
                    )
        return problems
