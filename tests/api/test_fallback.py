"""Every /api path no route serves answers problem+json from the app itself (a catch-all
route, which Azure's host and the local one both rank below every literal route): 404, or
405 with Allow for a method the path's routes do not take. Not an operation in OpenAPI."""

from __future__ import annotations

import httpx
import pytest

from functions.openapi import FALLBACK, openapi_document
from shared.config import Settings
from testsupport.auth import auth_headers
from testsupport.host import in_process_host

SCHEDULES = {
    name.upper(): str(field.default)
    for name, field in Settings.model_fields.items()
    if name.startswith("schedule_")
}


def _problem(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    return str(body["detail"])


@pytest.mark.usefixtures("isolated_settings")
async def test_unknown_paths_and_methods_are_problems_from_the_app() -> None:
    async with (
        in_process_host("function_app:app", settings=SCHEDULES) as host,
        httpx.AsyncClient(base_url=host.base_url, headers=auth_headers("admin", "ada")) as client,
    ):
        assert _problem(await client.get("/api/nowhere/at/all"), 404) == (
            "no route serves /api/nowhere/at/all"
        )
        wrong = await client.delete("/api/health")
        assert _problem(wrong, 405) == "method DELETE not allowed on /api/health; use GET"
        assert wrong.headers["Allow"] == "GET"
        other = await client.post("/api/watchlists/wl-1")
        _problem(other, 405)
        assert other.headers["Allow"] == "DELETE, GET, PUT"
        assert (await client.get("/api/health")).status_code == 200
        unknown = await client.get("/api/watchlists/wl-unknown")
        assert _problem(unknown, 404) == "watchlist 'wl-unknown' not found", "the route's own 404"
        invoked = [f.name for f in host.functions.values() if f.name == FALLBACK]
        assert invoked == [FALLBACK]


def test_the_fallback_is_not_an_operation() -> None:
    document = openapi_document()
    assert all("{path}" not in path for path in document["paths"])
    assert all(
        op.get("operationId") != FALLBACK
        for item in document["paths"].values()
        for op in item.values()
    )
