"""Strict JSON types, names without control characters, and the admin `?account=` filter on
every account-scoped list route."""

from __future__ import annotations

from typing import Any

import pytest

from shared.backtest import runs
from testsupport.routes import put_quote

STRATEGY = {"strategy": "sma_cross", "grid": {"fast": [5], "slow": [20]}}


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("paper/accounts", {"startingCash": True}, "startingCash"),
        ("paper/accounts", {"startingCash": False}, "startingCash"),
        ("paper/accounts", {"startingCash": "1000"}, "startingCash"),
        ("paper/accounts", {"name": 5}, "name"),
        ("watchlists", {"name": "w", "symbols": [True]}, "symbols.0"),
        ("watchlists", {"name": True}, "name"),
        ("strategies", {"name": "s", "spec": STRATEGY, "description": 1}, "description"),
    ],
)
async def test_a_json_value_of_the_wrong_type_is_refused_not_coerced(call, route, body, field):
    reply = await call("POST", route, body=body)
    assert reply.status == 422, reply.body
    assert reply.mimetype == "application/problem+json"
    assert [e["loc"] for e in reply.json["errors"]] == [field]


async def test_an_order_quantity_of_true_is_not_one_share(call, store):
    put_quote(store, "AAPL", 10.0)
    account = (await call("POST", "paper/accounts", body={"startingCash": 1000})).json["id"]
    body = {"symbol": "AAPL", "side": "buy", "qty": True}
    reply = await call(
        "POST", "paper/accounts/{accountId}/orders", params={"accountId": account}, body=body
    )
    assert reply.status == 422
    assert reply.json["errors"][0]["loc"] == "qty"
    integer = await call(
        "POST",
        "paper/accounts/{accountId}/orders",
        params={"accountId": account},
        body={"symbol": "AAPL", "side": "buy", "qty": 2},
    )
    assert integer.status == 201, "an integer is still a number"


@pytest.mark.parametrize(
    "bad", ["a\x00b", "tab\there", "new\nline", "del\x7f", "c1\x85x", "rtl\u202eevil", "ls\u2028x"]
)
@pytest.mark.parametrize(
    ("route", "extra"),
    [
        ("watchlists", {"symbols": ["AAPL"]}),
        ("paper/accounts", {}),
        ("strategies", {"spec": STRATEGY}),
    ],
)
async def test_names_refuse_control_characters(call, route, extra, bad):
    reply = await call("POST", route, body={"name": bad, **extra})
    assert reply.status == 422, reply.body
    assert reply.json["errors"][0]["loc"] == "name"
    assert "control characters" in reply.json["detail"]


async def test_names_keep_ordinary_unicode(call):
    for name in ("Café ☕ 日本", "👩‍💻 list", "  padded  "):
        reply = await call("POST", "watchlists", body={"name": name})
        assert reply.status == 201, reply.body
        assert reply.json["name"] == name.strip()


def _runs(account: str, n: int) -> None:
    from shared.storage.factory import document_store

    for i in range(n):
        document_store().create(
            runs.RUNS_CONTAINER,
            {
                "id": f"{account}-run-{i}",
                "pk": account,
                "accountId": account,
                "status": "Completed",
                "createdAt": f"2026-01-0{i + 1}T00:00:00+00:00",
            },
        )


async def _make(call, route: str, account: str) -> None:
    bodies: dict[str, Any] = {
        "watchlists": {"name": f"{account} list"},
        "paper/accounts": {"name": f"{account} paper"},
        "strategies": {"name": f"{account} strategy", "spec": STRATEGY},
    }
    reply = await call("POST", route, body=bodies[route], account=account)
    assert reply.status == 201, reply.body


def _owners(items: list[dict[str, Any]]) -> set[str | None]:
    return {item.get("account") or item.get("accountId") for item in items}


@pytest.mark.parametrize("route", ["watchlists", "paper/accounts", "strategies", "backtests"])
async def test_the_admin_account_filter_works_on_every_list(call, route):
    for account in ("alice", "bob"):
        if route == "backtests":
            _runs(account, 2)
        else:
            await _make(call, route, account)
    admin = {"role": "admin", "account": "root"}
    only_alice = await call("GET", route, query={"account": "alice"}, **admin)
    assert only_alice.status == 200, only_alice.body
    assert _owners(only_alice.json["items"]) == {"alice"}
    only_bob = await call("GET", route, query={"account": "bob"}, **admin)
    assert _owners(only_bob.json["items"]) == {"bob"}
    everyone = await call("GET", route, **admin)
    assert _owners(everyone.json["items"]) == {"alice", "bob"}
    nobody = await call("GET", route, query={"account": "root"}, **admin)
    assert nobody.json["items"] == []
    # a non-admin's filter never widens the scope: bob asking for alice sees his own
    bob = await call("GET", route, query={"account": "alice"}, role="viewer", account="bob")
    assert _owners(bob.json["items"]) == {"bob"}
