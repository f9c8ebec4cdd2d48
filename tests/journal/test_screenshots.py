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


async def test_upload_once_then_read_through_a_signed_url(call):
    trade = await a_trade(call)
    opened = await call(
        "POST",
        SHOTS,
        params={"tradeId": trade},
        body={"contentType": "image/png", "size": len(PNG)},
    )
    assert opened.status == 201
    slot = opened.json
    assert slot["method"] == "PUT"
    params = slot_params(slot["uploadUrl"])
    put = await call(
        "PUT", UPLOAD, params=params, role=None, body=PNG, headers={"Content-Type": "image/png"}
    )
    assert put.status == 201
    name = put.json["name"]
    assert name.startswith(f"journal/alice/screenshots/{trade}/")
    again = await call(
        "PUT", UPLOAD, params=params, role=None, body=PNG, headers={"Content-Type": "image/png"}
    )
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
    too_big = await call(
        "POST",
        SHOTS,
        params={"tradeId": trade},
        body={"contentType": "image/png", "size": 6 * 1024 * 1024},
    )
    assert too_big.status == 422
    assert "size" in too_big.json["detail"]
    gif = await call(
        "POST", SHOTS, params={"tradeId": trade}, body={"contentType": "image/gif", "size": 10}
    )
    assert_problem(gif, 422, "Invalid input", "contentType: Input should be 'image/png'")
    unknown = await call(
        "POST", SHOTS, params={"tradeId": "t-nope"}, body={"contentType": "image/png", "size": 10}
    )
    assert_problem(unknown, 404, "Not found", "trade 't-nope' not found")
    viewer = await call(
        "POST",
        SHOTS,
        params={"tradeId": trade},
        role="viewer",
        body={"contentType": "image/png", "size": 10},
    )
    assert viewer.status == 403
    slot = (
        await call(
            "POST", SHOTS, params={"tradeId": trade}, body={"contentType": "image/png", "size": 50}
        )
    ).json
    params = slot_params(slot["uploadUrl"])
    longer = await call(
        "PUT", UPLOAD, params=params, role=None, body=PNG, headers={"Content-Type": "image/png"}
    )
    assert_problem(longer, 413, "Payload too large", "108 bytes; the upload declared 50")
    wrong_type = await call(
        "PUT",
        UPLOAD,
        params=params,
        role=None,
        body=PNG[:50],
        headers={"Content-Type": "image/jpeg"},
    )
    assert_problem(wrong_type, 415, "Unsupported media type", "is not the declared image/png")
    not_png = await call(
        "PUT",
        UPLOAD,
        params=params,
        role=None,
        body=b"GIF89a" + b"\x00" * 40,
        headers={"Content-Type": "image/png"},
    )
    assert not_png.status == 415
    assert "not a image/png" in not_png.json["detail"]
    forged = await call(
        "PUT",
        UPLOAD,
        params={"owner": "alice", "uploadId": "u-guess"},
        role=None,
        body=PNG,
        headers={"Content-Type": "image/png"},
    )
    assert_problem(forged, 404, "Not found", "upload URL unknown, used or expired")
