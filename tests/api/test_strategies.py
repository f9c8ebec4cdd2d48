"""Strategies: versioned StrategySpec documents, scoping, validation."""

from __future__ import annotations

import json

import pytest

from shared.auth.caller import Caller
from shared.storage.factory import document_store
from shared.strategies_store import StrategyStore
from testsupport.routes import assert_problem

ONE = "strategies/{strategyId}"
SPEC = {"strategy": "sma_cross", "grid": {"fast": "5:15:5", "slow": [20, 40]}}


async def create(call, **body):
    return await call("POST", "strategies", body={"name": "cross", "spec": SPEC, **body})


async def test_updates_add_versions_and_old_versions_stay_readable(call):
    created = await create(call)
    assert created.status == 201
    first = created.json
    assert first["version"] == 1
    assert first["spec"]["grid"]["fast"] == [5, 10, 15]
    params = {"strategyId": first["id"]}
    new_spec = {**SPEC, "grid": {"fast": [3], "slow": [30]}}
    second = await call("PUT", ONE, params=params, body={"name": "cross v2", "spec": new_spec})
    assert second.status == 200
    assert second.json["version"] == 2
    versions = await call("GET", ONE + "/versions", params=params, role="viewer")
    assert [v["version"] for v in versions.json["items"]] == [1, 2]
    v1 = await call("GET", ONE + "/versions/{version}", params={**params, "version": "1"})
    assert v1.json["spec"]["grid"]["fast"] == [5, 10, 15]
    assert v1.json["name"] == "cross"
    missing = await call("GET", ONE + "/versions/{version}", params={**params, "version": "9"})
    assert_problem(missing, 404, "Not found", "has no version 9")
    not_a_number = await call(
        "GET", ONE + "/versions/{version}", params={**params, "version": "v1"}
    )
    assert_problem(not_a_number, 404, "Not found", "version 'v1' not found")


async def test_a_stale_if_match_cannot_create_a_second_version_2(call):
    first = (await create(call)).json
    params = {"strategyId": first["id"]}
    body = {"name": "a", "spec": SPEC}
    headers = {"If-Match": first["etag"]}
    assert (await call("PUT", ONE, params=params, body=body, headers=headers)).status == 200
    assert (await call("PUT", ONE, params=params, body=body, headers=headers)).status == 412
    current = await call("GET", ONE, params=params)
    assert current.json["version"] == 2


async def test_unknown_strategy_and_huge_grids_are_422(call):
    unknown = await create(call, spec={"strategy": "no_such_thing"})
    assert unknown.status == 422
    assert "no_such_thing" in unknown.json["detail"]
    huge = await create(call, spec={"strategy": "sma_cross", "grid": {"fast": "1:1e12:1"}})
    assert_problem(huge, 422, "Invalid input", "more than", type_="/problems/grid-too-large")


async def test_delete_hides_it_but_a_backtest_can_still_read_the_version_it_ran(call):
    first = (await create(call)).json
    params = {"strategyId": first["id"]}
    gone = f"strategy '{first['id']}' not found"
    assert_problem(await call("GET", ONE, params=params, account="bob"), 404, "Not found", gone)
    deleted = await call("DELETE", ONE, params=params, account="bob")
    assert_problem(deleted, 404, "Not found", gone)
    assert (await call("DELETE", ONE, params=params)).status == 204
    assert (await call("GET", ONE, params=params)).status == 404
    listed = await call("GET", "strategies")
    assert listed.json["items"] == []
    kept = StrategyStore(document_store()).get_version("alice", first["id"], 1)
    assert kept.spec.strategy == "sma_cross"


def test_store_scoping_for_admins(store):
    strategies = StrategyStore(store)
    from shared.backtest.spec import StrategySpec
    from shared.strategies_store import StrategyIn

    alice = Caller("alice", frozenset({"trader"}))
    admin = Caller("root", frozenset({"admin"}))
    made = strategies.create(alice, StrategyIn(name="a", spec=StrategySpec(strategy="sma_cross")))
    assert strategies.get(admin, made.id).account == "alice"
    items, _ = strategies.list_page(admin, account=None, limit=10, continuation=None)
    assert [s.id for s in items] == [made.id]


async def test_a_version_lost_between_head_and_copy_is_rewritten_from_the_head(call, monkeypatch):
    first = (await create(call)).json
    params = {"strategyId": first["id"]}
    real = StrategyStore._write_version

    def lost(self, head):
        if head["version"] == 2:
            raise RuntimeError("process died")
        return real(self, head)

    monkeypatch.setattr(StrategyStore, "_write_version", lost)
    new_spec = {**SPEC, "grid": {"fast": [3], "slow": [30]}}
    failed = await call("PUT", ONE, params=params, body={"name": "cross v2", "spec": new_spec})
    assert failed.status == 500
    monkeypatch.undo()
    v2 = await call("GET", ONE + "/versions/{version}", params={**params, "version": "2"})
    assert v2.status == 200, v2.body
    assert v2.json["spec"]["grid"]["fast"] == [3]
    versions = await call("GET", ONE + "/versions", params=params)
    assert [v["version"] for v in versions.json["items"]] == [1, 2]
    third = await call("GET", ONE + "/versions/{version}", params={**params, "version": "3"})
    assert_problem(third, 404, "Not found", "has no version 3")


async def test_hostile_specs_are_422_problems_naming_the_rule(call):
    cases = [
        ({"strategy": "bollinger_reversion", "params": {"k": "1e200000"}}, "invalid-number"),
        ({"strategy": "bollinger_reversion", "params": {"k": True}}, "invalid-number"),
        ({"strategy": "sma_cross", "grid": {"fast": "1:4000000"}}, "grid-too-large"),
        ({"strategy": "sma_cross", "grid": {"fast": [50], "slow": [20]}}, "no-valid-combination"),
        ({"strategy": "sma_cross", "params": {"fast": 50, "slow": 20}}, "invalid-parameter"),
        ({"strategy": "sma_cross", "grid": {"fast": [2.5]}}, "invalid-parameter"),
    ]
    for spec, kind in cases:
        created = await create(call, spec=spec)
        assert created.status == 422, (spec, created.body)
        assert created.mimetype == "application/problem+json"
        assert created.json["type"] == f"/problems/{kind}", created.json
    update = await call(
        "PUT",
        ONE,
        params={"strategyId": (await create(call)).json["id"]},
        body={"name": "x", "spec": {"strategy": "macd", "params": {"signal": 0}}},
    )
    assert update.status == 422
    assert update.json["detail"] == "macd: signal=0 must be >= 1 (integer, 1 <= signal <= 1000000)"


async def test_a_stored_spec_that_breaks_todays_rules_reads_but_does_not_run(call, store):
    """Specs saved before a rule existed stay readable; running one is refused by the rule."""
    import azure.functions as func

    from functions.backtests import _parse
    from shared.backtest.runs import validate_request
    from shared.errors import InvalidParameter
    from testsupport.bars import write_bars

    first = (await create(call)).json
    head = store.read("strategies", first["id"], "alice")
    head["spec"]["grid"]["fast"] = [0, 5]  # a window of 0, accepted before the declaration
    store.upsert("strategies", {k: v for k, v in head.items() if not k.startswith("_")})
    read = await call("GET", ONE, params={"strategyId": first["id"]})
    assert read.status == 200
    assert read.json["spec"]["grid"]["fast"] == [0, 5]
    write_bars()
    body = json.dumps({"symbols": ["GOOG"], "strategyId": first["id"]}).encode()
    request = func.HttpRequest("POST", "http://127.0.0.1/api/backtests", body=body, headers={})
    with pytest.raises(InvalidParameter, match="sma_cross: fast=0 must be >= 1"):
        validate_request(_parse(request, Caller("alice", frozenset({"trader"}))))
