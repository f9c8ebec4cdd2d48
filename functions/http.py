"""HTTP conventions shared by every route: JSON bodies, problem+json errors, request ids."""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import azure.functions as func
from pydantic import BaseModel, ValidationError

from shared.auth.caller import ANONYMOUS, Caller, Role
from shared.auth.tokens import authenticate_header
from shared.errors import DomainError

log = logging.getLogger("functions.http")

REQUEST_ID_HEADER = "X-Request-Id"
PROBLEM_JSON = "application/problem+json"

M = TypeVar("M", bound=BaseModel)

Handler = Callable[[func.HttpRequest, Caller], Awaitable[func.HttpResponse]]
Route = Callable[[func.HttpRequest], Awaitable[func.HttpResponse]]


def request_id(req: func.HttpRequest) -> str:
    incoming = req.headers.get(REQUEST_ID_HEADER, "")
    if incoming and len(incoming) <= 128 and incoming.isprintable():
        return incoming
    return uuid.uuid4().hex


def _dump(body: Any) -> str:
    if isinstance(body, BaseModel):
        return body.model_dump_json(by_alias=True)
    if isinstance(body, list) and body and isinstance(body[0], BaseModel):
        return "[" + ",".join(item.model_dump_json(by_alias=True) for item in body) + "]"
    return json.dumps(body, default=str, allow_nan=False)


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> func.HttpResponse:
    return func.HttpResponse(
        _dump(body), status_code=status, mimetype="application/json", headers=headers or {}
    )


def problem(
    status: int, title: str, detail: str, *, type_: str = "about:blank", **extra: Any
) -> func.HttpResponse:
    """An RFC 7807 problem+json response."""
    body = {"type": type_, "title": title, "status": status, "detail": detail, **extra}
    return func.HttpResponse(
        json.dumps(body, default=str), status_code=status, mimetype=PROBLEM_JSON
    )


def validation_problem(error: ValidationError) -> func.HttpResponse:
    errors = [
        {"loc": ".".join(str(p) for p in item["loc"]), "msg": item["msg"]}
        for item in error.errors()
    ]
    detail = "; ".join(f"{e['loc'] or 'body'}: {e['msg']}" for e in errors)
    return problem(422, "Invalid input", detail, errors=errors)


def parse_body(req: func.HttpRequest, model: type[M]) -> M:
    """The request's JSON body as `model`; raises ValidationError / DomainError on bad input."""
    raw = req.get_body()
    if not raw:
        raise DomainError("request body is empty; send a JSON object")
    try:
        return model.model_validate_json(raw)
    except ValidationError:
        raise
    except ValueError as error:
        raise DomainError(f"request body is not valid JSON: {error}") from None


async def authenticate(req: func.HttpRequest, role: Role | None) -> Caller:
    """The caller of `req`, checked against `role` (None = public route).

    Raises `Unauthorized` (no or bad token) or `Forbidden` (role too low).
    """
    caller = await authenticate_header(req.headers.get("Authorization"), role)
    return caller or ANONYMOUS


def endpoint(*, role: Role | None) -> Callable[[Handler], Route]:
    """Wrap a route handler `(req, caller)`: authenticate and authorize for `role`
    (None = public), echo/assign the request id, map errors to problem+json, and never
    leak a traceback."""

    def decorate(handler: Handler) -> Route:
        @functools.wraps(handler)
        async def wrapper(req: func.HttpRequest) -> func.HttpResponse:
            rid = request_id(req)
            try:
                caller = await authenticate(req, role)
                response = await handler(req, caller)
            except DomainError as error:
                response = problem(error.status, error.title, error.detail)
                challenge = getattr(error, "www_authenticate", None)
                if challenge:
                    response.headers["WWW-Authenticate"] = challenge
            except ValidationError as error:
                response = validation_problem(error)
            except Exception:
                log.exception("unhandled error in %s (request %s)", handler.__name__, rid)
                response = problem(500, "Internal error", f"unexpected error; request id {rid}")
            response.headers[REQUEST_ID_HEADER] = rid
            return response

        return wrapper

    return decorate
