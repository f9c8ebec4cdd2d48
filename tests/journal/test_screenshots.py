"""Screenshots: a single-use, short-lived upload URL with type and size limits."""

from __future__ import annotations

import httpx

from shared.journal.service import journal_of

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
    assert again.status == 404  # single use
    assert journal_of("alice").blobs.get(name) == PNG  # type: ignore[union-attr]
    detail = await call("GET", "journal/trades/{tradeId}", params={"tradeId": trade})
    assert detail.json["annotation"]["screenshots"] == [name]
    url = await call(
        "GET", SHOTS + "/{index}", params={"tradeId": trade, "index": "0"}, role="viewer"
    )
    assert url.status == 200
    assert "sig=" in url.json["url"]
    assert (
        await call("GET", SHOTS + "/{index}", params={"tradeId": trade, "index": "1"})
    ).status == 404
    assert (
        await call(
            "GET", SHOTS + "/{index}", params={"tradeId": trade, "index": "0"}, account="bob"
        )
    ).status == 404


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
    assert gif.status == 422
    unknown = await call(
        "POST", SHOTS, params={"tradeId": "t-nope"}, body={"contentType": "image/png", "size": 10}
    )
    assert unknown.status == 404
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
    assert longer.status == 413
    wrong_type = await call(
        "PUT",
        UPLOAD,
        params=params,
        role=None,
        body=PNG[:50],
        headers={"Content-Type": "image/jpeg"},
    )
    assert wrong_type.status == 415
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
    assert forged.status == 404
