"""Fair share of watchlists and of the shared symbol capacity: per-account limits (422
problem+json naming the limit), a selection that serves every account, and what is left
out visible in GET /api/health/providers and to the ingestion timers."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.config import get_settings
from shared.ingest.sync import Ingestor
from shared.watchlists import select_symbols, select_watched
from testsupport.routes import assert_problem
from testsupport.watchlists import flood, junk

ONE = "watchlists/{watchlistId}"


@pytest.fixture
def limits(monkeypatch):
    monkeypatch.setenv("WATCHLISTS_PER_ACCOUNT", "3")
    monkeypatch.setenv("WATCHLIST_SYMBOLS_PER_ACCOUNT", "5")
    get_settings.cache_clear()


async def create(call, symbols, account="alice", name="w"):
    return await call(
        "POST", "watchlists", body={"name": name, "symbols": symbols}, account=account
    )


# --- per-account limits ----------------------------------------------------------------------
async def test_the_watchlist_count_limit_is_a_422_naming_the_limit(call, limits):
    for n in range(3):
        assert (await create(call, [], name=f"w{n}")).status == 201
    refused = await create(call, [], name="w4")
    assert refused.status == 422
    assert refused.mimetype == "application/problem+json"
    body = refused.json
    assert (body["title"], body["limit"], body["setting"]) == (
        "Limit exceeded",
        3,
        "WATCHLISTS_PER_ACCOUNT",
    )
    assert "at most 3 watchlists" in body["detail"]
    assert (await create(call, [], account="bob")).status == 201, "limits are per account"
    listed = await call("GET", "watchlists")
    assert len(listed.json["items"]) == 3


async def test_the_symbol_limit_counts_distinct_symbols_across_lists(call, limits):
    first = await create(call, ["AAPL", "MSFT", "NVDA"])
    assert first.status == 201
    assert (await create(call, ["AAPL", "MSFT", "TSLA", "AMZN"])).status == 201, (
        "AAPL and MSFT are already watched: 5 distinct"
    )
    refused = await create(call, ["NFLX"])
    assert refused.status == 422
    assert (refused.json["limit"], refused.json["setting"]) == (
        5,
        "WATCHLIST_SYMBOLS_PER_ACCOUNT",
    )
    assert "makes 6" in refused.json["detail"]
    one = {"watchlistId": first.json["id"]}
    grow = await call("PUT", ONE, params=one, body={"name": "w", "symbols": ["AAPL", "NFLX"]})
    assert grow.status == 200, grow.body
    # AAPL, NFLX + MSFT, TSLA, AMZN = 5: allowed; one more is not
    grow = await call(
        "PUT", ONE, params=one, body={"name": "w", "symbols": ["AAPL", "NFLX", "META"]}
    )
    assert grow.status == 422
    assert grow.json["setting"] == "WATCHLIST_SYMBOLS_PER_ACCOUNT"
    stored = await call("GET", ONE, params=one)
    assert stored.json["symbols"] == ["AAPL", "NFLX"]


async def test_an_account_over_a_lowered_limit_may_still_shrink(call, monkeypatch):
    made = await create(call, junk("Q", 8))
    assert made.status == 201
    monkeypatch.setenv("WATCHLIST_SYMBOLS_PER_ACCOUNT", "5")
    get_settings.cache_clear()
    one = {"watchlistId": made.json["id"]}
    shrink = await call("PUT", ONE, params=one, body={"name": "w", "symbols": junk("Q", 7)})
    assert shrink.status == 200, shrink.body
    grow = await call("PUT", ONE, params=one, body={"name": "w", "symbols": junk("Q", 9)})
    assert_problem(grow, 422, "Limit exceeded", "at most 5 distinct symbols")


async def test_racing_creates_never_leave_an_account_over_its_limit(call, store, limits):
    replies = await asyncio.gather(*(create(call, [], name=f"r{n}") for n in range(12)))
    created = [r for r in replies if r.status == 201]
    refused = [r for r in replies if r.status != 201]
    assert all(r.status == 422 and r.json["setting"] == "WATCHLISTS_PER_ACCOUNT" for r in refused)
    stored = store.query_all("watchlists", "alice")
    assert len(stored) == len(created) <= 3


# --- the fair selection ----------------------------------------------------------------------
def test_one_account_with_a_thousand_symbols_cannot_crowd_out_another():
    """The issue's case: five watchlists of 200 junk symbols against NFLX and TSLA, on the
    relay's 50-symbol capacity."""
    demand = {"mallory": junk("J", 1000), "bob": ["NFLX", "TSLA"]}
    chosen = select_symbols(demand, ["AAPL", "MSFT"], 50)
    assert {"NFLX", "TSLA"} <= set(chosen.selected)
    assert chosen.selected[:2] == ["AAPL", "MSFT"]
    assert len(chosen.selected) == 50
    assert set(chosen.left_out) <= set(demand["mallory"])
    assert len(chosen.selected) + len(chosen.left_out) == 2 + 2 + len(demand["mallory"])


def test_symbols_watched_by_more_accounts_come_first():
    demand = {
        "a": ["X1", "SHARED", "X2"],
        "b": ["Y1", "SHARED"],
        "c": ["Z1", "SHARED", "BOTH"],
        "d": ["BOTH"],
    }
    chosen = select_symbols(demand, [], None)
    assert chosen.selected[:2] == ["SHARED", "BOTH"]
    assert chosen.selected[2:] == ["X1", "Y1", "Z1", "X2"]
    assert chosen.watchers["SHARED"] == 3


def test_defaults_come_first_even_past_the_capacity():
    chosen = select_symbols({"a": ["NFLX"]}, ["AAPL", "msft", "bad!"], 2)
    assert chosen.selected == ["AAPL", "MSFT"]
    assert chosen.left_out == ["NFLX"]


_accounts = st.dictionaries(
    st.sampled_from(["a", "b", "c", "d", "e"]),
    st.integers(min_value=0, max_value=30),
    max_size=5,
)


@settings(max_examples=150, deadline=None)
@given(counts=_accounts, capacity=st.integers(min_value=0, max_value=80))
def test_no_account_is_starved_and_nothing_is_lost(counts, capacity):
    """Disjoint lists: an account with something left out never has more than one symbol
    fewer served than any other account."""
    demand = {name: junk(name.upper(), n) for name, n in counts.items()}
    chosen = select_symbols(demand, ["AAPL"], capacity)
    everything = ["AAPL", *[s for symbols in demand.values() for s in symbols]]
    assert sorted(chosen.selected + chosen.left_out) == sorted(everything)
    assert len(chosen.selected) == min(capacity, len(everything))
    served = {name: len(set(symbols) & set(chosen.selected)) for name, symbols in demand.items()}
    for name, symbols in demand.items():
        if set(symbols) & set(chosen.left_out):
            assert all(other <= served[name] + 1 for other in served.values()), served


@settings(max_examples=100, deadline=None)
@given(
    demand=st.dictionaries(
        st.sampled_from(["a", "b", "c", "d"]),
        st.lists(st.sampled_from(["S1", "S2", "S3", "S4", "S5", "S6"]), unique=True),
    ),
    capacity=st.integers(min_value=0, max_value=8),
)
def test_a_more_watched_symbol_is_never_left_out_for_a_less_watched_one(demand, capacity):
    chosen = select_symbols(demand, [], capacity)
    if chosen.left_out and chosen.selected:
        least_served = min(chosen.watchers[s] for s in chosen.selected)
        assert all(chosen.watchers[s] <= least_served for s in chosen.left_out)


# --- the same selection drives the timers and shows in provider health -----------------------
def test_the_ingestion_timers_serve_every_account(store, monkeypatch):
    monkeypatch.setenv("INGEST_MAX_SYMBOLS", "10")
    monkeypatch.setenv("DEFAULT_SYMBOLS", "AAPL,MSFT")
    get_settings.cache_clear()
    flood(store, 200)
    tracked = [s.text for s in Ingestor.from_settings(get_settings()).tracked_symbols()]
    assert len(tracked) == 10
    assert tracked[:2] == ["AAPL", "MSFT"]
    assert {"NFLX", "TSLA"} <= set(tracked)


async def test_provider_health_shows_what_is_left_out(call, store, monkeypatch):
    monkeypatch.setenv("INGEST_MAX_SYMBOLS", "10")
    monkeypatch.setenv("DEFAULT_SYMBOLS", "AAPL,MSFT")
    get_settings.cache_clear()
    flood(store, 200)
    reply = await call("GET", "health/providers", role="viewer")
    assert reply.status == 200
    watched = reply.json["watched"]
    assert watched["capacity"] == 10
    assert watched["wanted"] == 2 + 1000 + 2
    assert watched["selected"] == 10
    assert watched["leftOutCount"] == 994
    assert len(watched["leftOut"]) == 50
    assert not {"NFLX", "TSLA", "AAPL", "MSFT"} & set(watched["leftOut"])
    assert watched["accountsWatching"] == 2
    same = select_watched(store, ["AAPL", "MSFT"], 10)
    assert watched["leftOut"] == same.left_out[:50]


# --- one owner of "the symbols an account watches" ----------------------------------------------
async def test_one_accounts_watched_symbols_are_its_share_of_the_demand(call, store):
    from shared.watchlists.selection import symbols_of, watch_demand, watched_by

    assert (await create(call, ["MSFT", "AAPL"], name="first")).status == 201
    assert (await create(call, ["aapl", "BTC-USD", "NVDA"], name="second")).status == 201
    assert (await create(call, ["TSLA"], account="bob")).status == 201
    demand, invalid = watch_demand(store)
    assert demand == {"alice": ["MSFT", "AAPL", "BTC-USD", "NVDA"], "bob": ["TSLA"]}
    assert invalid == 0
    assert watched_by(store, "alice") == demand["alice"]
    assert watched_by(store, "nobody") == []
    docs: list[dict[str, object]] = [
        {"symbols": ["AAPL", "not a symbol!", {"symbol": "msft"}]},
        {"symbols": "x"},
    ]
    assert symbols_of(docs) == (["AAPL", "MSFT"], 1)
