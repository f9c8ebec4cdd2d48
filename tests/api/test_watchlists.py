"""Watchlists: CRUD, symbol normalization, account scoping, etags, paging, audit."""

from __future__ import annotations

from shared.config import get_settings
from shared.watchlists import select_watched
from testsupport.routes import assert_problem

ONE = "watchlists/{watchlistId}"


async def create(call, account: str = "alice", **body):
    body = {"name": "tech", "symbols": ["aapl", "brk.b", "spx", "btc/usd"], **body}
    return await call("POST", "watchlists", body=body, account=account)


async def test_create_normalizes_symbols_and_reads_back(call):
    created = await create(call)
    assert created.status == 201
    item = created.json
    assert item["symbols"] == ["AAPL", "BRK.B", "^GSPC", "BTC-USD"]
    assert created.headers["Location"] == f"/api/watchlists/{item['id']}"
    assert created.headers["ETag"] == item["etag"]
    assert item["createdAt"].endswith("Z")
    read = await call("GET", ONE, params={"watchlistId": item["id"]}, role="viewer")
    assert read.status == 200
    assert read.json == item


async def test_unknown_symbols_and_blank_names_are_422(call):
    bad = await create(call, symbols=["AAPL", "not a ticker"])
    assert bad.status == 422
    assert "not a ticker" in bad.json["detail"]
    blank = await create(call, name="   ")
    assert_problem(blank, 422, "Invalid input", "name: String should have at least 1")
    extra = await create(call, owner="mallory")
    assert_problem(extra, 422, "Invalid input", "owner: Extra inputs are not permitted")


async def test_another_account_gets_404_and_admin_sees_all(call):
    item = (await create(call)).json
    params = {"watchlistId": item["id"]}
    gone = f"watchlist '{item['id']}' not found"
    assert_problem(await call("GET", ONE, params=params, account="bob"), 404, "Not found", gone)
    put = await call("PUT", ONE, params=params, account="bob", body={"name": "x", "symbols": []})
    assert_problem(put, 404, "Not found", gone)
    deleted = await call("DELETE", ONE, params=params, account="bob")
    assert_problem(deleted, 404, "Not found", gone)
    assert (await call("GET", ONE, params=params, role="admin", account="root")).status == 200
    await create(call, account="bob")
    mine = await call("GET", "watchlists")
    assert [w["account"] for w in mine.json["items"]] == ["alice"]
    everyone = await call("GET", "watchlists", role="admin", account="root")
    assert sorted(w["account"] for w in everyone.json["items"]) == ["alice", "bob"]
    only_bob = await call(
        "GET", "watchlists", role="admin", account="root", query={"account": "bob"}
    )
    assert [w["account"] for w in only_bob.json["items"]] == ["bob"]
    ignored = await call("GET", "watchlists", query={"account": "bob"})
    assert [w["account"] for w in ignored.json["items"]] == ["alice"]


async def test_replace_honours_if_match_and_delete_removes(call):
    item = (await create(call)).json
    params = {"watchlistId": item["id"]}
    body = {"name": "energy", "symbols": ["XOM"]}
    updated = await call("PUT", ONE, params=params, body=body, headers={"If-Match": item["etag"]})
    assert updated.status == 200
    assert updated.json["symbols"] == ["XOM"]
    stale = await call("PUT", ONE, params=params, body=body, headers={"If-Match": item["etag"]})
    assert_problem(stale, 412, "Precondition failed", "was changed by someone else")
    weak = await call(
        "PUT", ONE, params=params, body=body, headers={"If-Match": "W/" + item["etag"]}
    )
    assert_problem(weak, 412, "Precondition failed", "was changed by someone else")
    star = {"If-Match": "*"}
    assert (await call("PUT", ONE, params=params, body=body, headers=star)).status == 200
    stale_delete = await call("DELETE", ONE, params=params, headers={"If-Match": item["etag"]})
    assert_problem(stale_delete, 412, "Precondition failed", "was changed by someone else")
    assert (await call("DELETE", ONE, params=params, headers=star)).status == 204
    gone = f"watchlist '{item['id']}' not found"
    again = await call("DELETE", ONE, params=params, headers=star)
    assert_problem(again, 404, "Not found", gone)
    assert_problem(await call("GET", ONE, params=params), 404, "Not found", gone)


async def test_lists_page_with_continuation_tokens(call):
    for index in range(5):
        await create(call, name=f"list {index}")
    first = await call("GET", "watchlists", query={"limit": "2"})
    assert len(first.json["items"]) == 2
    token = first.json["continuationToken"]
    names = [w["name"] for w in first.json["items"]]
    while token:
        page = await call("GET", "watchlists", query={"limit": "2", "continuationToken": token})
        names += [w["name"] for w in page.json["items"]]
        token = page.json["continuationToken"]
    assert names == [f"list {index}" for index in range(5)]
    too_big = await call("GET", "watchlists", query={"limit": "1000"})
    assert_problem(too_big, 422, "Invalid input", "limit: Input should be less than or equal to")


async def test_watched_symbols_is_the_union_with_defaults(call, store):
    await create(call, symbols=["NVDA", "AAPL"])
    await create(call, account="bob", symbols=["ETH-USD"])
    symbols = select_watched(store, get_settings().default_symbols, None).selected
    assert symbols[: len(get_settings().default_symbols)] == get_settings().default_symbols
    assert {"NVDA", "ETH-USD"} <= set(symbols)
    assert len(symbols) == len(set(symbols))


async def test_changes_are_audited(call):
    item = (await create(call)).json
    await call("PUT", ONE, params={"watchlistId": item["id"]}, body={"name": "n", "symbols": []})
    log = await call("GET", "audit", role="admin", account="root", query={"kind": "config"})
    actions = [r["action"] for r in log.json["items"]]
    assert actions[:2] == ["watchlist.updated", "watchlist.created"]
    assert log.json["items"][0]["detail"]["after"] == []
