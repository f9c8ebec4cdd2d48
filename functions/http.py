"""HTTP conventions shared by every route: auth, JSON bodies, problem+json errors, request
ids, continuation-token pagination, and the route's OpenAPI contract."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import math
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypedDict, TypeVar, Unpack

import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared import telemetry
from shared.api_model import ApiModel
from shared.audit import (
    NO_REQUEST,
    AuditKind,
    AuditLog,
    DenialLimiter,
    RequestContext,
    audit_log,
    current_request,
    request_context,
)
from shared.auth.caller import ANONYMOUS, Caller, Role
from shared.auth.tokens import (
    InsufficientRole,
    InvalidToken,
    MissingToken,
    authenticate_header,
)
from shared.errors import DomainError, Forbidden, Unauthorized
from shared.openapi import EndpointSpec, HeaderParam

log = logging.getLogger("functions.http")

REQUEST_ID_HEADER = "X-Request-Id"
CLIENT_REQUEST_ID_HEADER = "X-Client-Request-Id"
MAX_CLIENT_REQUEST_ID = 128
PROBLEM_JSON = "application/problem+json"
SPEC_ATTRIBUTE = "api_spec"
MAX_BODY_BYTES = 256 * 1024
DURABLE_CLIENT = "client"
"""The keyword a `Routes(..., durable_client=True)` handler gets its Durable client as."""

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

Handler = Callable[..., Awaitable[func.HttpResponse]]
"""`(req, caller)`, plus `query` and any input binding, by name (see `endpoint`)."""
Route = Callable[..., Awaitable[func.HttpResponse]]


def request_context_of(req: func.HttpRequest) -> RequestContext:
    """The request's audit context: a fresh server-generated id (never the client's), and the
    client's `X-Request-Id`, if it is short and printable, kept apart as its own field."""
    incoming = req.headers.get(REQUEST_ID_HEADER, "").strip()
    client_id = (
        incoming if len(incoming) <= MAX_CLIENT_REQUEST_ID and incoming.isprintable() else ""
    )
    return RequestContext(
        request_id=uuid.uuid4().hex,
        client_request_id=client_id,
        method=req.method,
        path=req.url.split("?", 1)[0][-500:],
    )


def if_match(req: func.HttpRequest) -> str | None:
    """The If-Match etag of a write; None when absent or `*` (any current version)."""
    value = req.headers.get("If-Match", "").strip()
    return None if value in ("", "*") else value


def current_request_id() -> str:
    """The server's id of the request being handled (inside an `endpoint` handler)."""
    return current_request().request_id


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


def no_content(headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(status_code=204, headers=headers or {})


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
    """The request's JSON body as `model`; raises ValidationError / DomainError on bad input.

    JSON types are strict: a boolean is not a number (`true` is not 1), a string is not a
    number or a boolean; an integer is still a valid float."""
    raw = req.get_body()
    if not raw:
        raise DomainError("request body is empty; send a JSON object")
    if len(raw) > MAX_BODY_BYTES:
        raise DomainError(f"request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError:
        raise
    except ValueError as error:
        raise DomainError(f"request body is not valid JSON: {error}") from None


class QueryModel(ApiModel):
    """Base of query-string models: camelCase names, unknown parameters ignored."""

    model_config = ConfigDict(extra="ignore")


class ListQuery(QueryModel):
    """`?limit=&continuationToken=` of every list route."""

    limit: int = Field(50, ge=1, le=200, description="Items per page (1-200).")
    continuation_token: str | None = Field(
        None, max_length=2048, description="The continuationToken of the previous page."
    )


class AccountListQuery(ListQuery):
    """A list query; admins may narrow it to one `account` (others always see their own)."""

    account: str | None = Field(None, max_length=255, description="Admins only: one account.")


class Page(ApiModel, Generic[T]):
    """One page of a list; pass `continuationToken` back to get the next (null = last)."""

    items: list[T]
    continuation_token: str | None = None


def parse_query(req: func.HttpRequest, model: type[M]) -> M:
    """The query string as `model` (camelCase names); ValidationError → 422."""
    return model.model_validate(dict(req.params))


def page_response(items: Sequence[Any], continuation: str | None) -> func.HttpResponse:
    body = {
        "items": [
            item.model_dump(mode="json", by_alias=True) if isinstance(item, BaseModel) else item
            for item in items
        ],
        "continuationToken": continuation,
    }
    return json_response(body)


async def account_page(
    query: AccountListQuery,
    caller: Caller,
    lister: Callable[..., tuple[Sequence[Any], str | None]],
) -> func.HttpResponse:
    """One page of an account-scoped list: `lister(caller, account=, limit=, continuation=)`
    off the event loop."""
    items, token = await asyncio.to_thread(
        lister,
        caller,
        account=query.account,
        limit=query.limit,
        continuation=query.continuation_token,
    )
    return page_response(items, token)


class Contract(TypedDict, total=False):
    """The keyword arguments of `endpoint` other than `role`: a route's OpenAPI contract."""

    summary: str
    description: str
    body: type[BaseModel] | None
    body_examples: tuple[tuple[str, dict[str, Any]], ...]
    query: type[BaseModel] | None
    headers: tuple[HeaderParam, ...]
    response: type[BaseModel] | None
    status: int
    media_type: str
    other_media_types: tuple[str, ...]
    same_body_statuses: tuple[int, ...]
    other_responses: tuple[tuple[int, type[BaseModel]], ...]
    errors: tuple[int, ...]
    tags: tuple[str, ...]


class Routes:
    """The HTTP routes of one blueprint, each declared in one place: method, path, who may
    call it and its contract (see `endpoint`)::

        route = Routes(bp, tags=("journal",))

        @route("GET", "journal/trades/{tradeId}", role="viewer", summary="Read a trade",
               query=ExecutionsQuery, response=TradeDetail, errors=(404,))
        async def journal_trades_get(req, caller, query: ExecutionsQuery) -> func.HttpResponse:
            ...

    The function is registered under the handler's name unless `name` says otherwise."""

    def __init__(self, bp: func.Blueprint, *, tags: tuple[str, ...] = ()) -> None:
        self.bp = bp
        self.tags = tags

    def __call__(
        self,
        method: str,
        route: str,
        *,
        role: Role | None,
        name: str | None = None,
        auth_level: func.AuthLevel | None = None,
        durable_client: bool = False,
        **contract: Unpack[Contract],
    ) -> Callable[[Handler], Any]:
        declared: Contract = {"tags": self.tags, **contract}
        bindings = (DURABLE_CLIENT,) if durable_client else ()

        def register(handler: Handler) -> Any:
            wrapped: Any = endpoint(role=role, input_bindings=bindings, **declared)(handler)
            if durable_client:  # the handler gets `client`, a DurableOrchestrationClient
                wrapped = self.bp.durable_client_input(client_name=DURABLE_CLIENT)(wrapped)
            built = self.bp.route(route=route, methods=[method], auth_level=auth_level)(wrapped)
            return self.bp.function_name(name or handler.__name__)(built)

        return register

    def account_list(
        self,
        route: str,
        *,
        name: str,
        summary: str,
        item: type[BaseModel],
        lister: Callable[[], Callable[..., tuple[Sequence[Any], str | None]]],
    ) -> None:
        """`GET /api/{route}`: one page of the caller's items (`?account=` for admins), listed
        by `lister()(caller, account=, limit=, continuation=)`."""

        async def handler(
            req: func.HttpRequest, caller: Caller, query: AccountListQuery
        ) -> func.HttpResponse:
            return await account_page(query, caller, lister())

        handler.__name__ = handler.__qualname__ = name
        page: type[BaseModel] = Page[item]  # type: ignore[valid-type]
        self("GET", route, role="viewer", summary=summary, query=AccountListQuery, response=page)(
            handler
        )


async def reply(call: Callable[..., Any], *args: Any, etag: bool = False) -> func.HttpResponse:
    """200 with what `call(*args)` returns, run off the event loop (with its `ETag` when
    `etag`)."""
    found = await asyncio.to_thread(call, *args)
    return versioned(found) if etag else json_response(found)


def versioned(item: Any) -> func.HttpResponse:
    """200 with `item` and its `ETag` (send it back as `If-Match` to write that version)."""
    return json_response(item, headers={"ETag": item.etag})


def created(item: Any, location: str, *, etag: str | None = None) -> func.HttpResponse:
    """201 with `item`, its `Location` and, when given, its `ETag`."""
    headers = {"Location": location} if etag is None else {"Location": location, "ETag": etag}
    return json_response(item, status=201, headers=headers)


def audit_change(
    caller: Caller,
    action: str,
    *,
    account: str,
    target: str,
    detail: dict[str, Any],
    kind: AuditKind = "config",
    outcome: str = "ok",
) -> None:
    """Record a change `caller` made (a configuration change unless `kind` says otherwise);
    the record carries the request's ids. An audit failure is logged, not raised."""
    audit_log().try_append(
        kind,
        action,
        outcome=outcome,
        actor=caller.account_id,
        account=account,
        target=target,
        detail=detail,
    )


async def authenticate(req: func.HttpRequest, role: Role | None) -> Caller:
    """The caller of `req`, checked against `role` (None = public route).

    Raises `Unauthorized` (no or bad token) or `Forbidden` (role too low).
    """
    caller = await authenticate_header(req.headers.get("Authorization"), role)
    return caller or ANONYMOUS


def _denial_reason(error: DomainError) -> tuple[str, str]:
    if isinstance(error, InvalidToken):
        return error.reason, ""
    if isinstance(error, InsufficientRole):
        return "insufficient_role", error.caller.account_id
    return "missing_token", ""


_denials: DenialLimiter | None = None


def _report_suppressed(count: int) -> None:
    """The summary of denials the limiter did not write (run by its timer, no request)."""
    from shared.config import get_settings
    from shared.storage.factory import document_store

    with request_context(NO_REQUEST):
        AuditLog(document_store()).try_append(
            "auth",
            "auth.denied.suppressed",
            actor="",
            outcome="suppressed",
            reason="rate",
            detail={"count": count, "perMinute": get_settings().audit_denials_per_minute},
        )


def denial_limiter() -> DenialLimiter:
    """The process's cap on denial records (AUDIT_DENIALS_PER_MINUTE)."""
    global _denials
    if _denials is None:
        from shared.config import get_settings

        _denials = DenialLimiter(get_settings().audit_denials_per_minute, _report_suppressed)
    return _denials


def _audit_denial(error: DomainError) -> None:
    from shared.storage.factory import document_store

    if not denial_limiter().admit():
        return
    reason, actor = _denial_reason(error)
    AuditLog(document_store()).try_append(
        "auth",
        "auth.denied",
        actor=actor,
        outcome=str(error.status),
        reason=reason,
        detail={"detail": error.detail[:500]},
    )


def endpoint(
    *,
    role: Role | None,
    summary: str = "",
    description: str = "",
    body: type[BaseModel] | None = None,
    body_examples: tuple[tuple[str, dict[str, Any]], ...] = (),
    query: type[BaseModel] | None = None,
    headers: tuple[HeaderParam, ...] = (),
    response: type[BaseModel] | None = None,
    status: int = 200,
    media_type: str = "application/json",
    other_media_types: tuple[str, ...] = (),
    same_body_statuses: tuple[int, ...] = (),
    other_responses: tuple[tuple[int, type[BaseModel]], ...] = (),
    errors: tuple[int, ...] = (),
    tags: tuple[str, ...] = (),
    input_bindings: tuple[str, ...] = (),
) -> Callable[[Handler], Route]:
    """Wrap a route handler `(req, caller)`: authenticate and authorize for `role` (None =
    public), echo/assign the request id, map errors to problem+json, and never leak a
    traceback. A route that declares a `query` model has the query string parsed by it
    first (422 if it does not fit) and, if the handler has a `query` parameter, passed as
    `query=`; the values of `input_bindings` (e.g. a Durable client) are passed by name.

    The arguments are the route's whole OpenAPI contract: `body` (with named
    `body_examples` that succeed), `query`, request `headers`, the success `status` with its
    `response` model in `media_type` (a non-JSON body without a model is a string of that
    media type) and `other_media_types`, `same_body_statuses` answered with the success body
    (health's 503), `other_responses` with a body of their own (a run's 202), and the
    problem+json `errors` beyond those every route may answer."""
    spec = EndpointSpec(
        role=role,
        summary=summary,
        description=description,
        body=body,
        body_examples=body_examples,
        query=query,
        headers=headers,
        response=response,
        status=status,
        response_media_type=media_type,
        other_media_types=other_media_types,
        same_body_statuses=same_body_statuses,
        other_responses=other_responses,
        errors=errors,
        tags=tags,
    )

    def decorate(handler: Handler) -> Route:
        takes_query = "query" in inspect.signature(handler).parameters

        @functools.wraps(handler)
        async def wrapper(req: func.HttpRequest, **bindings: Any) -> func.HttpResponse:
            context = request_context_of(req)
            rid = context.request_id
            with request_context(context):
                try:
                    with telemetry.invocation(
                        handler.__name__, invocation_id=rid, carrier=req.headers
                    ):
                        caller = await authenticate(req, role)
                        arguments = dict(bindings)
                        if query is not None:
                            parsed = parse_query(req, query)
                            if takes_query:
                                arguments["query"] = parsed
                        response = await handler(req, caller, **arguments)
                except (Unauthorized, Forbidden) as error:
                    if isinstance(error, MissingToken | InvalidToken | InsufficientRole):
                        try:
                            # to_thread copies the context, so the record carries the ids.
                            await asyncio.to_thread(_audit_denial, error)
                        except Exception:
                            log.exception("could not audit a denial (request %s)", rid)
                    response = _error_response(error)
                except DomainError as error:
                    response = _error_response(error)
                except ValidationError as error:
                    response = validation_problem(error)
                except Exception:
                    log.exception("unhandled error in %s (request %s)", handler.__name__, rid)
                    response = problem(500, "Internal error", f"unexpected error; request id {rid}")
            response.headers[REQUEST_ID_HEADER] = rid
            if context.client_request_id:
                response.headers[CLIENT_REQUEST_ID_HEADER] = context.client_request_id
            return response

        setattr(wrapper, SPEC_ATTRIBUTE, spec)
        # The worker reads inspect.signature (which would follow __wrapped__ to the handler)
        # to match parameters to bindings: the request, then each input binding by name.
        wrapper.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [
                inspect.Parameter(
                    "req", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=func.HttpRequest
                ),
                *(
                    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=str)
                    for name in input_bindings
                ),
            ],
            return_annotation=func.HttpResponse,
        )
        return wrapper

    return decorate


def _error_response(error: DomainError) -> func.HttpResponse:
    response = problem(
        error.status, error.title, error.detail, type_=error.type, **error.extensions
    )
    challenge = getattr(error, "www_authenticate", None)
    if challenge:
        response.headers["WWW-Authenticate"] = challenge
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None and math.isfinite(retry_after):
        # delay-seconds (RFC 9110): a whole number, rounded up
        response.headers["Retry-After"] = str(max(0, math.ceil(retry_after)))
    return response


def endpoint_spec(route: Callable[..., Any]) -> EndpointSpec | None:
    """The contract `endpoint` attached to a route function (through any wrappers)."""
    current: Any = route
    for _ in range(10):
        found = getattr(current, SPEC_ATTRIBUTE, None)
        if isinstance(found, EndpointSpec):
            return found
        current = getattr(current, "__wrapped__", None)
        if current is None:
            return None
    return None
