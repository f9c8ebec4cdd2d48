"""Screenshots: a single-use, short-lived upload URL with type and size limits."""

from __future__ import annotations

import httpx

from shared.journal.service import journal_of
from testsupport.routes import assert_problem

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
SHOTS = "journal/trades/{tradeId}/screenshots"
UPLOAD = "journal/uploads/{owner}/{uploadId}"


async def a_trade(call) -> str:
    body = {
        "symbol": "AAPL",
        "side": "buy",
        "quantity": 1,
        "price": 10,
        "executedAt": "2024-03-04T09:30:00-05:00",
    }
    await call("POST", "journal/executions", body=body)
    return (await call("GET", "journal/trades", query={"status": "open"})).json["items"][0]["id"]


def slot_params(url: str) -> dict[str, str]:
    owner, upload = httpx.URL(url).path.split("/")[-2:]
    return {"owner": owner, "uploadId": upload}


async def open_slot(call, trade: str, size: int, content_type: str = "image/png", **kw):
    """POST a screenshot slot for `trade` (as alice, a trader, unless `kw` says otherwise)."""
    body = {"contentType": content_type, "size": size}
    return await call("POST", SHOTS, params={"tradeId": trade}, body=body, **kw)


async def upload(call, params: dict[str, str], body: bytes, content_type: str = "image/png"):
    """PUT bytes to an upload URL, unauthenticated as a browser would."""
    headers = {"Content-Type": content_type}
    return await call("PUT", UPLOAD, params=params, role=None, body=body, headers=headers)


async def test_upload_once_then_read_through_a_signed_url(call):
    trade = await a_trade(call)
    opened = await open_slot(call, trade, len(PNG))
    assert opened.status == 201
    slot = opened.json
    assert slot["method"] == "PUT"
    params = slot_params(slot["uploadUrl"])
    put = await upload(call, params, PNG)
    assert put.status == 201
    name = put.json["name"]
    assert name.startswith(f"journal/alice/screenshots/{trade}/")
    again = await upload(call, params, PNG)
    assert_problem(again, 404, "Not found", "upload URL unknown, used or expired")  # single use
    assert journal_of("alice").blobs.get(name) == PNG  # type: ignore[union-attr]
    detail = await call("GET", "journal/trades/{tradeId}", params={"tradeId": trade})
    assert detail.json["annotation"]["screenshots"] == [name]
    url = await call(
        "GET", SHOTS + "/{index}", params={"tradeId": trade, "index": "0"}, role="viewer"
    )
    assert url.status == 200
    assert "sig=" in url.json["url"]
    second = await call("GET", SHOTS + "/{index}", params={"tradeId": trade, "index": "1"})
    assert_problem(second, 404, "Not found", f"trade '{trade}' has no screenshot 1")
    bobs = await call(
        "GET", SHOTS + "/{index}", params={"tradeId": trade, "index": "0"}, account="bob"
    )
    assert_problem(bobs, 404, "Not found", f"trade '{trade}' has no screenshot 0")


async def test_type_size_and_content_are_checked(call):
    trade = await a_trade(call)
    too_big = await open_slot(call, trade, 6 * 1024 * 1024)
    assert_problem(too_big, 422, "Invalid input", "size: Input should be less than or equal to")
    gif = await open_slot(call, trade, 10, "image/gif")
    assert_problem(gif, 422, "Invalid input", "contentType: Input should be 'image/png'")
    unknown = await open_slot(call, "t-nope", 10)
    assert_problem(unknown, 404, "Not found", "trade 't-nope' not found")
    viewer = await open_slot(call, trade, 10, role="viewer")
    assert_problem(viewer, 403, "Forbidden", "needs the trader role")
    params = slot_params((await open_slot(call, trade, 50)).json["uploadUrl"])
    longer = await upload(call, params, PNG)
    assert_problem(longer, 413, "Payload too large", "108 bytes; the upload declared 50")
    wrong_type = await upload(call, params, PNG[:50], "image/jpeg")
    assert_problem(wrong_type, 415, "Unsupported media type", "is not the declared image/png")
    not_png = await upload(call, params, b"GIF89a" + b"\x00" * 40)
    assert_problem(not_png, 415, "Unsupported media type", "not a image/png")
    forged = await upload(call, {"owner": "alice", "uploadId": "u-guess"}, PNG)
    assert_problem(forged, 404, "Not found", "upload URL unknown, used or expired")
