"""Load a FunctionApp and index its functions, with the Python worker's load-time checks."""

from __future__ import annotations

import importlib
import inspect
import json
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import azure.functions as func
from azure.functions import meta

from devhost.plugins import Binding, FunctionInfo
from devhost.routes import RouteTemplateError, parse_route
from devhost.timers import ScheduleError, parse_schedule

DEFAULT_APP = "function_app:app"

_WRAPPED_ATTRIBUTES = ("client_function", "orchestrator_function", "entity_function")
RESERVED_ROUTE_PREFIXES = ("admin", "runtime")
"""Route starts the Functions host keeps for itself (`/admin/...`, `/runtime/webhooks/...`)."""
ANY_METHOD = frozenset({"*"})


class IndexingError(ValueError):
    """The app cannot be indexed; the message names the function and the problem."""


def load_app(reference: str = DEFAULT_APP) -> func.FunctionRegister:
    """Import "module:attribute" and return the FunctionApp it names."""
    module_name, _, attribute = reference.partition(":")
    module = importlib.import_module(module_name)
    app = getattr(module, attribute or "app")
    if not isinstance(app, func.FunctionRegister):
        raise IndexingError(f"{reference} is a {type(app).__name__}, not a FunctionApp")
    return app


def worker_app(module_name: str = "function_app") -> func.FunctionRegister:
    """The one top-level FunctionApp of a module, found as the worker's indexer finds it
    (`loader.index_function_app`): more than one, or none, is an error."""
    module = importlib.import_module(module_name)
    found = [
        name
        for name in module.__dir__()
        if isinstance(getattr(module, name, None), func.FunctionRegister)
    ]
    if len(found) != 1:
        what = "More than one" if found else "No"
        raise IndexingError(
            f"{what} top-level function app instance in {module_name} ({', '.join(found)})"
        )
    app: func.FunctionRegister = getattr(module, found[0])
    return app


def original_function(user_function: Callable[..., Any]) -> Callable[..., Any]:
    """The function the developer wrote, under the Durable SDK's and functools' wrappers."""
    current = user_function
    for _ in range(10):
        inner = next(
            (getattr(current, a) for a in _WRAPPED_ATTRIBUTES if hasattr(current, a)), None
        )
        if inner is None:
            inner = getattr(current, "__wrapped__", None)
        if inner is None or inner is current:
            return current
        current = inner
    return current


def index_app(app: func.FunctionRegister) -> list[FunctionInfo]:
    """Every function of `app` as `FunctionInfo`, in registration order.

    `FunctionApp.get_functions()` remembers the names it saw and rejects them as duplicates
    on a second call, so that memory is cleared before and after; duplicates within one
    call still fail.
    """
    app.functions_bindings = {}
    try:
        functions = app.get_functions()
    except ValueError as error:
        raise IndexingError(str(error)) from None
    finally:
        app.functions_bindings = {}
    indexed = []
    for function in functions:
        raw = json.loads(function.get_function_json())
        bindings: tuple[Binding, ...] = tuple(raw["bindings"])
        declared = function.get_trigger()
        name = function.get_function_name()
        if declared is None or name is None:
            raise IndexingError(f"function {name or function} has no trigger or no name")
        trigger = next(
            (b for b in bindings if b["name"] == declared.name and b["type"] == declared.type),
            None,
        )
        if trigger is None:
            raise IndexingError(f"function {name} has no trigger binding")
        user_function = function.get_user_function()
        indexed.append(
            FunctionInfo(
                name=name,
                trigger=trigger,
                bindings=bindings,
                user_function=user_function,
                original_function=original_function(user_function),
            )
        )
    return indexed


def wants_context(function: FunctionInfo) -> bool:
    """True if the function takes a `context` parameter that no binding fills."""
    signature = inspect.signature(function.user_function)
    return "context" in signature.parameters and not any(
        b["name"] == "context" for b in function.bindings
    )


def _binding_class(binding_type: str) -> Any:
    return meta.get_binding_registry().get(binding_type)


def _implicit_output(binding_type: str) -> bool:
    converter = _binding_class(binding_type)
    return bool(converter is not None and getattr(converter, "has_implicit_output", bool)())


def _accepts(binding_type: str, pytype: Any, output: bool) -> bool:
    converter = _binding_class(binding_type)
    if converter is None:
        return isinstance(pytype, type) and issubclass(pytype, str | bytes | bytearray)
    check = (
        converter.check_output_type_annotation if output else converter.check_input_type_annotation
    )
    return bool(check(pytype))


def _out_argument(annotation: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(annotation)
    if isinstance(origin, type) and origin.__name__ == "Out":
        args = typing.get_args(annotation)
        return True, args[0] if len(args) == 1 else None
    return isinstance(annotation, type) and annotation.__name__ == "Out", None


def binding_problems(function: FunctionInfo) -> list[str]:
    """The Python worker's load-time checks (`Registry.add_indexed_function`) for one function.

    Like the worker it reads `inspect.signature` of the user function, which follows
    `__wrapped__` (so a `functools.wraps` decorator exposes the wrapped function's
    parameters), and `typing.get_type_hints`, which must resolve every annotation.
    """
    name = function.name
    target = function.user_function
    problems: list[str] = []
    try:
        params = dict(inspect.signature(target).parameters)
    except (TypeError, ValueError) as error:
        return [f"{name}: no signature: {error}"]
    try:
        annotations = typing.get_type_hints(target)
    except Exception as error:
        return [f"{name}: annotations do not resolve: {type(error).__name__}: {error}"]
    bound: dict[str, Binding] = {}
    has_return = False
    for binding in function.bindings:
        direction = str(binding.get("direction", "")).lower()
        if direction == "inout":
            problems.append(f"{name}: binding {binding['name']!r}: 'inout' is not supported")
        if binding["name"] == "$return":
            has_return = True
            if direction != "out":
                problems.append(f"{name}: '$return' binding must have direction 'out'")
        else:
            bound[binding["name"]] = binding
    if "context" in params and "context" not in bound:
        params.pop("context")
        context = annotations.get("context")
        if context is not None and not (
            isinstance(context, type) and context.__name__ == "Context"
        ):
            problems.append(
                f"{name}: parameter 'context' (no binding of that name) must be "
                f"azure.functions.Context, got {context!r}"
            )
    if missing := sorted(set(params) - set(bound)):
        problems.append(
            f"{name}: parameters declared in Python but not as bindings: {', '.join(missing)}"
        )
    if extra := sorted(set(bound) - set(params)):
        problems.append(f"{name}: bindings with no Python parameter: {', '.join(extra)}")
    for param in params:
        found = bound.get(param)
        if found is None or param not in annotations:
            continue
        binding = found
        annotation = annotations[param]
        is_out, inner = _out_argument(annotation)
        pytype = inner if is_out else annotation
        binding_out = str(binding.get("direction", "")).lower() == "out"
        if is_out and inner is None:
            problems.append(f"{name}: binding {param} has an invalid Out annotation")
            continue
        if not isinstance(pytype, type) and typing.get_origin(pytype) is None:
            problems.append(f"{name}: binding {param} has a non-type annotation {annotation!r}")
            continue
        if binding_out and not is_out:
            problems.append(f"{name}: output binding {param} must be annotated func.Out[...]")
            continue
        if is_out and not binding_out:
            problems.append(f"{name}: input binding {param} is annotated func.Out")
            continue
        binding_type = str(binding["type"])
        if pytype in (str, bytes) and not _implicit_output(binding_type):
            binding_type = "generic"
        if isinstance(pytype, type) and not _accepts(binding_type, pytype, is_out):
            problems.append(
                f"{name}: binding {param} of type {binding['type']} does not accept "
                f"annotation {pytype.__name__}"
            )
    if has_return and "return" in annotations:
        returned = annotations["return"]
        return_type = next(str(b["type"]) for b in function.bindings if b["name"] == "$return")
        if not isinstance(returned, type):
            problems.append(f"{name}: return annotation {returned!r} is not a type")
        elif not _accepts(return_type, returned, output=True):
            problems.append(
                f"{name}: return annotation {returned.__name__} does not match binding "
                f"type {return_type}"
            )
    return problems


def http_route(function: FunctionInfo) -> tuple[str, frozenset[str]]:
    """The route template (the function name when none is given) and methods (`{"*"}`: any)."""
    route = str(function.trigger.get("route") or function.name).strip("/")
    methods = function.trigger.get("methods") or []
    return route, frozenset(str(m).upper() for m in methods) or ANY_METHOD


def route_problems(functions: Sequence[FunctionInfo]) -> dict[str, str]:
    """HTTP functions the Functions host puts "in error", with its reason, by function name.

    The host rejects a route starting with `admin` or `runtime` (its own APIs), a template
    it cannot parse, and a route whose template and methods overlap an earlier function's.
    """
    problems: dict[str, str] = {}
    seen: list[tuple[str, str, frozenset[str]]] = []
    for function in functions:
        if function.trigger_type != "httpTrigger":
            continue
        route, methods = http_route(function)
        if route.lower().startswith(RESERVED_ROUTE_PREFIXES):
            problems[function.name] = (
                f"route {route!r} conflicts with the host's built-in routes (admin/, runtime/)"
            )
            continue
        try:
            parse_route(route)
        except RouteTemplateError as error:
            problems[function.name] = str(error)
            continue
        for other, other_route, other_methods in seen:
            overlap = methods & other_methods or ANY_METHOD in (methods, other_methods)
            if other_route.lower() == route.lower() and overlap:
                problems[function.name] = (
                    f"route {route!r} ({', '.join(sorted(methods))}) conflicts with the route "
                    f"of function {other}"
                )
                break
        else:
            seen.append((function.name, route, methods))
    return problems


def schedule_problems(
    functions: Sequence[FunctionInfo], values: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Timer functions whose schedule does not resolve or parse, by function name."""
    problems: dict[str, str] = {}
    for function in functions:
        if function.trigger_type == "timerTrigger":
            try:
                parse_schedule(str(function.trigger.get("schedule", "")), values)
            except ScheduleError as error:
                problems[function.name] = str(error)
    return problems


def indexing_problems(
    functions: Sequence[FunctionInfo], values: Mapping[str, str] | None = None
) -> list[str]:
    """Every problem the worker or the host would report for these functions (empty: fine)."""
    problems = [p for f in functions for p in binding_problems(f)]
    problems += [f"{n}: {m}" for n, m in route_problems(functions).items()]
    problems += [f"{n}: {m}" for n, m in schedule_problems(functions, values).items()]
    return problems
