"""function_app.py indexes as the Python worker and the Functions host index it.

The worker's own indexer (azure-functions-runtime) needs Python 3.13, so `devhost.index`
reproduces its checks: one top-level FunctionApp, unique function names, every binding
matched by a parameter of `inspect.signature(user function)` (which follows `__wrapped__`)
and vice versa, annotations that resolve and suit their binding; plus the host's: HTTP
routes unique per method and not under admin/ or runtime/, every timer schedule valid once
%SETTING% references are resolved. The second half breaks small apps on purpose to prove
each check fails when it should.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import azure.durable_functions as df
import azure.functions as func
import pytest

from devhost.__main__ import setting_values
from devhost.index import IndexingError, index_app, indexing_problems, worker_app
from shared.config import get_settings


def settings_values() -> dict[str, str]:
    return setting_values(get_settings())


def test_function_app_indexes_cleanly() -> None:
    functions = index_app(worker_app("function_app"))
    assert functions, "function_app.py registers no function"
    assert indexing_problems(functions, settings_values()) == []


def test_function_names_are_unique_case_insensitively() -> None:
    names = [f.name.lower() for f in index_app(worker_app("function_app"))]
    assert len(names) == len(set(names))


def test_health_is_registered() -> None:
    functions = {f.name: f for f in index_app(worker_app("function_app"))}
    assert functions["health"].trigger["route"] == "health"


# --- the checker itself, on deliberately broken apps -----------------------------------


def problems_of(
    build: Callable[[func.FunctionApp], None], values: dict[str, str] | None = None
) -> list[str]:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    build(app)
    return indexing_problems(index_app(app), values or {})


def test_a_correct_app_has_no_problems() -> None:
    def build(app: func.FunctionApp) -> None:
        @app.route(route="items/{id:int}", methods=["GET"])
        def get_item(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse()

        @app.route(route="items/{id:int}", methods=["PUT"])
        def put_item(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
            return func.HttpResponse()

        @app.timer_trigger(schedule="%TICK%", arg_name="timer")
        def tick(timer: func.TimerRequest) -> None: ...

        @app.route(route="queue", methods=["POST"])
        @app.queue_output(arg_name="msg", queue_name="q", connection="AzureWebJobsStorage")
        def enqueue(req: func.HttpRequest, msg: func.Out[str]) -> func.HttpResponse:
            return func.HttpResponse()

    assert problems_of(build, {"TICK": "0 */5 * * * *"}) == []


def test_parameter_without_binding() -> None:
    def build(app: func.FunctionApp) -> None:
        @app.route(route="a")
        def a(req: func.HttpRequest, extra: str) -> func.HttpResponse:
            return func.HttpResponse()

    assert problems_of(build) == ["a: parameters declared in Python but not as bindings: extra"]


def test_binding_without_parameter() -> None:
    def build(app: func.FunctionApp) -> None:
        @app.route(route="a", trigger_arg_name="request")
        def a(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse()

    found = problems_of(build)
    assert "a: bindings with no Python parameter: request" in found


def test_a_wraps_decorator_exposes_the_inner_signature() -> None:
    """What the worker sees through functools.wraps: the wrapped (req, caller) signature."""

    def with_caller(handler: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(handler)
        def wrapper(req: func.HttpRequest) -> func.HttpResponse:
            return handler(req, "someone")

        return wrapper

    def build(app: func.FunctionApp) -> None:
        @app.route(route="a")
        @with_caller
        def a(req: func.HttpRequest, caller: str) -> func.HttpResponse:
            return func.HttpResponse()

    assert problems_of(build) == ["a: parameters declared in Python but not as bindings: caller"]


def test_duplicate_function_names_fail_indexing() -> None:
    app = func.FunctionApp()

    @app.function_name("same")
    @app.route(route="one")
    def one(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse()

    @app.function_name("same")
    @app.route(route="two")
    def two(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse()

    with pytest.raises(IndexingError, match="same"):
        index_app(app)


def test_duplicate_route_and_method() -> None:
    def build(app: func.FunctionApp) -> None:
        @app.route(route="things/{id}", methods=["GET", "POST"])
        def first(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse()

        @app.route(route="Things/{id}", methods=["POST"])
        def second(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse()

        @app.route(route="any")
        def third(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse()

        @app.route(route="any", methods=["DELETE"])
        def fourth(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse()

    found = problems_of(build)
    assert len(found) == 2
    assert found[0].startswith("second: route 'Things/{id}' (POST) conflicts")
    assert found[1].startswith("fourth:")


@pytest.mark.parametrize("route", ["admin/backfill", "runtime/things", "Administration"])
def test_routes_under_the_host_api_are_rejected(route: str) -> None:
    def build(app: func.FunctionApp) -> None:
        @app.route(route=route)
        def reserved(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse()

    assert problems_of(build)[0].startswith(f"reserved: route {route!r} conflicts")


def test_unparseable_route_template() -> None:
    def build(app: func.FunctionApp) -> None:
        @app.route(route="x/{id:nosuch}")
        def bad_route(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse()

    assert "unknown route constraint" in problems_of(build)[0]


@pytest.mark.parametrize(
    ("schedule", "values", "needle"),
    [
        ("%MISSING%", {}, "MISSING is not set"),
        ("0 */5 * * *", {}, "six fields"),
        ("%S%", {"S": "99 * * * * *"}, "not a valid NCRONTAB"),
    ],
)
def test_bad_schedules(schedule: str, values: dict[str, str], needle: str) -> None:
    def build(app: func.FunctionApp) -> None:
        @app.timer_trigger(schedule=schedule, arg_name="timer")
        def tick(timer: func.TimerRequest) -> None: ...

    found = problems_of(build, values)
    assert len(found) == 1
    assert needle in found[0]


def test_annotation_that_does_not_suit_the_binding() -> None:
    def build(app: func.FunctionApp) -> None:
        @app.route(route="a")
        def a(req: int) -> func.HttpResponse:
            return func.HttpResponse()

    assert problems_of(build) == [
        "a: binding req of type httpTrigger does not accept annotation int"
    ]


def test_output_binding_must_be_annotated_out() -> None:
    def build(app: func.FunctionApp) -> None:
        @app.route(route="a")
        @app.queue_output(arg_name="msg", queue_name="q", connection="AzureWebJobsStorage")
        def a(req: func.HttpRequest, msg: str) -> func.HttpResponse:
            return func.HttpResponse()

    assert problems_of(build) == ["a: output binding msg must be annotated func.Out[...]"]


def test_annotation_that_does_not_resolve() -> None:
    def build(app: func.FunctionApp) -> None:
        @app.route(route="a")
        def a(req: NoSuchType) -> func.HttpResponse:  # type: ignore[name-defined]  # noqa: F821
            return func.HttpResponse()

    found = problems_of(build)
    assert len(found) == 1
    assert "annotations do not resolve" in found[0]


def test_context_parameter_must_be_a_context() -> None:
    def build(app: func.FunctionApp) -> None:
        @app.route(route="a")
        def a(req: func.HttpRequest, context: str) -> func.HttpResponse:
            return func.HttpResponse()

    assert "'context'" in problems_of(build)[0]


def test_orchestrator_context_name_must_be_context() -> None:
    """The SDK's handler takes `context`; any other context_name fails the worker's check."""
    good = df.DFApp()

    @good.orchestration_trigger(context_name="context")
    def fine(context: df.DurableOrchestrationContext):
        yield context.call_activity("act", 1)

    @good.activity_trigger(input_name="n")
    def act(n: int) -> int:
        return n

    @good.route(route="start", methods=["POST"])
    @good.durable_client_input(client_name="client")
    async def start(
        req: func.HttpRequest, client: df.DurableOrchestrationClient
    ) -> func.HttpResponse:
        return func.HttpResponse()

    assert indexing_problems(index_app(good), {}) == []

    bad = df.DFApp()

    @bad.orchestration_trigger(context_name="ctx")
    def renamed(ctx: df.DurableOrchestrationContext):
        yield ctx.call_activity("act", 1)

    found = indexing_problems(index_app(bad), {})
    assert any("renamed: parameter 'context'" in p for p in found)
    assert any("renamed: bindings with no Python parameter: ctx" in p for p in found)


def test_more_than_one_app_in_the_module(tmp_path, monkeypatch) -> None:
    (tmp_path / "two_apps_mod.py").write_text(
        "import azure.functions as func\napp = func.FunctionApp()\nother = func.FunctionApp()\n"
    )
    (tmp_path / "no_app_mod.py").write_text(
        "import azure.functions as func\nbp = func.Blueprint()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(IndexingError, match="More than one"):
        worker_app("two_apps_mod")
    with pytest.raises(IndexingError, match="No top-level"):
        worker_app("no_app_mod")
